"""How much the stream trembles on a real video, per stream setting, beside MediaPipe's own 3D:
``python -m bench.video_jitter [VIDEO] [--width 640]``.

Every frame goes through ``LiveRecovery.process`` (frame-exact: nothing dropped) with the shipped
settings and a few others; the jitter is the mean ‖Δ²‖ of the hip-centred COCO-17 limb joints
(mm/frame²) over frames whose neighbours have a mesh, for the mesh's joints and for MediaPipe's
world landmarks on the same frames. Prints a table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

DEFAULT_VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "taiji.mp4"
SETTINGS = {  # row name: LiveOptions changes
    "shipped": {},
    "no smoothing": {"smooth": False},
    "One Euro 4 Hz / 20": {"smooth_min_cutoff": 4.0, "smooth_beta": 20.0},
    "v20's stream": {"smooth": False, "warm_start": True, "fixed_noise": False, "hypotheses": 1},
}


def frames_of(video: Path, width: int) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SystemExit(f"error: cannot read {video}")
    fps, frames = capture.get(cv2.CAP_PROP_FPS) or 30.0, []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames, fps
        frames.append(cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1]))))


def jitter_row(frames: list[np.ndarray], fps: float, changes: dict) -> dict:
    """``realtime.benchmark.jitter_beside_mediapipe`` of one frame-exact pass with these changes."""
    from models.skeletons import MEDIAPIPE_TO_COCO17
    from realtime.benchmark import jitter_beside_mediapipe
    from realtime.live import LiveOptions, LiveRecovery

    motion = {}
    with LiveRecovery(LiveOptions(**changes)) as live:
        for i, image in enumerate(frames):
            result = live.process(image, timestamp=i / fps)
            if result.mesh and result.landmarks.world is not None:
                motion[i] = (result.joints, result.landmarks.world[MEDIAPIPE_TO_COCO17])
    return jitter_beside_mediapipe([motion])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args(argv)
    frames, fps = frames_of(args.video, args.width)
    print(f"{args.video.name}: {len(frames)} frames at {fps:.2f} fps, {args.width} px wide")
    print("| stream setting | frames judged | mesh jitter mm/frame² | MediaPipe world | ratio |\n|---|---|---|---|---|")
    for name, changes in SETTINGS.items():
        row = jitter_row(frames, fps, changes)
        print(f"| {name} | {row['frames']} | {row['stream_mm']} | {row['mediapipe_world_mm']} | {row['ratio']} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
