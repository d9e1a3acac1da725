"""Plain-torch reference of the heatmap-alignment energy (the oracle for the kernels).

For heatmaps ``U`` (B, J, H, W), projected joints ``P`` (B, M, J, 2) in heatmap pixels
(x = column, y = row, pixel centres at integers), weights ``w`` (B, J) and bandwidth ``s``::

    E[b, m] = -sum_j w[b, j] * l[b, m, j]
    l[b, m, j] = log sum_x U[b, j, x] * exp(-|x - P[b, m, j]|^2 / (2 s^2))

evaluated as a log-sum-exp over ``log U`` (pixels with ``U <= 0`` are ``-inf``).

Epsilon: the textbook form is ``log(eps + L)``. Any fixed ``eps > 0`` flattens the energy
(zero gradient) once ``L < eps``, i.e. for joints a few ``s`` away from all mass, which is
exactly where the alignment must pull them back. So ``eps`` only enters for an all-zero
(missing) map: there ``l = log(EPS)`` (``EPS = 1e-12``, ``kernels.common``), a finite constant with zero gradient; for any map with
mass ``l`` is the exact log-likelihood (``eps -> 0+``), finite for any finite ``P`` and ``s > 0``,
and its gradient ``(mean_softmax(x) - p) / s^2`` always points back toward the mass.
"""
from __future__ import annotations

import torch

from kernels.common import LOG_EPS


def alignment_energy_reference(U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float) -> torch.Tensor:
    """Energy E (B, M) in P's dtype if it is float64, else float32; differentiable w.r.t. P."""
    dtype = torch.float64 if P.dtype == torch.float64 else torch.float32
    H, W = U.shape[-2:]
    logU = torch.log(U.to(dtype).clamp_min(0.0))  # (B, J, H, W), -inf where U <= 0
    empty = torch.isneginf(logU).flatten(2).all(-1)  # (B, J)
    # A dummy finite map for empty joints keeps logsumexp's backward free of NaN (0 * nan).
    logU = torch.where(empty[..., None, None], torch.zeros_like(logU), logU)
    P = P.to(dtype)
    cols = torch.arange(W, dtype=dtype, device=U.device)
    rows = torch.arange(H, dtype=dtype, device=U.device)
    ax = -(cols - P[..., 0:1]) ** 2 / (2.0 * s * s)  # (B, M, J, W)
    ay = -(rows - P[..., 1:2]) ** 2 / (2.0 * s * s)  # (B, M, J, H)
    v = logU[:, None] + ay[..., :, None] + ax[..., None, :]  # (B, M, J, H, W)
    ll = torch.logsumexp(v.flatten(-2), dim=-1)  # (B, M, J)
    ll = torch.where(empty[:, None], torch.full_like(ll, LOG_EPS), ll)
    return -(w.to(dtype)[:, None] * ll).sum(-1)


def alignment_energy_reference_with_grad(
    U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(E (B, M), dE/dP (B, M, J, 2)) via autograd; E[b, m] depends only on P[b, m]."""
    with torch.enable_grad():
        Pg = P.detach().to(torch.float64 if P.dtype == torch.float64 else torch.float32).requires_grad_(True)
        E = alignment_energy_reference(U, Pg, w, s)
        (grad,) = torch.autograd.grad(E.sum(), Pg)
    return E.detach(), grad
