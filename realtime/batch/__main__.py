"""``python -m realtime.batch VIDEOS_DIR OUT_DIR``: see ``realtime.batch.cli`` (the workers' classes
are shipped by Ray by reference to ``realtime.batch``, never to ``__main__``)."""
from realtime.batch.cli import entry

entry()
