"""Per-frame recovery latency: ``python -m models.bench_recover [--threads 2] [--repeats 30]``.

Prints a table of median / p95 ms for batch 1 on the shipped weights: cold starts (5 and 10 DDIM
steps), warm starts (2 steps), with and without DAT, 1 and 16 hypotheses, and one denoiser call.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.hmdiff import load_hmdiff
from models.prior import build_prior


def example_prior():
    """A plausible standing person's COCO-17 keypoints in a 640×480 frame."""
    kp = torch.tensor([[320, 100], [328, 92], [312, 92], [338, 96], [302, 96], [350, 140], [290, 140],
                       [362, 190], [278, 190], [366, 236], [274, 236], [338, 240], [302, 240],
                       [340, 310], [300, 310], [342, 380], [298, 380]], dtype=torch.float32)[None]
    return build_prior(kp, torch.full((1, 17), 0.9), torch.tensor([[550.0, 550.0]]),
                       torch.tensor([[319.5, 239.5]]), torch.tensor([[640.0, 480.0]]))


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_hmdiff()
    prior = example_prior()
    warm = model.recover(prior, steps=5).h0
    cond = model.condition(prior)
    h = torch.randn(1, model.layout.num_points, 3)
    rows = [("one denoiser call", lambda: model.net(h, torch.tensor([500]), cond))]
    for hyp in (1, 16):
        for dat in (False, True):
            tag = f"{'DAT' if dat else 'no DAT'}, {hyp} hyp"
            rows += [(f"cold 5 steps, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=5, dat=d, hypotheses=m)),
                     (f"cold 10 steps, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=10, dat=d, hypotheses=m)),
                     (f"warm 2 steps, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=2, dat=d, hypotheses=m,
                                                                               warm_start=warm))]
    print(f"| recovery, batch 1, {args.threads} threads | median ms | p95 ms |\n|---|---|---|")
    with torch.no_grad():
        for name, fn in rows:
            med, p95 = timed(fn, args.repeats)
            print(f"| {name} | {med:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
