"""Benchmark of the training stream against the disk path, interleaved in one process:
``python -m bench.training_stream --data DIR [--batch 64] [--rounds 10] [--preset cpu]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from models.synth.dataset import SampleGenerator
from models.train.data import SyntheticBatches
from models.train.losses import training_loss
from models.train.presets import PRESETS
from models.train.stream import TrainingStream
from models.train.trainer import build_model


def benchmark(data_dir: str, batch: int = 64, rounds: int = 10, preset: str = "cpu", generator: bool = True) -> dict:
    """Median seconds per batch of: the stream, the disk path (``SyntheticBatches.train_batch``,
    arrays already in memory), anny's generator of fresh samples (``models.synth`` without
    writing), and of one training step (batch + loss + backward + AdamW) with each data path.
    Every round runs each measurement once, in turn, so load changes hit them alike."""
    disk = SyntheticBatches(data_dir, val_size=min(256, batch), seed=0)
    stream = TrainingStream(seed=0)
    model = build_model(stream, PRESETS[preset])
    stream.layout = disk.layout = model.layout
    opt = torch.optim.AdamW(model.net.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    anny = SampleGenerator() if generator else None
    rng = np.random.default_rng(0)

    def step(source) -> None:
        loss = training_loss(model, source.train_batch(batch), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    jobs = {"stream batch": lambda: stream.train_batch(batch), "disk batch": lambda: disk.train_batch(batch),
            "stream step": lambda: step(stream), "disk step": lambda: step(disk)}
    if anny is not None:
        jobs["anny generator batch"] = lambda: anny.static_chunk(batch, rng, rng, False)
    for job in jobs.values():  # warm-up
        job()
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark the training stream against the disk path")
    parser.add_argument("--bench", action="store_true", help="accepted for the old command line; always on")
    parser.add_argument("--data", required=True, help="a set written by python -m models.synth (the disk path)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = benchmark(args.data, args.batch, args.rounds, args.preset)
    print(f"| measurement (batch {args.batch}, preset {args.preset}, {torch.get_num_threads()} threads) "
          f"| median ms | samples/s |\n|---|---|---|")
    for name, sec in result.items():
        print(f"| {name} | {sec * 1000:.1f} | {args.batch / sec:.0f} |")
    print(f"stream / disk samples/s (batches): {result['disk batch'] / result['stream batch']:.2f}; "
          f"stream / disk training steps/s: {result['disk step'] / result['stream step']:.2f}"
          + (f"; stream / anny generator samples/s: {result['anny generator batch'] / result['stream batch']:.1f}"
             if "anny generator batch" in result else ""))


if __name__ == "__main__":
    main()
