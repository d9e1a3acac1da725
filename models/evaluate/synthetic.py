"""``--test DIR``: a held-out synthetic test set with its stored detector-like corruption, split
easy / occluded (``python -m models.synth --split test``)."""
from __future__ import annotations

import numpy as np
import torch

from models.evaluate.judge import Judge, Variant, ablation_variants, recover, summarise, table
from models.hmdiff import HMDiff
from models.prior import build_prior
from models.synth.dataset import load_dataset


def add_arguments(parser) -> None:
    parser.add_argument("--test", help="synthetic test set (python -m models.synth --split test)")


def run(args, model: HMDiff, judge: Judge, main_variant: Variant) -> dict | None:
    if not args.test:
        return None
    variants = ablation_variants(main_variant) if args.ablation else [main_variant]
    result = synthetic_section(model, judge, args.test, variants)
    print("## Synthetic test set\n" + table(result))
    return result


def synthetic_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant], batch: int = 64) -> dict:
    """Stored corruption of a synthetic test set; easy and occluded halves."""
    data = load_dataset(path)
    n = len(data["transl"])
    arrays = {k: torch.as_tensor(np.asarray(data[k], np.float32)) for k in
              ("keypoints_corrupt", "keypoints_2d", "confidence", "focal", "principal", "image_size", "pose", "shape",
               "global_orient", "transl")}
    t = arrays.__getitem__
    occluded = torch.as_tensor(np.asarray(data["occluded"], bool))
    scores: dict[str, list] = {v.name: [] for v in variants}
    oracle = any(v.clean_keypoints for v in variants)
    for i in range(0, n, batch):  # ground truth once per batch, every variant on it
        sl = slice(i, min(n, i + batch))
        camera = (t("focal")[sl], t("principal")[sl], t("image_size")[sl])
        prior = build_prior(t("keypoints_corrupt")[sl], t("confidence")[sl], *camera)
        clean = build_prior(t("keypoints_2d")[sl], torch.ones_like(t("confidence")[sl]), *camera) if oracle else None
        with torch.no_grad():
            gt = judge.body(t("pose")[sl], t("shape")[sl], t("global_orient")[sl], t("transl")[sl]).vertices
        for variant in variants:
            used = clean if variant.clean_keypoints else prior
            scores[variant.name].append(judge.scores(recover(model, used, variant).vertices, gt))
    return {name: {"all": summarise(s), "easy": summarise(s, ~occluded), "occluded": summarise(s, occluded)}
            for name, s in scores.items()}
