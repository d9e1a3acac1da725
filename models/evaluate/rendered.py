"""``--rendered DIR``: rendered frames with exact ground truth, run end to end through MediaPipe
(image -> landmarks -> prior -> mesh; ``python -m models.synth --render``)."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from models.evaluate.judge import Judge, Variant, prior_ablation, recover, summarise, table
from models.hmdiff import HMDiff
from models.landmarks import PoseDetector, prior_from_landmarks
from models.synth.dataset import load_dataset


def add_arguments(parser) -> None:
    parser.add_argument("--rendered", help="rendered test set (python -m models.synth --render)")


def run(args, model: HMDiff, judge: Judge, main_variant: Variant) -> dict | None:
    if not args.rendered:
        return None
    result = rendered_section(model, judge, args.rendered, prior_ablation(main_variant) if args.ablation
                              else [main_variant])
    print("## Rendered frames through MediaPipe\n" + table({n: {"all": r} for n, r in result.items()}))
    return result


def rendered_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant]) -> dict:
    """Rendered frames with exact ground truth, through MediaPipe; each variant on the same landmarks."""
    data = load_dataset(path)
    detector = PoseDetector(static_image_mode=True)
    scores: dict[str, list] = {v.name: [] for v in variants}
    missed = 0
    for i, image_path in enumerate(data["image_paths"]):
        image = cv2.imread(str(image_path))
        landmarks = detector(image) if image is not None else None
        if landmarks is None:
            missed += 1
            continue
        size = (image.shape[1], image.shape[0])
        prior = prior_from_landmarks(landmarks, data["focal"][i], data["principal"][i], size)
        g = lambda k: torch.as_tensor(np.asarray(data[k][i : i + 1], np.float32))  # noqa: E731
        with torch.no_grad():
            gt = judge.body(g("pose"), g("shape"), g("global_orient"), g("transl")).vertices
        for variant in variants:
            scores[variant.name].append(judge.scores(recover(model, prior, variant).vertices, gt))
    detector.close()
    counts = {"frames": len(data["image_paths"]), "no_person": missed}
    return {name: {**(summarise(s) if s else {}), **counts} for name, s in scores.items()}
