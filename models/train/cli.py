"""Train HMDiff on the synthetic world: ``python -m models.train (--data DIR | --stream) --out runs/NAME``.

Detector-like corruption and the heatmap prior are drawn on the fly for every batch, so each epoch
sees new noise, occlusions and swaps. Periodic validation (MPJPE of the recovered joints, 5 DDIM
steps, no DAT), checkpoints with their config, exponential moving average of the weights, resume
(``--resume``), seeded. Presets: ``--preset cpu`` (useful model in under an hour on 2 cores) and
``--preset gpu`` (a larger model and batch for a CUDA machine).

Data: ``--data DIR`` samples a set written by ``python -m models.synth``; ``--stream`` generates
every batch on the fly on the training device (``models.train.stream``: fresh poses, shapes,
cameras; no disk reads; ``--mocap-fraction`` of real mocap poses from ``models.synth.mocap``;
``--stream-workers K`` draws them in K CPU processes ahead of the step, e.g. on a GPU machine)
and validates on a fixed seeded stream set, or on DIR's held-out tail when ``--data DIR`` is
given too.

Multi-process (DistributedDataParallel), one command from one process to many GPUs or nodes::

    torchrun --nproc_per_node N -m models.train --stream --out runs/NAME [--device cuda] ...
    torchrun --nnodes M --node_rank R --master_addr HOST --master_port 29500 --nproc_per_node N \
        -m models.train --stream --out runs/NAME --device cuda ...

gloo on CPU, NCCL on CUDA (process i of a node on ``cuda:LOCAL_RANK``), chosen from ``--device``.
``--batch`` is per process (the optimiser sees N x batch samples a step; the learning rate is
not rescaled); each rank trains on its own stream shard (``--stream``: keys ``(seed, rank,
step)``; ``--data``: index draws seeded ``seed + rank``); only rank 0 validates, logs and writes
checkpoints, and each validation records ``replica_max_abs_diff`` (max |w_rank - w_0| over all
weights, 0 when the replicas agree). Plain ``python -m models.train`` is one process, unchanged.

``--recipe FILE [--dry-run]`` runs a recipe's steps instead (``models.train.recipe``): the data builds
and stages of a set of weights, e.g. ``recipes/hmdiff_anny.toml`` for the shipped ones.
"""
from __future__ import annotations

import argparse
import copy
import sys

import torch
import torch.distributed as dist

from models.train.ddp import init_distributed
from models.train.presets import PRESETS
from models.train.trainer import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset folder written by python -m models.synth (with --stream: "
                                       "validate on its held-out tail)")
    parser.add_argument("--stream", action="store_true", help="generate the training batches on the fly "
                                                              "(models.train.stream) instead of reading --data")
    parser.add_argument("--mocap-fraction", type=float, default=0.0,
                        help="--stream: share of real mocap poses (needs models.synth.mocap.sample_mocap_poses)")
    parser.add_argument("--arm-swap", type=float, default=0.0,
                        help="--stream: share of the mocap poses given the arms of another frame (training batches)")
    parser.add_argument("--exact-2d", type=float, default=0.0,
                        help="--stream: share of the training samples given their exact 2D keypoints (no detector "
                             "noise, outliers or swaps), as a precise 2D source gives them")
    parser.add_argument("--stream-workers", type=int, default=0,
                        help="--stream: CPU worker processes (per rank) that draw poses, shapes, bodies and cameras "
                             "ahead of the training step (0: in the training process); same batches")
    parser.add_argument("--mediapipe-data", help="also train on this rendered set through MediaPipe's cached output "
                                                 "(DIR/mediapipe.npz from tools/build_mediapipe_cache.py)")
    parser.add_argument("--mediapipe-share", type=float, default=0.3, help="share of each batch from --mediapipe-data")
    parser.add_argument("--out", help="run folder (checkpoints, log); required unless --recipe")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--iterations", type=int, help="override the preset's iterations")
    parser.add_argument("--batch", type=int, help="override the preset's batch size")
    parser.add_argument("--lr", type=float, help="override the preset's peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--val-size", type=int, default=256)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--init", help="fine-tune: start from this checkpoint's weights and layout "
                                       "(e.g. models/weights/hmdiff_anny.pt) with a fresh optimiser and schedule")
    parser.add_argument("--depth", type=int,
                        help="denoiser blocks: overrides the preset's; with --init, grows the checkpoint's "
                             "network to this many (the new blocks start as identity)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--min-step", type=int, default=1,
                        help="train on diffusion steps min-step..K only (the sampler's steps; default all)")
    parser.add_argument("--max-minutes", type=float, default=0, help="stop (and checkpoint) after this long")
    parser.add_argument("--recipe", help="run a recipe's steps in order instead, resuming where it stopped "
                                         "(e.g. recipes/hmdiff_anny.toml; models/train/recipe.py)")
    parser.add_argument("--dry-run", action="store_true", help="--recipe: print the steps' commands, run nothing")
    args = parser.parse_args(argv)
    if args.recipe:
        from models.train.recipe import run_recipe

        try:
            return run_recipe(args.recipe, dry_run=args.dry_run)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if args.dry_run:
        parser.error("--dry-run needs --recipe")
    if not args.out:
        parser.error("the following arguments are required: --out")
    if not args.stream and not args.data:
        parser.error("one of --data DIR or --stream is required")
    if not 1 <= args.min_step <= 1000:
        parser.error(f"--min-step must be in 1..1000, got {args.min_step}")

    preset = copy.copy(PRESETS[args.preset])
    preset.iterations = args.iterations or preset.iterations
    preset.batch = args.batch or preset.batch
    preset.lr = args.lr or preset.lr
    preset.depth = args.depth or preset.depth
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    info = init_distributed(args.device)
    try:
        return train(args, preset, info)
    finally:
        if info.world_size > 1:
            dist.destroy_process_group()
