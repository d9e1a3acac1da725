"""The training loop of ``python -m models.train`` (arguments: ``models.train.cli``) and the
networks it starts from: a fresh one sized by a preset, or a checkpoint grown to a new depth."""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from models.hmdiff import CheckpointError, DATConfig, HMDiff, HMDiffConfig, load_hmdiff
from models.hmdiff.denoiser import DenoiserConfig
from models.hmdiff.state import StateLayout, spatial_token_order
from models.train.data import MixedBatches, SyntheticBatches
from models.train.ddp import Distributed, data_parallel, from_rank0, mean_over_ranks, replica_max_diff
from models.train.losses import lr_at, training_loss, validate
from models.train.presets import Preset


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

def _to_device(batch, device: torch.device):
    """A batch (``models.train.data.Batch``) with every tensor (and the prior) on ``device``."""
    if batch.coarse.device == device:
        return batch
    return dataclasses.replace(batch, **{f.name: None if (v := getattr(batch, f.name)) is None else v.to(device)
                                          for f in dataclasses.fields(batch)})


def train(args: argparse.Namespace, preset: Preset, info: Distributed) -> int:
    """Train as the parsed ``args`` of ``models.train.cli`` say; returns the exit code."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    val_data = None
    try:
        if args.stream:
            from models.synth.corruption import simulate_world
            from models.train.stream import TrainingStream

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
