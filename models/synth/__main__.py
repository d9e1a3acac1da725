"""Dataset CLI: ``python -m models.synth --out DIR --num N --seed S [--kind static|sequence]
[--seq-len T] [--fps F] [--render] [--split train|test] [--mocap-fraction P] [--threads K]``."""
from __future__ import annotations

import argparse
import time

import torch

from models.synth.dataset import DatasetSpec, write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic anny dataset (see models/synth/dataset.py)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--num", type=int, required=True, help="number of samples (sequences with --kind sequence)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=["static", "sequence"], default="static")
    parser.add_argument("--seq-len", type=int, default=32, help="frames per sequence")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of sequences")
    parser.add_argument("--render", action="store_true", help="also render JPEG images with Open3D")
    parser.add_argument("--split", choices=["train", "test"], default="train",
                        help="test also stores one fixed detector-like corruption")
    parser.add_argument("--mocap-fraction", type=float, default=0.0,
                        help="share of poses / sequences from real motion capture (../shared/data/mocap)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: reproducible bytes; more threads can be faster on an "
                             "idle many-core machine but change float rounding, ~1e-5 m)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = DatasetSpec(num=args.num, seed=args.seed, kind=args.kind, split=args.split, seq_len=args.seq_len,
                       fps=args.fps, render=args.render, mocap_fraction=args.mocap_fraction)
    start = time.perf_counter()
    out = write_dataset(args.out, spec)
    seconds = time.perf_counter() - start
    frames = args.num * (args.seq_len if args.kind == "sequence" else 1)
    print(f"wrote {args.num} {'sequences' if args.kind == 'sequence' else 'samples'} to {out} in {seconds:.1f} s "
          f"({frames / seconds:.1f} frames/s)")


if __name__ == "__main__":
    main()
