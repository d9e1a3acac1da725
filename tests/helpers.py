"""Small helpers shared by several test modules (``from tests.helpers import …``)."""
from __future__ import annotations

from pathlib import Path

import cv2


def decoded_frames(path: Path | str) -> int:
    """Frames OpenCV actually decodes from a video (not the count its header claims)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (e.g. root ignores read-only modes)."""
    try:
        (folder / ".hmdiff-probe").touch()
        (folder / ".hmdiff-probe").unlink()
        return True
    except OSError:
        return False
