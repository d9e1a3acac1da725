"""Asset builders, checks and one-off evaluations, each a program (``python tools/NAME.py --help``)."""
