"""The training objective, its learning-rate schedule and the periodic validation."""
from __future__ import annotations

import math

import torch

from models.hmdiff import HMDiff


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
