"""Whether windows can be opened here: a light module, so that scripts can ask before the heavy imports."""
from __future__ import annotations

import os
import sys


def display_problem() -> str | None:
    """Why no window can be opened here (None if a display seems available).

    Checked up front because OpenCV's Qt backend aborts the process without a display.
    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display found (DISPLAY is not set): run with --no-display for a headless run"
    return None
