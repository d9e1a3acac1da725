"""DDIM reverse process with Distribution Alignment, warm start and several hypotheses."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from models.hmdiff.dat import (AlignmentGradient, DATConfig, alignment_gap, bandwidth, per_hypothesis, pixels_per_unit,
                               spread_to_vertices, world_move)
from models.hmdiff.denoiser import Denoiser
from models.hmdiff.schedule import NoiseSchedule
from models.hmdiff.state import StateLayout


@dataclass
class SampleResult:
    h0: torch.Tensor  # (B·M, N, 3) final clean state
    steps_used: int
    dat_steps: int
    camera: AlignmentGradient | None = None  # the camera fit DAT built for this prior, when it ran


@dataclass
class Sampler:
    net: Denoiser
    schedule: NoiseSchedule
    layout: StateLayout
    infer: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    """Inference-only calls of the net (a backend, see ``backends.py``); the eager net if None."""
    timings: dict[str, float] | None = None
    """When a dict: ms spent in ``denoiser`` calls and in the rest of the ``steps`` are added to it."""

    def __post_init__(self) -> None:
        if self.infer is None:
            self.infer = self.net

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the block's wall time (ms) to ``timings[name]`` when timings are on."""
        if self.timings is None:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1e3

    def _predict(self, h: torch.Tensor, kt: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """One inference call of the net (timed as ``denoiser``)."""
        with self.timed("denoiser"):
            return self.infer(h, kt, cond)

    def regress(self, cond: torch.Tensor) -> torch.Tensor:
        """One-shot regression with the same network: one call at k = K from the noise mean (0)."""
        b = cond.shape[0]
        h = cond.new_zeros(b, self.layout.num_points, 3)
        return self.infer(h, torch.tensor([self.schedule.num_steps], device=h.device), cond)

    def sample(
        self, cond: torch.Tensor, prior, steps: int = 5, hypotheses: int = 1,
        warm_start: torch.Tensor | None = None, warm_step: int | None = None, dat: DATConfig | None = None,
        eta: float = 0.0, generator: torch.Generator | None = None,
    ) -> SampleResult:
        """Run ``steps`` DDIM steps from noise (or from ``warm_start`` re-noised to ``warm_step``, which
        a warm start needs: the model's ``config.warm_step``)."""
        if warm_start is not None and warm_step is None:
            raise ValueError("a warm start needs warm_step (HMDiffConfig.warm_step)")
        dat = dat or DATConfig(enabled=False)
        b = cond.shape[0]
        n = b * hypotheses
        cond = per_hypothesis(cond, hypotheses)
        shape = (n, self.layout.num_points, 3)
        noise = torch.randn(shape, generator=generator, device=cond.device)
        if warm_start is None:
            ks = self.schedule.timesteps(steps)
            h = noise
        else:
            ks = self.schedule.timesteps(steps, start=warm_step)
            h = self.schedule.q_sample(per_hypothesis(warm_start, hypotheses) if warm_start.shape[0] == b
                                       else warm_start, warm_step, noise)
        guiding = dat.enabled and prior is not None
        closed_form = AlignmentGradient(prior, hypotheses) if guiding and dat.jacobian == "identity" \
            and dat.closed_form else None
        dat_steps = 0
        previous_x0: torch.Tensor | None = None
        for i, k in enumerate(ks):
            k_prev = ks[i + 1] if i + 1 < len(ks) else 0
            kt = torch.tensor([k], device=h.device)
            if guiding:
                h, x0 = self._guided(h, k, kt, cond, prior, hypotheses, dat, closed_form)
                dat_steps += 1
            else:
                with torch.no_grad():
                    x0 = self._predict(h, kt, cond)
            if guiding and dat.activation and previous_x0 is not None:
                joints_moved = (x0 - previous_x0)[:, -self.layout.num_joints :].norm(dim=-1)
                moved_mm = joints_moved.amax(dim=1).mean() * self.layout.data_scale * 1000
                guiding = bool(moved_mm > dat.converge_mm)
            previous_x0 = x0
            if k_prev > 0:  # the last step's result is its predicted h_0
                h = self.schedule.ddim_step(h, k, k_prev, x0, eta=eta, generator=generator)
        return SampleResult(h0=x0.detach(), steps_used=len(ks), dat_steps=dat_steps, camera=closed_form)

    def _guided(
        self, h: torch.Tensor, k: int, kt: torch.Tensor, cond: torch.Tensor, prior, hypotheses: int,
        dat: DATConfig, closed_form: AlignmentGradient | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DAT-guided prediction: returns the moved h_k and its predicted clean state.
        ``closed_form``: the identity-Jacobian gradient without autograd (else the torch reference)."""
        ab = float(self.schedule.alpha_bar[k])
        s = bandwidth(dat, ab)
        nj = self.layout.num_joints
        scale = self.layout.data_scale
        if closed_form is not None and closed_form.fused:
            x0 = self._predict(h, kt, cond)
            move = closed_form.fused_move(x0 * scale, s, dat) / scale
        else:
            if closed_form is not None:
                x0 = self._predict(h, kt, cond)
                grad_joints, transl = closed_form(x0[:, -nj:] * scale, s)
                grad = torch.zeros_like(x0)
                grad[:, -nj:] = grad_joints * scale
            else:
                grad, transl, x0 = self._autograd_gradient(h, kt, cond, prior, hypotheses, dat, s)
            # Gauss-Newton scale: a full step (rho = 1) would move a joint of weight 1 onto the mode of U.
            step = dat.rho * s**2 / pixels_per_unit(prior, transl, scale, hypotheses) ** 2
            move = step[:, None, None] * grad
            if dat.rho_world > 0 and prior.world is not None:
                toward = world_move(x0[:, -nj:] * scale, prior, hypotheses) / scale
                move[:, -nj:] -= dat.rho_world * toward
            if dat.spread_m > 0:
                move = spread_to_vertices(move, x0, nj, dat.spread_m / scale)
            limit = dat.max_move_m / scale
            move = move * (limit / move.norm(dim=-1, keepdim=True).clamp(min=limit))
        if dat.jacobian == "network":
            # Exact Distribution Alignment Gradient w.r.t. h_k (through the network), scaled so that
            # it equals the identity variant where dh_0/dh_k = I/sqrt(ab); h_0 is then re-predicted.
            h_new = (h - ab**0.5 * move).detach()
            with torch.no_grad():
                x0 = self._predict(h_new, kt, cond)
        else:
            # dh_0/dh_k ≈ I/sqrt(ab): moving h_k by −sqrt(ab)·step·∇D moves h_0 by −step·∇D,
            # keeping the noise estimate, so h_k stays on the diffusion path.
            h_new = h - ab**0.5 * move
            x0 = x0 - move
        return h_new.detach(), x0

    def _autograd_gradient(
        self, h: torch.Tensor, kt: torch.Tensor, cond: torch.Tensor, prior, hypotheses: int, dat: DATConfig,
        s: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """∇D_k by autograd through :func:`alignment_gap`: w.r.t. h_k through the network
        (``jacobian="network"``) or w.r.t. the predicted h_0 (the reference of the closed form).
        Returns (gradient, translations, predicted h_0)."""
        with torch.enable_grad():
            if dat.jacobian == "network":
                target = h.detach().requires_grad_(True)
                x0 = self.net(target, kt, cond)
            else:
                with torch.no_grad():
                    x0 = self._predict(h, kt, cond)
                x0 = target = x0.detach().requires_grad_(True)
            gap, transl = alignment_gap(x0[:, -self.layout.num_joints:] * self.layout.data_scale, prior, s, hypotheses)
            (grad,) = torch.autograd.grad(gap.sum(), target)
        return grad, transl.detach(), x0.detach()
