"""``--real DIR`` (repeatable): real frames in the generic format of ``models.evaluate.realsets``
(e.g. Human3.6M) through MediaPipe, beside MediaPipe's own 3D world landmarks on the 12 limb joints."""
from __future__ import annotations

import json

import cv2
import torch

from models.body.joints import MEDIAPIPE_H36M_ANATOMICAL, mediapipe_to_h36m17
from models.body.segments import LIMB12
from models.evaluate.judge import Judge, Variant, prior_ablation, recover
from models.evaluate.realsets import load_real_set
from models.hmdiff import HMDiff
from models.landmarks import PoseDetector, prior_from_landmarks
from models.metrics import pa_mpjpe


def add_arguments(parser) -> None:
    parser.add_argument("--real", action="append", default=[], help="real set folder with gt.npz (repeatable)")


def run(args, model: HMDiff, judge: Judge, main_variant: Variant) -> dict | None:
    if not args.real:
        return None
    variants = prior_ablation(main_variant) if args.ablation else [main_variant]
    results = {}
    for path in args.real:
        results[path] = real_section(model, judge, path, variants)
        print(f"## Real set {path}\n" + json.dumps(results[path], indent=1))
    return results


def real_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant]) -> dict:
    """Real frames (generic format): ours vs MediaPipe's world landmarks, PA-MPJPE on 12 limb joints."""
    real = load_real_set(path)
    detector = PoseDetector(static_image_mode=True)
    ours: dict[str, list] = {v.name: [] for v in variants}
    ours17: dict[str, list] = {v.name: [] for v in variants}
    baseline, baseline_old, missed = [], [], 0
    for i in range(len(real.imgname)):
        image = cv2.imread(str(real.image_path(i)))
        landmarks = detector(image) if image is not None else None
        if landmarks is None:
            missed += 1
            continue
        prior = prior_from_landmarks(landmarks, real.focal[i], real.principal[i], (image.shape[1], image.shape[0]))
        gt = torch.as_tensor(real.joints[i : i + 1])
        for variant in variants:
            pred = judge.h36m @ recover(model, prior, variant).vertices
            ours[variant.name].append(pa_mpjpe(pred[:, LIMB12], gt[:, LIMB12]))
            ours17[variant.name].append(pa_mpjpe(pred, gt))
        world = torch.as_tensor(landmarks.world)[None]
        mp, mp_old = mediapipe_to_h36m17(world), mediapipe_to_h36m17(world, MEDIAPIPE_H36M_ANATOMICAL)
        baseline.append(pa_mpjpe(mp[:, LIMB12], gt[:, LIMB12]))
        baseline_old.append(pa_mpjpe(mp_old[:, LIMB12], gt[:, LIMB12]))
    detector.close()
    mean = lambda xs: round(float(torch.cat(xs).mean()), 1) if xs else float("nan")  # noqa: E731
    common = {"mediapipe_world_pa_mpjpe_limb12": mean(baseline),
              "mediapipe_world_anatomical_mapping_pa_mpjpe_limb12": mean(baseline_old),
              "frames": len(real.imgname), "no_person": missed}
    return {name: {"pa_mpjpe_limb12": mean(ours[name]), "pa_mpjpe_h36m17": mean(ours17[name]), **common,
                   "per_frame_limb12": [round(float(x), 1) for x in ours[name]]} for name in ours}
