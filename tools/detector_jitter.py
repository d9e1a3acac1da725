"""How much MediaPipe's 2D keypoints tremble on a real video: ``python tools/detector_jitter.py [VIDEO]``.

The calibration of ``models.evaluate --track --track-detector`` (``models.evaluate.track.DetectorNoise``):
the mean ‖Δ²‖ of the 12 COCO-17 limb keypoints (shoulders to ankles) between consecutive frames, as a
percentage of the person's 2D height (their vertical extent), with the live product's own detection
and prior stages (``LiveRecovery``: MediaPipe Pose tracking, 640 px wide). On a slow video (tai chi)
nearly all of it is the detector's noise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

DEFAULT_VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "taiji.mp4"


def keypoints_of(video: Path, width: int) -> np.ndarray:
    """COCO-17 keypoints (T, 17, 2) of every frame (NaN without a person)."""
    from realtime.live import LiveRecovery
    from realtime.options import LiveOptions
    from realtime.record import FrameRecord
    from realtime.sources import Frame

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SystemExit(f"error: cannot read {video}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    out = []
    with LiveRecovery(LiveOptions()) as live:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            image = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])))
            record = FrameRecord(Frame(len(out), 0.0, len(out) / fps, image, 1.0, 0.0))
            live.detect(record)
            live.prior(record)
            out.append(record.keypoints if record.keypoints is not None else np.full((17, 2), np.nan))
    return np.asarray(out, np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args(argv)
    from models.skeletons import COCO17_LIMBS

    limbs = keypoints_of(args.video, args.width)[:, COCO17_LIMBS]
    height = np.nanmax(limbs[..., 1], 1) - np.nanmin(limbs[..., 1], 1)
    second = np.linalg.norm(limbs[2:] - 2 * limbs[1:-1] + limbs[:-2], axis=-1) / height[1:-1, None]
    print(f"{args.video.name}: {len(limbs)} frames, person {np.nanmedian(height):.0f} px tall; limb keypoints' "
          f"mean |second difference| {100 * np.nanmean(second):.2f} % of the height (median {100 * np.nanmedian(second):.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
