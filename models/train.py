"""Train HMDiff on the synthetic world: ``python -m models.train (--data DIR | --stream) --out runs/NAME``.

Detector-like corruption and the heatmap prior are drawn on the fly for every batch, so each epoch
sees new noise, occlusions and swaps. Periodic validation (MPJPE of the recovered joints, 5 DDIM
steps, no DAT), checkpoints with their config, exponential moving average of the weights, resume
(``--resume``), seeded. Presets: ``--preset cpu`` (useful model in under an hour on 2 cores) and
``--preset gpu`` (a larger model and batch for a CUDA machine).

Data: ``--data DIR`` samples a set written by ``python -m models.synth``; ``--stream`` generates
every batch on the fly on the training device (``models.training_stream``: fresh poses, shapes,
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
"""
from __future__ import annotations

import argparse
import copy
import json
import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from models.hmdiff import CheckpointError, DATConfig, HMDiff, HMDiffConfig, load_hmdiff
from models.hmdiff.denoiser import DenoiserConfig
from models.hmdiff.state import StateLayout, spatial_token_order
from models.training_data import MixedBatches, SyntheticBatches


@dataclass
class Preset:
    dim: int
    depth: int
    heads: int
    group_size: int
    batch: int
    iterations: int
    lr: float


PRESETS = {
    "cpu": Preset(dim=128, depth=4, heads=4, group_size=4, batch=64, iterations=12000, lr=4e-4),
    "gpu": Preset(dim=256, depth=8, heads=8, group_size=2, batch=256, iterations=60000, lr=3e-4),
    "tiny": Preset(dim=32, depth=1, heads=2, group_size=8, batch=16, iterations=20, lr=1e-3),
}


def build_model(data: SyntheticBatches, preset: Preset) -> HMDiff:
    """A fresh model whose layout (token order, data scale) comes from the training data."""
    from models.body.coarse import load_coarse_mesh

    coarse = load_coarse_mesh("anny", data.num_coarse)
    rest = data.rest_coarse()
    layout = StateLayout(
        num_coarse=data.num_coarse, num_joints=data.num_joints, data_scale=data.data_scale(),
        order=spatial_token_order(rest, preset.group_size),
    )
    assert len(coarse.indices) == data.num_coarse
    denoiser = DenoiserConfig(
        num_points=layout.num_points, group_size=preset.group_size, num_cond_joints=data.num_joints,
        dim=preset.dim, depth=preset.depth, heads=preset.heads, world_condition=True,
    )
    return HMDiff(HMDiffConfig(denoiser=denoiser, layout=layout, dat=DATConfig()))


def _grown(model: HMDiff, is_new, **changes) -> HMDiff:
    """A network whose denoiser config differs from ``model``'s by ``changes``, with ``model``'s
    weights; every parameter it lacks must be one that ``is_new(name)`` expects."""
    config = dataclasses.replace(model.config, denoiser=dataclasses.replace(model.config.denoiser, **changes))
    grown = HMDiff(config)
    missing, unexpected = grown.net.load_state_dict(model.net.state_dict(), strict=False)
    assert not unexpected and all(is_new(name) for name in missing), (missing, unexpected)
    return grown.train()


def with_world_condition(model: HMDiff) -> HMDiff:
    """``model`` with the 3D-prior input added to its joint tokens (zero at first: same outputs)."""
    if model.config.denoiser.world_condition:
        return model
    return _grown(model, lambda name: name.startswith("world_in."), world_condition=True)


def with_depth(model: HMDiff, depth: int) -> HMDiff:
    """``model`` with ``depth`` denoiser blocks: the extra ones are appended before the output norm
    with their residual branches' last layers at zero, so the grown network starts with the same
    outputs and learns what the new blocks add."""
    current = model.config.denoiser.depth
    if depth < current:
        raise ValueError(f"cannot shrink the network from {current} to {depth} blocks")
    if depth == current:
        return model
    grown = _grown(model, lambda name: int(name.split(".")[1]) >= current, depth=depth)
    with torch.no_grad():
        for block in grown.net.blocks[current:]:
            for last in (block.self_attn.out, block.cross_attn.out, block.mlp[-1]):
                last.weight.zero_()
                last.bias.zero_()
    return grown


def lr_at(step: int, progress: float, base: float, warmup: int = 300) -> float:
    """Linear warm-up, then cosine decay over ``progress`` in [0, 1]."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def training_loss(model: HMDiff, batch, generator: torch.Generator, joint_weight: float = 2.0,
                  predict=None, min_step: int = 1) -> torch.Tensor:
    """x0-prediction loss at a diffusion step drawn uniformly from ``min_step``..K; joints weigh
    ``joint_weight``. A few-step sampler never calls the net below its last step (5 cold steps: 200;
    2 warm steps from 600: 300), so ``min_step`` spends the training there.

    ``predict(h_k, k, prior)``: the network call (default ``model.net`` on ``model.condition``;
    a ``DistributedDataParallel`` wrapper of it in multi-process runs). ``generator`` is a CPU one.
    """
    h0 = batch.h0
    k = torch.randint(min_step, model.schedule.num_steps + 1, (h0.shape[0],), generator=generator).to(h0.device)
    noise = torch.randn(h0.shape, generator=generator).to(h0.device)
    h_k = model.schedule.q_sample(h0, k, noise)
    if predict is None:
        pred = model.net(h_k, k, model.condition(batch.prior))
    else:
        pred = predict(h_k, k, batch.prior)
    err = (pred - h0).square().sum(-1)
    weights = torch.ones(h0.shape[1], device=h0.device)
    weights[-model.layout.num_joints :] = joint_weight
    return (err * weights).sum(1).mean() / weights.sum()


@torch.no_grad()
def validate(model: HMDiff, batches: list) -> dict:
    """MPJPE (mm, root-relative, COCO-17 joint tokens) of 5-step DDIM without DAT, and of regression."""
    model.eval()
    errs, reg_errs = [], []
    for batch in batches:
        out = model.sampler.sample(model.condition(batch.prior), batch.prior, steps=5)
        _, joints = model.layout.unpack(out.h0)
        _, gt = model.layout.unpack(batch.h0)
        errs.append((joints - gt).norm(dim=-1).mean(1))
        _, reg = model.layout.unpack(model.sampler.regress(model.condition(batch.prior)))
        reg_errs.append((reg - gt).norm(dim=-1).mean(1))
    model.train()
    return {"mpjpe_mm": float(torch.cat(errs).mean() * 1000), "regress_mpjpe_mm": float(torch.cat(reg_errs).mean() * 1000)}


# ---------------------------------------------------------------------------------------------
# Multi-process training (torchrun + DistributedDataParallel)


@dataclass
class Distributed:
    """This process's place in a torchrun job (a plain run: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Distributed:
    """Join the job torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``PORT``): NCCL with ``cuda:LOCAL_RANK`` for a CUDA ``device``, else gloo.
    Without torchrun (``WORLD_SIZE`` unset or 1): one process on ``device``, no process group."""
    dev = torch.device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed(device=dev)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(), device=dev)


class _Prediction(torch.nn.Module):
    """``net(h_k, k, condition(prior))`` as one module: what DDP wraps (the denoiser's parameters only)."""

    def __init__(self, model: HMDiff) -> None:
        super().__init__()
        self.net = model.net
        self.condition = model.condition  # a bound method: not a submodule, no extra state

    def forward(self, h_k: torch.Tensor, k: torch.Tensor, prior) -> torch.Tensor:
        return self.net(h_k, k, self.condition(prior))


def data_parallel(model: HMDiff, info: Distributed):
    """The ``predict`` for ``training_loss``: None in one process, else a DDP module that averages
    gradients over the ranks during backward (and broadcast rank 0's weights when built)."""
    if info.world_size == 1:
        return None
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(_Prediction(model), device_ids=ids)


def replica_max_diff(net: torch.nn.Module, info: Distributed) -> float:
    """Max |w - w_rank0| over all weights and ranks (collective: every rank calls it); 0 in one process."""
    if info.world_size == 1:
        return 0.0
    flat = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    ref = flat.clone()
    dist.broadcast(ref, 0)
    diff = (flat - ref).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)


def mean_over_ranks(value: torch.Tensor, info: Distributed) -> float:
    """The mean of a scalar over the ranks (collective)."""
    if info.world_size == 1:
        return float(value)
    value = value.detach().clone().reshape(1)
    dist.all_reduce(value)
    return float(value) / info.world_size


def from_rank0(value: float, info: Distributed) -> float:
    """Rank 0's value of a float, on every rank (collective), e.g. a wall-clock progress."""
    if info.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.broadcast(t, 0)
    return float(t)


def _to_device(batch, device: torch.device):
    """A batch (``models.training_data.Batch``) with every tensor (and the prior) on ``device``."""
    if batch.coarse.device == device:
        return batch
    return dataclasses.replace(batch, **{f.name: None if (v := getattr(batch, f.name)) is None else v.to(device)
                                          for f in dataclasses.fields(batch)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="dataset folder written by python -m models.synth (with --stream: "
                                       "validate on its held-out tail)")
    parser.add_argument("--stream", action="store_true", help="generate the training batches on the fly "
                                                              "(models.training_stream) instead of reading --data")
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
                                                 "(DIR/mediapipe.npz from scripts/build_mediapipe_cache.py)")
    parser.add_argument("--mediapipe-share", type=float, default=0.3, help="share of each batch from --mediapipe-data")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log)")
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
    args = parser.parse_args(argv)
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
        return _train(args, preset, info)
    finally:
        if info.world_size > 1:
            dist.destroy_process_group()


def _train(args: argparse.Namespace, preset: Preset, info: Distributed) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    val_data = None
    try:
        if args.stream:
            from models.synth.corruption import simulate_world
            from models.training_stream import TrainingStream

            data = TrainingStream(seed=args.seed, device=info.device, rank=info.rank, world_fn=simulate_world,
                                  mocap_fraction=args.mocap_fraction, val_size=args.val_size,
                                  workers=args.stream_workers, arm_swap=args.arm_swap, exact_2d=args.exact_2d)
            if args.data and info.main:
                val_data = SyntheticBatches(args.data, val_size=args.val_size, seed=args.seed)
        else:
            data = SyntheticBatches(args.data, val_size=args.val_size, seed=args.seed + info.rank)
        if args.mediapipe_data:  # a rendered set with MediaPipe's cached output: its real mistakes
            seen = SyntheticBatches(args.mediapipe_data, val_size=1, seed=args.seed + 1 + info.rank,
                                    mediapipe=str(Path(args.mediapipe_data) / "mediapipe.npz"))
            data = MixedBatches([data, seen], [1 - args.mediapipe_share, args.mediapipe_share])
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.init:
        try:
            model = load_hmdiff(args.init).train()
        except CheckpointError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if model.layout.num_coarse != data.num_coarse or model.layout.num_joints != data.num_joints:
            print(f"error: {args.init} does not fit the dataset's state size", file=sys.stderr)
            return 2
        try:
            model = with_depth(with_world_condition(model), args.depth or model.config.denoiser.depth)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        net = model.config.denoiser  # the network is the checkpoint's, whatever the preset says
        preset.dim, preset.depth, preset.heads, preset.group_size = net.dim, net.depth, net.heads, net.group_size
    else:
        model = build_model(data, preset)
    model = model.to(info.device)
    data.layout = model.layout
    predict = data_parallel(model, info)  # multi-process: broadcasts rank 0's initial weights
    ema = copy.deepcopy(model.net).eval()
    opt = torch.optim.AdamW(model.net.parameters(), lr=preset.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed + 7919 * info.rank)  # diffusion steps and noise, per rank
    start, history = 0, []
    if args.resume and (out / "last.pt").is_file():
        try:  # tensors and plain data only: a last.pt that names anything else is refused unrun
            state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - one line, never a traceback
            print(f"error: cannot resume from {out / 'last.pt'}: {type(err).__name__}: "
                  f"{' '.join(str(err).split())[:300]}", file=sys.stderr)
            return 2
        model.net.load_state_dict(state["net"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        if info.main:
            gen.set_state(state["generator"])
        else:  # only rank 0's generator is saved: the others restart theirs from (seed, rank, step)
            gen.manual_seed(args.seed + 7919 * info.rank + 104729 * state["step"])
        data.set_state(state["data"])
        start, history = state["step"], state["history"]
        if info.main:
            print(f"resumed from step {start}")

    val_batches = []
    if info.main:  # only rank 0 validates
        source = data if val_data is None else val_data
        source.layout = model.layout
        val_batches = [_to_device(b, info.device) for b in source.validation_batches(preset.batch)]
    t0 = time.time()
    bar = tqdm(range(start, preset.iterations), initial=start, total=preset.iterations, desc="train",
               disable=not info.main)
    step, loss_sum, loss_count = start, torch.zeros((), device=info.device), 0
    for step in bar:
        # The schedule ends at the last iteration or at --max-minutes, whichever comes first.
        progress = step / preset.iterations
        if args.max_minutes:
            progress = max(progress, (time.time() - t0) / (args.max_minutes * 60) + start / preset.iterations)
            progress = from_rank0(progress, info)  # every rank stops at the same step
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress, preset.lr)
        loss = training_loss(model, _to_device(data.train_batch(preset.batch), info.device), gen, predict=predict,
                             min_step=args.min_step)
        loss_sum, loss_count = loss_sum + loss.detach(), loss_count + 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), model.net.parameters()):
                pe.lerp_(p, 1 - decay)
        if info.main:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        last = step + 1 == preset.iterations or progress >= 1.0
        if (step + 1) % args.val_every == 0 or last:
            # Collectives first, on every rank; then rank 0 alone validates and writes.
            loss_avg = mean_over_ranks(loss_sum / max(loss_count, 1), info)
            replica_diff = replica_max_diff(model.net, info)
            loss_sum, loss_count = torch.zeros((), device=info.device), 0
            if not info.main:
                if last:
                    break
                continue
            live = {k: v.clone() for k, v in model.net.state_dict().items()}  # state_dict() aliases the weights
            model.net.load_state_dict(ema.state_dict())
            metrics = {"step": step + 1, "loss": loss.item(), "loss_avg": loss_avg, "minutes": (time.time() - t0) / 60,
                       **validate(model, val_batches)}
            if info.world_size > 1:
                metrics |= {"world_size": info.world_size, "replica_max_abs_diff": replica_diff}
            history.append(metrics)
            tqdm.write(json.dumps(metrics))
            source = {"stream": True, "mocap_fraction": args.mocap_fraction, "arm_swap": args.arm_swap,
                      "exact_2d": args.exact_2d, "val_data": args.data} if args.stream \
                else str(args.data)
            model.save(out / "model.pt", extra={"history": history, "preset": preset.__dict__, "data": source,
                                                  "init": args.init, "world_size": info.world_size})
            model.net.load_state_dict(live)
            torch.save({"net": live, "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                        "generator": gen.get_state(), "data": data.get_state(), "history": history}, out / "last.pt")
            (out / "history.json").write_text(json.dumps(history, indent=1))
        if last:
            break
    if info.main:
        print(f"done: {out / 'model.pt'} (EMA weights) after {step + 1} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
