"""Forward noising process and the DDIM reverse update (diffusers-style: separate from the net).

Cosine schedule (Nichol & Dhariwal 2021) over K training steps: alpha_bar(k) = cos²(((k/K)+s)/(1+s)·π/2)
normalised so alpha_bar(0) = 1, clipped to beta ≤ 0.999. Step indices run 1..K; k = 0 is clean data.
"""
from __future__ import annotations

import math

import torch


class NoiseSchedule:
    """The forward process q(h_k | h_0) and DDIM steps over K training steps."""

    def __init__(self, num_steps: int = 1000, offset: float = 0.008) -> None:
        self.num_steps = num_steps
        k = torch.arange(num_steps + 1, dtype=torch.float64)
        f = torch.cos(((k / num_steps) + offset) / (1 + offset) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
        alpha_bar = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])
        self.alpha_bar = alpha_bar.float()  # (K+1,), alpha_bar[0] = 1
        self._alpha_bar_list = self.alpha_bar.tolist()  # Python floats: a sampler step needs no tensor op

    def ab(self, k: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor | float:
        """alpha_bar at step(s) k, shaped to broadcast against ``like`` (B, N, 3); a float for an int k."""
        if isinstance(k, int):
            return self._alpha_bar_list[k]
        a = self.alpha_bar.to(like.device)[torch.as_tensor(k, device=like.device)]
        return a.reshape(-1, *([1] * (like.dim() - 1))) if a.dim() else a

    def q_sample(self, h0: torch.Tensor, k: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        """h_k = sqrt(ab_k)·h_0 + sqrt(1 − ab_k)·ε."""
        a = self.ab(k, h0)
        return a**0.5 * h0 + (1 - a) ** 0.5 * noise

    def eps_from_x0(self, h_k: torch.Tensor, k: int, x0: torch.Tensor) -> torch.Tensor:
        """The noise implied by a prediction of h_0 at step k."""
        a = self.ab(k, h_k)
        return (h_k - a**0.5 * x0) / (1 - a) ** 0.5

    def timesteps(self, steps: int, start: int | None = None) -> list[int]:
        """``steps`` DDIM steps from ``start`` (default K) down, evenly spaced, ending above 0."""
        start = self.num_steps if start is None else start
        if not 1 <= steps <= start:
            raise ValueError(f"steps must be in 1..{start}, got {steps}")
        return [int(round(start - i * start / steps)) for i in range(steps)]

    def ddim_step(
        self, h_k: torch.Tensor, k: int, k_prev: int, x0: torch.Tensor, eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One DDIM update h_k → h_{k_prev} given the predicted clean state (eta=0: deterministic)."""
        a, a_prev = self._alpha_bar_list[k], self._alpha_bar_list[k_prev]
        eps = (h_k - a**0.5 * x0) / (1 - a) ** 0.5
        sigma = eta * max((1 - a_prev) / (1 - a) * (1 - a / a_prev), 0.0) ** 0.5
        h = a_prev**0.5 * x0 + max(1 - a_prev - sigma**2, 0.0) ** 0.5 * eps
        if eta > 0 and k_prev > 0:
            h = h + sigma * torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        return h
