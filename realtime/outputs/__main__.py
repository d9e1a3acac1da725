"""``python -m realtime.outputs X.parts ...``: see ``realtime.outputs.cli``."""
import sys

from realtime.outputs.cli import main

sys.exit(main())
