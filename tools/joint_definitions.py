"""Human3.6M-17 joint definitions: segment-ratio table, calibration and the definition floor.

    python tools/joint_definitions.py [--fit] [--old-regressors FILE]

Prints, as fractions of the leg: each Human3.6M subject's median segment ratios (``h36m_lift``),
anny's with our regressor (200 sampled shapes, rest pose; 5th / 50th / 95th percentile) and
MediaPipe's world landmarks on the real video ``taiji.mp4`` (mapping of ``models.body.joints``);
then the definition floor of each (``models.body.segments.definition_floor``). ``--fit`` derives
the nine numbers of ``ANNY_H36M`` and ``MEDIAPIPE_H36M`` from the subjects' medians (aggregate
statistics only) and prints them. ``--old-regressors`` adds rows for an earlier regressor file.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import astuple, fields
from pathlib import Path

import numpy as np
import scipy.optimize
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.body import load_body_model  # noqa: E402
from models.body.joints import (ANNY_H36M, MEDIAPIPE_H36M, MEDIAPIPE_H36M_ANATOMICAL, H36MDefinition,  # noqa: E402
                                _stored_matrix, h36m_from_anchors, mediapipe_anchors, stored_anny_anchors, H36M17)
from models.body.segments import TABLE, definition_floor, segment_ratios, subject_medians  # noqa: E402
from models.synth.shapes import sample_shapes  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".cache" / "joint_definitions"
FIT_WEIGHTS = {"shoulder_width": 3, "pelvis_thorax": 3, "thorax_head": 3, "hip_width": 3, "thigh_shin": 2,
               "thorax_shoulder": 1, "thorax_neck_nose": 1, "neck_nose_head": 1, "upper_arm": 3, "forearm": 3}
OFFSET_KEYS = ("hip_width", "thigh_shin", "pelvis_thorax", "shoulder_width", "thorax_head", "upper_arm", "forearm")


def anny_anchor_points(num_shapes: int = 200) -> dict[str, torch.Tensor]:
    """anny's anchors (N, 3) on ``num_shapes`` sampled shapes in the rest pose."""
    body = load_body_model("anny")
    shapes = torch.as_tensor(sample_shapes(num_shapes, np.random.default_rng(0)))
    with torch.no_grad():
        vertices = body(shape=shapes).vertices.double()
    return {name: row.double() @ vertices for name, row in stored_anny_anchors(body).items()}


def taiji_world() -> np.ndarray:
    """MediaPipe's world landmarks (N, 33, 3) on every frame of taiji.mp4 where it finds the man (cached)."""
    cache = CACHE / "taiji_world.npy"
    if cache.is_file():
        return np.load(cache)
    import cv2

    from models.landmarks import PoseDetector

    detector, frames = PoseDetector(static_image_mode=False), []
    capture = cv2.VideoCapture(str(SHARED / "videos" / "taiji.mp4"))
    while True:
        ok, image = capture.read()
        if not ok:
            break
        found = detector(image)
        if found is not None:
            frames.append(found.world)
    detector.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.stack(frames))
    return np.stack(frames)


def mediapipe_anchor_points(world: np.ndarray) -> dict[str, torch.Tensor]:
    points = torch.as_tensor(world, dtype=torch.float64)
    return {name: torch.einsum("m,nmk->nk", row.double(), points) for name, row in mediapipe_anchors().items()}


def joints_of(anchors: dict[str, torch.Tensor], definition: H36MDefinition) -> np.ndarray:
    joints = h36m_from_anchors(anchors, definition)
    return torch.stack([joints[n] for n in H36M17], dim=1).numpy()


def fit(anchors: dict[str, torch.Tensor], targets: dict[str, float], start: H36MDefinition) -> H36MDefinition:
    """The definition whose median ratios best match ``targets`` (weighted relative least squares)."""
    def residuals(values: np.ndarray) -> list[float]:
        ratios = segment_ratios(joints_of(anchors, H36MDefinition(*values)))
        return [w * (np.median(ratios[k]) - targets[k]) / targets[k] for k, w in FIT_WEIGHTS.items()]

    result = scipy.optimize.least_squares(residuals, np.array(astuple(start), np.float64))
    return H36MDefinition(*np.round(result.x, 3).tolist())


def percentiles(ratios: dict[str, np.ndarray]) -> dict[str, str]:
    return {k: " / ".join(f"{np.percentile(v, q):.3f}" for q in (5, 50, 95)) for k, v in ratios.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="derive the definitions' numbers and print them")
    parser.add_argument("--old-regressors", help="an earlier models/assets/anny_regressors.npz to compare")
    args = parser.parse_args(argv)
    lift = SHARED / "real" / "h36m_lift" / "gt.npz"
    if not lift.is_file():
        print(f"error: {lift} is missing (the shared data)", file=sys.stderr)
        return 2
    data = np.load(lift)
    poses, subjects = data["S"], data["subject"]
    per_subject = subject_medians(poses, subjects)
    targets = {k: float(np.median(list(v.values()))) for k, v in per_subject.items()}
    anny, mediapipe = anny_anchor_points(), mediapipe_anchor_points(taiji_world())
    if args.fit:
        for name, anchors, start in (("ANNY_H36M", anny, ANNY_H36M), ("MEDIAPIPE_H36M", mediapipe, MEDIAPIPE_H36M)):
            found = fit(anchors, targets, start)
            print(f"{name} = H36MDefinition(" + ", ".join(f"{f.name}={getattr(found, f.name)}" for f in fields(found)) + ")")
    rows = {"anny, ours": segment_ratios(joints_of(anny, ANNY_H36M)),
            "MediaPipe on taiji.mp4, ours": segment_ratios(joints_of(mediapipe, MEDIAPIPE_H36M)),
            "MediaPipe on taiji.mp4, anatomical": segment_ratios(joints_of(mediapipe, MEDIAPIPE_H36M_ANATOMICAL))}
    if args.old_regressors:
        body = load_body_model("anny")
        with np.load(args.old_regressors) as old:
            matrix = _stored_matrix(old, "h36m17").double()
        shapes = torch.as_tensor(sample_shapes(200, np.random.default_rng(0)))
        with torch.no_grad():
            rows = {"anny, old regressor": segment_ratios((matrix @ body(shape=shapes).vertices.double()).numpy()), **rows}
    keys = list(per_subject)
    print("| segment / leg | " + " | ".join(rows) + " | Human3.6M " + " / ".join(per_subject[keys[0]]) + " |")
    print("|---" * (len(rows) + 2) + "|")
    for k in keys:
        print(f"| {k} | " + " | ".join(percentiles(r)[k] for r in rows.values()) + " | "
              + " / ".join(f"{v:.3f}" for v in per_subject[k].values()) + " |")
    print("\nDefinition floor: Human3.6M poses with (median ratio − the subjects' median) applied, PA-MPJPE mm")
    print("| definition | limb12 | h36m17 | offsets applied |\n|---|---|---|---|")
    for name, ratios in rows.items():
        delta = {k: float(np.median(ratios[k])) - targets[k] for k in OFFSET_KEYS}
        floor = definition_floor(poses, delta)
        print(f"| {name} | {floor['limb12']:.1f} | {floor['h36m17']:.1f} | "
              + ", ".join(f"{k} {v:+.3f}" for k, v in delta.items()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
