"""Train HMDiff on the synthetic world: ``python -m models.train --data DIR --out runs/NAME``.

Detector-like corruption and the heatmap prior are drawn on the fly for every batch, so each epoch
sees new noise, occlusions and swaps. Periodic validation (MPJPE of the recovered joints, 5 DDIM
steps, no DAT), checkpoints with their config, exponential moving average of the weights, resume
(``--resume``), seeded. Presets: ``--preset cpu`` (useful model in under an hour on 2 cores) and
``--preset gpu`` (a larger model and batch for a CUDA machine).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from models.hmdiff import CheckpointError, DATConfig, HMDiff, HMDiffConfig, load_hmdiff
from models.hmdiff.denoiser import DenoiserConfig
from models.hmdiff.state import StateLayout, spatial_token_order
from models.training_data import SyntheticBatches


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
        dim=preset.dim, depth=preset.depth, heads=preset.heads,
    )
    return HMDiff(HMDiffConfig(denoiser=denoiser, layout=layout, dat=DATConfig()))


def lr_at(step: int, progress: float, base: float, warmup: int = 300) -> float:
    """Linear warm-up, then cosine decay over ``progress`` in [0, 1]."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def training_loss(model: HMDiff, batch, generator: torch.Generator, joint_weight: float = 2.0) -> torch.Tensor:
    """x0-prediction loss at a uniformly drawn diffusion step; joints weigh ``joint_weight``."""
    h0 = batch.h0
    k = torch.randint(1, model.schedule.num_steps + 1, (h0.shape[0],), generator=generator)
    noise = torch.randn(h0.shape, generator=generator)
    h_k = model.schedule.q_sample(h0, k, noise)
    pred = model.net(h_k, k, model.condition(batch.prior))
    err = (pred - h0).square().sum(-1)
    weights = torch.ones(h0.shape[1])
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder written by python -m models.synth")
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
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--max-minutes", type=float, default=0, help="stop (and checkpoint) after this long")
    args = parser.parse_args(argv)

    preset = copy.copy(PRESETS[args.preset])
    preset.iterations = args.iterations or preset.iterations
    preset.batch = args.batch or preset.batch
    preset.lr = args.lr or preset.lr
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = SyntheticBatches(args.data, val_size=args.val_size, seed=args.seed)
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
        net = model.config.denoiser  # the network is the checkpoint's, whatever the preset says
        preset.dim, preset.depth, preset.heads, preset.group_size = net.dim, net.depth, net.heads, net.group_size
    else:
        model = build_model(data, preset)
    model = model.to(args.device)
    data.layout = model.layout
    ema = copy.deepcopy(model.net).eval()
    opt = torch.optim.AdamW(model.net.parameters(), lr=preset.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
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
        gen.set_state(state["generator"])
        data.set_state(state["data"])
        start, history = state["step"], state["history"]
        print(f"resumed from step {start}")

    val_batches = data.validation_batches(preset.batch)
    t0 = time.time()
    bar = tqdm(range(start, preset.iterations), initial=start, total=preset.iterations, desc="train")
    step = start
    for step in bar:
        # The schedule ends at the last iteration or at --max-minutes, whichever comes first.
        progress = step / preset.iterations
        if args.max_minutes:
            progress = max(progress, (time.time() - t0) / (args.max_minutes * 60) + start / preset.iterations)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress, preset.lr)
        loss = training_loss(model, data.train_batch(preset.batch), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), model.net.parameters()):
                pe.lerp_(p, 1 - decay)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        last = step + 1 == preset.iterations or progress >= 1.0
        if (step + 1) % args.val_every == 0 or last:
            live = model.net.state_dict()
            model.net.load_state_dict(ema.state_dict())
            metrics = {"step": step + 1, "loss": loss.item(), "minutes": (time.time() - t0) / 60, **validate(model, val_batches)}
            history.append(metrics)
            tqdm.write(json.dumps(metrics))
            model.save(out / "model.pt", extra={"history": history, "preset": preset.__dict__, "data": str(args.data),
                                                  "init": args.init})
            model.net.load_state_dict(live)
            torch.save({"net": live, "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                        "generator": gen.get_state(), "data": data.get_state(), "history": history}, out / "last.pt")
            (out / "history.json").write_text(json.dumps(history, indent=1))
        if last:
            break
    print(f"done: {out / 'model.pt'} (EMA weights) after {step + 1} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
