"""Small helpers shared by several test modules (``from tests.helpers import …``)."""
from __future__ import annotations

import signal
import subprocess
import time
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


def signal_after(command: list[str], cwd: Path, name: str, delay: float) -> tuple[subprocess.Popen, str, str]:
    """Start ``command`` as under a terminal (SIGINT not ignored), send it signal ``name`` after
    ``delay`` seconds (it must still run then) and collect its output: (process, stdout, stderr)."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(delay)
        assert process.poll() is None, process.communicate()
        process.send_signal(getattr(signal, name))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    return process, stdout, stderr
