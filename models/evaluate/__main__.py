"""``python -m models.evaluate ...``: see ``models.evaluate.cli``."""
import sys

from models.evaluate.cli import main

sys.exit(main())
