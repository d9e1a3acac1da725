"""Constants and input checks shared by every backend of the alignment energy."""
from __future__ import annotations

import math

import torch

EPS = 1e-12
"""Likelihood of an all-zero (missing) heatmap: its term is ``-w * log(EPS)`` with zero gradient."""
LOG_EPS = math.log(EPS)
S_RANGE = (1e-15, 1e15)


def check_inputs(U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float) -> None:
    """Raise ValueError unless U (B,J,H,W), P (B,M,J,2), w (B,J) agree and s lies in S_RANGE."""
    if U.dim() != 4 or P.dim() != 4 or w.dim() != 2:
        raise ValueError(f"expected U (B,J,H,W), P (B,M,J,2), w (B,J); "
                         f"got {tuple(U.shape)}, {tuple(P.shape)}, {tuple(w.shape)}")
    B, J = U.shape[:2]
    if P.shape[0] != B or P.shape[2] != J or P.shape[3] != 2 or tuple(w.shape) != (B, J):
        raise ValueError(f"shape mismatch: U {tuple(U.shape)}, P {tuple(P.shape)}, w {tuple(w.shape)}")
    if U.dtype not in (torch.float16, torch.float32, torch.float64):
        raise ValueError(f"U must be a float tensor, got {U.dtype}")
    if not S_RANGE[0] <= s <= S_RANGE[1]:  # 1/s^2 must stay finite and non-zero in float32
        raise ValueError(f"bandwidth s must lie in {S_RANGE}, got {s}")
