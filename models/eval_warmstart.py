"""Warm start vs cold start on synthetic sequences: ``python -m models.eval_warmstart --data DIR``.

DIR is a sequence test set (``python -m models.synth --kind sequence --split test``). Each frame's
prior comes from its stored corruption; the warm run starts every frame but the first from the
previous frame's h_0 (``--warm-steps``), the cold run starts every frame from noise (``--cold-steps``).
Prints PA-MPJPE (H36M-17, mm), the acceleration error (jitter, mm/frame²) and steps per frame of both.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from models.body import load_body_model
from models.evaluate import Judge
from models.metrics import accel_error
from models.hmdiff import load_hmdiff
from models.prior import build_prior
from models.synth.dataset import load_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights")
    parser.add_argument("--cold-steps", type=int, default=10)
    parser.add_argument("--warm-steps", type=int, default=2)
    parser.add_argument("--warm-step", type=int, help="diffusion step the previous h_0 is re-noised to "
                        "(default: the checkpoint's warm_step)")
    args = parser.parse_args(argv)
    model, judge = load_hmdiff(args.weights), Judge(load_body_model("anny"))
    if args.warm_step is not None:
        model.config.warm_step = args.warm_step
    print(f"warm start from step {model.config.warm_step}, {args.warm_steps} steps; cold {args.cold_steps} steps")
    data = load_dataset(args.data)
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
        cold = model.recover(prior, steps=args.cold_steps, generator=gen)
        scores["cold"].append(judge.scores(cold.vertices, gt)["pa_mpjpe_h36m"])
        truth = judge.h36m @ gt
        accel["cold"].append(accel_error(judge.h36m @ cold.vertices, truth))
        steps["cold"] += [cold.steps_used] * length
        h0, warm_vertices = None, []
        for t in range(length):
            out = model.recover(prior.index(t), steps=args.cold_steps if h0 is None else args.warm_steps,
                                warm_start=h0, generator=gen)
            h0 = out.h0
            warm_vertices.append(out.vertices)
            steps["warm"].append(out.steps_used)
        scores["warm"].append(judge.scores(torch.cat(warm_vertices), gt)["pa_mpjpe_h36m"])
        accel["warm"].append(accel_error(judge.h36m @ torch.cat(warm_vertices), truth))
    print("| start | PA-MPJPE H36M mm | acceleration error mm/frame² | DDIM steps per frame | frames |\n|---|---|---|---|---|")
    for key in ("cold", "warm"):
        values = torch.cat(scores[key])
        print(f"| {key} | {float(values.mean()):.1f} | {float(torch.cat(accel[key]).mean()):.1f} | "
              f"{np.mean(steps[key]):.2f} | {len(values)} |")


if __name__ == "__main__":
    main()
