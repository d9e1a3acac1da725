"""Per-frame recovery latency per backend: ``python -m bench.recover [--backends …]``.

Prints a table of median / p95 ms for batch 1 on the shipped weights, one column per denoiser
backend (``models/hmdiff/backends.py``) on ``--device``: one denoiser call, cold starts (5 DDIM
steps), warm starts (1 step, the live default, and 2), with and without DAT, 1 and 16
hypotheses. The first column, ``reference``, is the plain torch path: the eager network and DAT's
gradient by autograd (``DATConfig(closed_form=False)``); every other column uses the closed-form
gradient. Speed-ups and the largest vertex difference are against the reference.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from models.hmdiff import load_hmdiff
from models.hmdiff.backends import AUTO_ORDER, BACKENDS
from models.prior import build_prior


def example_prior():
    """A plausible standing person's COCO-17 keypoints in a 640×480 frame."""
    kp = torch.tensor([[320, 100], [328, 92], [312, 92], [338, 96], [302, 96], [350, 140], [290, 140],
                       [362, 190], [278, 190], [366, 236], [274, 236], [338, 240], [302, 240],
                       [340, 310], [300, 310], [342, 380], [298, 380]], dtype=torch.float32)[None]
    return build_prior(kp, torch.full((1, 17), 0.9), torch.tensor([[550.0, 550.0]]),
                       torch.tensor([[319.5, 239.5]]), torch.tensor([[640.0, 480.0]]))


def interleaved(calls: list, repeats: int, sync=lambda: None) -> list[tuple[float, float]]:
    """Median and p95 ms of each call, timed in turn (round robin) so that drifts of a shared
    machine's speed hit every call alike; one warm-up call each first (``sync`` waits for a GPU)."""
    times: list[list[float]] = [[] for _ in calls]
    for repeat in range(repeats + 1):
        for fn, samples in zip(calls, times):
            t = time.perf_counter()
            fn()
            sync()
            if repeat:
                samples.append((time.perf_counter() - t) * 1000)
    return [(float(np.median(s)), float(np.percentile(s, 95))) for s in times]


def cases(model, prior) -> list[tuple[str, object]]:
    """(name, call) of every measured recovery, the single denoiser call first."""
    warm = model.recover(prior, steps=5).h0
    cond = model.condition(prior.to(warm.device))
    h = torch.randn(1, model.layout.num_points, 3, device=warm.device)
    k = torch.tensor([500], device=warm.device)
    rows = [("one denoiser call", lambda: model.sampler.infer(h, k, cond))]
    for hyp in (1, 16):
        for dat in (False, True):
            tag = f"{'DAT' if dat else 'no DAT'}, {hyp} hyp"
            rows += [(f"cold 5 steps, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=5, dat=d, hypotheses=m)),
                     (f"warm 1 step, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=1, dat=d, hypotheses=m,
                                                                              warm_start=warm)),
                     (f"warm 2 steps, {tag}", lambda d=dat, m=hyp: model.recover(prior, steps=2, dat=d, hypotheses=m,
                                                                               warm_start=warm))]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS[1:], default=None,
                        help="backends to compare (default: eager and every one available on the device)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = ["reference", *(args.backends or ["eager", *AUTO_ORDER["cuda" if device.type == "cuda" else "cpu"][:-1]])]
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    prior = example_prior()
    models = {}
    for name in dict.fromkeys(names):
        model = load_hmdiff(device=device)
        if name == "reference":
            model.use_backend("eager")
            model.config.dat = replace(model.config.dat, closed_form=False)
            models[name] = model
        elif model.use_backend(name) == name:
            models[name] = model
        else:
            print(f"({name} is unavailable on {device}: skipped)")
    with torch.no_grad():
        per_backend = {name: cases(model, prior) for name, model in models.items()}
        rows = [row for row, _ in next(iter(per_backend.values()))]
        measured = [interleaved([per_backend[name][i][1] for name in models], args.repeats, sync)
                    for i in range(len(rows))]
    columns = {name: [m[j] for m in measured] for j, name in enumerate(models)}
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"| recovery, batch 1, {label}, median / p95 ms | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for i, row in enumerate(rows):
        cells = [f"{times[i][0]:.2f} / {times[i][1]:.2f}" for times in columns.values()]
        print(f"| {row} | " + " | ".join(cells) + " |")
    warm_dat, cold_dat = rows.index("warm 2 steps, DAT, 1 hyp"), rows.index("cold 5 steps, DAT, 1 hyp")
    with torch.no_grad():
        warm = models["reference"].recover(prior, steps=5).h0
        same = lambda m: m.recover(prior, steps=2, warm_start=warm, generator=torch.Generator(device).manual_seed(0))  # noqa: E731
        expected = same(models["reference"]).vertices
        for name in list(columns)[1:]:
            ratio = np.median([e[0] / b[0] for e, b in zip(columns["reference"], columns[name])])
            gap_mm = (same(models[name]).vertices - expected).abs().max().item() * 1000
            speedup = lambda i: columns["reference"][i][0] / columns[name][i][0]  # noqa: E731
            print(f"{name}: speed-up over the reference, median over rows {ratio:.2f}x; warm 2 steps + DAT "
                  f"{speedup(warm_dat):.2f}x (vertices within {gap_mm:.3f} mm), cold 5 steps + DAT {speedup(cold_dat):.2f}x")


if __name__ == "__main__":
    main()
