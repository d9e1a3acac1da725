"""``python -m models.train ...``: see ``models.train.cli``."""
import sys

from models.train.cli import main

sys.exit(main())
