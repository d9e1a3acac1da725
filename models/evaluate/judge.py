"""What every evaluation section shares: the variants of the recovery it compares (the main one is
run_live.py's setting for a photo, and the ablations around it), the recovery of a variant, and
the judge that turns full meshes into Human3.6M-17 / LSP-14 joints and errors in mm."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from models.body.joints import regressor
from models.hmdiff import DATConfig, HMDiff
from models.body_shape import BLEND
from models.metrics import mpjpe, mpve, pa_mpjpe

ABLATION_HYPOTHESES = 8
# The main variant: run_live.py's setting for a photo (realtime.options: steps, photo_hypotheses,
# photo_mirror; models cannot import realtime, a test checks that the two agree).
PHOTO_STEPS, PHOTO_HYPOTHESES, PHOTO_MIRROR = 2, 8, True
# The full mesh the figures' joints are regressed from: the recovered coarse vertices' own local blend,
# as before the shaped body (the product shows the default body or the user's shape posed like them:
# HMDiff.full_mesh; measured with it, --lift limb-12 59.6 -> 59.9 mm, the 4 real frames 74.0 -> 74.6).
EVALUATION_SHAPE = BLEND


@dataclass
class Variant:
    name: str
    steps: int = 5
    dat: DATConfig | bool = True
    regress: bool = False
    hypotheses: int = 1  # > 1: the mesh is the mean of this many samples
    clean_keypoints: bool = False  # synthetic set only: uncorrupted 2D keypoints, confidence 1 (oracle)
    world: bool = True  # False: drop the detector's 3D prior (from the condition and from DAT)
    mirror: bool = False  # half the hypotheses on the mirrored image, mirrored back (HMDiff.recover)


class Judge:
    """Full meshes → H36M-17 / LSP-14 joints → metrics (mm)."""

    def __init__(self, body) -> None:
        self.body = body
        self.h36m = regressor(body, "h36m17")
        self.lsp = regressor(body, "lsp14")

    def joints(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.h36m @ vertices, self.lsp @ vertices

    def scores(self, pred_v: torch.Tensor, gt_v: torch.Tensor) -> dict[str, torch.Tensor]:
        ph, pl = self.joints(pred_v)
        gh, gl = self.joints(gt_v)
        return {
            "mpjpe_h36m": mpjpe(ph, gh, 0), "pa_mpjpe_h36m": pa_mpjpe(ph, gh),
            "mpjpe_lsp": mpjpe(pl, gl, [2, 3]), "pa_mpjpe_lsp": pa_mpjpe(pl, gl),
            "mpve": mpve(pred_v, gt_v, ph[:, 0], gh[:, 0]),
        }


def summarise(scores: list[dict[str, torch.Tensor]], mask: torch.Tensor | None = None) -> dict[str, float]:
    out = {}
    for key in scores[0]:
        values = torch.cat([s[key] for s in scores])
        values = values if mask is None else values[mask]
        out[key] = round(float(values.mean()), 1) if len(values) else float("nan")
    out["n"] = int(len(values))
    return out


def recover(model: HMDiff, prior, variant: Variant, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    if not variant.world:
        prior = replace(prior, world=None, world_weights=None)
    if variant.regress:
        cond = model.condition(prior)
        with torch.no_grad():
            h0 = model.sampler.regress(cond)
        return model.assemble(h0, prior, 1, 1, 0, shape=EVALUATION_SHAPE)
    return model.recover(prior, steps=variant.steps, hypotheses=variant.hypotheses, dat=variant.dat, generator=gen,
                         mirror=variant.mirror, shape=EVALUATION_SHAPE)

def other_hypotheses(main: Variant, hypotheses: int = ABLATION_HYPOTHESES) -> Variant:
    """``main`` with one hypothesis if it averages several, else averaged over ``hypotheses``."""
    if main.hypotheses > 1:
        return replace(main, name=f"DAT, 1 hypothesis ({main.steps} steps)", hypotheses=1, mirror=False)
    return replace(main, name=f"DAT, mean of {hypotheses} hypotheses ({main.steps} steps)", hypotheses=hypotheses)


def unmirrored(main: Variant) -> list[Variant]:
    """``main`` without test-time mirroring, if it mirrors."""
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    return [replace(main, name=f"DAT, no mirroring {tag}", mirror=False)] if main.mirror else []


def prior_ablation(main: Variant) -> list[Variant]:
    """For sets through MediaPipe, each like ``main`` (steps, hypotheses) but for one change: no DAT,
    no 3D prior anywhere (condition or DAT), DAT with (or without, if ``main`` has it) the 3D
    prior's pull (``rho_world``; the 3D prior stays in the condition), ``main`` itself, 5 DDIM
    steps (if ``main`` has another count), the other number of hypotheses (1, or several) and no
    mirroring (if ``main`` mirrors)."""
    dat = main.dat if isinstance(main.dat, DATConfig) else DATConfig()
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    five = [] if main.steps == 5 else [replace(main, name=f"DAT, 5 steps ({main.hypotheses} hyp.)", steps=5)]
    pull = DATConfig().rho_world
    other_pull = replace(main, name=f"DAT, 2D heatmaps only {tag}", dat=replace(dat, rho_world=0.0)) if dat.rho_world \
        else replace(main, name=f"DAT with the 3D prior's pull too (rho_world {pull}) {tag}", dat=replace(dat, rho_world=pull))
    return [replace(main, name=f"diffusion, no DAT {tag}", dat=False),
            replace(main, name=f"no 3D prior at all, DAT 2D only {tag}", world=False),
            other_pull, main, *five, other_hypotheses(main), *unmirrored(main)]


def ablation_variants(main: Variant) -> list[Variant]:
    """One-shot regression, then like ``main`` but for one change: no DAT, DAT without activation,
    DDIM steps 1/2/5/10/25, the other number of hypotheses, no mirroring (if ``main`` mirrors), the
    uncorrupted 2D keypoints (oracle)."""
    dat = main.dat if isinstance(main.dat, DATConfig) else DATConfig()
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    return [
        Variant("regression (one shot)", regress=True),
        replace(main, name=f"diffusion, no DAT {tag}", dat=False),
        main,
        replace(main, name=f"DAT, no activation {tag}", dat=replace(dat, activation=False)),
        *[replace(main, name=f"DAT, {s} steps ({main.hypotheses} hyp.)", steps=s) for s in (1, 2, 5, 10, 25)
          if s != main.steps],
        other_hypotheses(main),
        *unmirrored(main),
        replace(main, name=f"DAT, uncorrupted 2D keypoints, oracle {tag}", clean_keypoints=True),
    ]


def table(rows: dict[str, dict]) -> str:
    keys = ["pa_mpjpe_h36m", "mpjpe_h36m", "pa_mpjpe_lsp", "mpjpe_lsp", "mpve", "n"]
    lines = ["| variant | split | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, splits in rows.items():
        for split, m in splits.items():
            lines.append(f"| {name} | {split} | " + " | ".join(str(m.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)
