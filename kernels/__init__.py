"""Heatmap-alignment energy and its gradient w.r.t. the projected joints.

``alignment_energy(U, P, w, s) -> (E (B, M), dE/dP (B, M, J, 2))``, both float32, with
``E[b, m] = -sum_j w[b, j] log sum_x U[b, j, x] exp(-|x - P[b, m, j]|^2 / 2s^2)``
(see ``kernels.reference`` for the exact definition and the epsilon of empty maps).
Backends: ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``), ``"numba"`` (CPU) and
``"torch"`` (the reference). ``"auto"`` picks Triton for CUDA tensors and Numba for CPU ones
and falls back to the reference, logging why at DEBUG level, when that backend is missing or
fails (it is then skipped for the rest of the process); a named backend raises instead. ``AlignmentEnergy.apply(U, P, w, s)`` wraps it for autograd.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from kernels.common import EPS, check_inputs
from kernels.reference import alignment_energy_reference, alignment_energy_reference_with_grad

__all__ = ["EPS", "AlignmentEnergy", "alignment_energy", "alignment_energy_reference",
           "alignment_energy_reference_with_grad"]

logger = logging.getLogger(__name__)

Backend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
_disabled: dict[str, str] = {}  # backend -> why "auto" no longer tries it


def _load(name: str) -> Backend:
    """Import a backend lazily (Numba and Triton are optional)."""
    if name == "numba":
        from kernels.numba_cpu import alignment_energy_numba

        return alignment_energy_numba
    if name == "triton":
        from kernels.triton_gpu import alignment_energy_triton

        return alignment_energy_triton
    if name == "torch":
        return alignment_energy_reference_with_grad
    raise ValueError(f"unknown backend {name!r}; expected 'auto', 'triton', 'numba' or 'torch'")


def _as_float32(E: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return E.to(torch.float32), grad.to(torch.float32)


def alignment_energy(
    U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(E (B, M) float32, dE/dP (B, M, J, 2) float32) on U's device; no autograd graph."""
    check_inputs(U, P, w, s)
    P, w = P.detach().to(U.device), w.detach().to(U.device)
    if backend != "auto":
        return _as_float32(*_load(backend)(U.detach(), P, w, float(s)))
    name = "triton" if U.is_cuda else "numba" if U.device.type == "cpu" else "torch"
    if name in _disabled:
        name = "torch"
    if name != "torch":
        try:
            return _as_float32(*_load(name)(U.detach(), P, w, float(s)))
        except Exception as exc:  # missing package, compile or launch failure
            _disabled[name] = f"{type(exc).__name__}: {exc}"
            logger.debug("alignment_energy: %s backend unavailable (%s); using the torch reference",
                         name, _disabled[name])
    return _as_float32(*alignment_energy_reference_with_grad(U.detach(), P, w, float(s)))


class AlignmentEnergy(torch.autograd.Function):
    """``AlignmentEnergy.apply(U, P, w, s) -> E (B, M)`` with gradient w.r.t. P only (U, w, s constant)."""

    @staticmethod
    def forward(ctx, U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float) -> torch.Tensor:
        E, grad = alignment_energy(U, P, w, s)
        ctx.save_for_backward(grad)
        ctx.p_dtype = P.dtype
        return E

    @staticmethod
    def backward(ctx, grad_E: torch.Tensor) -> tuple[None, torch.Tensor, None, None]:
        (grad,) = ctx.saved_tensors
        return None, (grad_E[..., None, None] * grad).to(ctx.p_dtype), None, None
