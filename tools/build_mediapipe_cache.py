"""Run MediaPipe on a rendered synthetic set and cache what it saw, for training on its real mistakes.

    python tools/build_mediapipe_cache.py RENDERED_DIR [--out RENDERED_DIR/mediapipe.npz]

For each rendered frame (``python -m models.synth --render``): MediaPipe Pose (static image mode)
landmarks mapped to COCO-17 (2D pixels and visibility) and its world landmarks (hip-centred
metres) of the same joints, or ``found = False``. ``models.train.data.SyntheticBatches`` with
``mediapipe=FILE`` builds those samples' priors from them instead of simulated corruption.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.skeletons import MEDIAPIPE_TO_COCO17  # noqa: E402
from models.landmarks import PoseDetector  # noqa: E402
from models.synth.dataset import load_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", help="a dataset folder written with --render")
    parser.add_argument("--out", help="cache file (default: RENDERED/mediapipe.npz)")
    args = parser.parse_args(argv)
    try:
        paths = load_dataset(args.rendered, keys=["image_paths"])["image_paths"]
    except (FileNotFoundError, KeyError) as err:
        print(f"error: {args.rendered} is not a rendered dataset ({err})", file=sys.stderr)
        return 2
    n = len(paths)
    keypoints, visibility = np.zeros((n, 17, 2), np.float32), np.zeros((n, 17), np.float32)
    world, found = np.zeros((n, 17, 3), np.float32), np.zeros(n, bool)
    detector, start = PoseDetector(static_image_mode=True), time.perf_counter()
    for i, path in enumerate(paths):
        image = cv2.imread(str(path))
        landmarks = detector(image) if image is not None else None
        if landmarks is not None:
            found[i] = True
            keypoints[i] = landmarks.image_xy[MEDIAPIPE_TO_COCO17]
            visibility[i] = landmarks.visibility[MEDIAPIPE_TO_COCO17]
            world[i] = landmarks.world[MEDIAPIPE_TO_COCO17]
    detector.close()
    out = Path(args.out or Path(args.rendered) / "mediapipe.npz")
    np.savez(out, keypoints=keypoints, visibility=visibility, world=world, found=found)
    print(f"wrote {out}: a person in {int(found.sum())} of {n} frames ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
