"""``--warmstart DIR``: warm start vs cold start on synthetic sequences.

DIR is a sequence test set (``python -m models.synth --kind sequence --split test``). Each frame's
prior comes from its stored corruption; the warm run starts every frame but the first from the
previous frame's h_0 (``--warm-steps``), the cold run starts every frame from noise (``--cold-steps``).
Prints PA-MPJPE (H36M-17, mm), the acceleration error (jitter, mm/frame²) and steps per frame of both.
"""
from __future__ import annotations

import numpy as np
import torch

from models.evaluate.judge import EVALUATION_SHAPE, Judge, Variant
from models.hmdiff import HMDiff
from models.metrics import accel_error
from models.prior import build_prior
from models.synth.dataset import load_dataset


def add_arguments(parser) -> None:
    parser.add_argument("--warmstart", metavar="DIR", help="warm vs cold start on a sequence test set "
                        "(python -m models.synth --kind sequence --split test)")
    parser.add_argument("--cold-steps", type=int, default=10, help="--warmstart: DDIM steps of a cold start (10)")
    parser.add_argument("--warm-steps", type=int, default=2, help="--warmstart: DDIM steps of a warm start (2)")
    parser.add_argument("--warm-step", type=int, help="--warmstart: diffusion step the previous h_0 is re-noised to "
                        "(default: the checkpoint's warm_step)")


def run(args, model: HMDiff, judge: Judge, main_variant: Variant) -> dict | None:
    if not args.warmstart:
        return None
    if args.warm_step is not None:
        model.config.warm_step = args.warm_step
    return warmstart_section(model, judge, args.warmstart, args.cold_steps, args.warm_steps)


def warmstart_section(model: HMDiff, judge: Judge, path: str, cold_steps: int = 10, warm_steps: int = 2) -> dict:
    """PA-MPJPE, acceleration error and DDIM steps per frame of the cold and the warm run (printed as a table)."""
    print(f"warm start from step {model.config.warm_step}, {warm_steps} steps; cold {cold_steps} steps")
    data = load_dataset(path)
    n, length = data["keypoints_corrupt"].shape[:2]
    f = lambda k, i: torch.as_tensor(np.asarray(data[k][i], np.float32))  # noqa: E731
    scores = {"cold": [], "warm": []}
    steps = {"cold": [], "warm": []}
    accel = {"cold": [], "warm": []}
    for i in range(n):
        focal, principal, size = (f(k, i)[None].expand(length, -1) for k in ("focal", "principal", "image_size"))
        prior = build_prior(f("keypoints_corrupt", i), f("confidence", i), focal, principal, size)
        with torch.no_grad():
            gt = judge.body(f("pose", i), f("shape", i)[None].expand(length, -1), f("global_orient", i), f("transl", i)).vertices
        gen = torch.Generator().manual_seed(i)
        cold = model.recover(prior, steps=cold_steps, generator=gen, shape=EVALUATION_SHAPE)
        scores["cold"].append(judge.scores(cold.vertices, gt)["pa_mpjpe_h36m"])
        truth = judge.h36m @ gt
        accel["cold"].append(accel_error(judge.h36m @ cold.vertices, truth))
        steps["cold"] += [cold.steps_used] * length
        h0, warm_vertices = None, []
        for t in range(length):
            out = model.recover(prior.index(t), steps=cold_steps if h0 is None else warm_steps,
                                warm_start=h0, generator=gen, shape=EVALUATION_SHAPE)
            h0 = out.h0
            warm_vertices.append(out.vertices)
            steps["warm"].append(out.steps_used)
        scores["warm"].append(judge.scores(torch.cat(warm_vertices), gt)["pa_mpjpe_h36m"])
        accel["warm"].append(accel_error(judge.h36m @ torch.cat(warm_vertices), truth))
    print("| start | PA-MPJPE H36M mm | acceleration error mm/frame² | DDIM steps per frame | frames |\n|---|---|---|---|---|")
    result = {}
    for key in ("cold", "warm"):
        values = torch.cat(scores[key])
        result[key] = {"pa_mpjpe_h36m": round(float(values.mean()), 1),
                       "accel_error_mm": round(float(torch.cat(accel[key]).mean()), 1),
                       "steps_per_frame": round(float(np.mean(steps[key])), 2), "frames": len(values)}
        print(f"| {key} | {float(values.mean()):.1f} | {float(torch.cat(accel[key]).mean()):.1f} | "
              f"{np.mean(steps[key]):.2f} | {len(values)} |")
    return result
