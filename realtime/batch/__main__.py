"""``python -m realtime.batch VIDEOS_DIR OUT_DIR``: see ``realtime.batch.cli`` (the workers' classes
are shipped by Ray by reference to ``realtime.batch``, never to ``__main__``)."""
import sys

from realtime.batch.cli import main

sys.exit(main())
