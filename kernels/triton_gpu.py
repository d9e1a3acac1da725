"""Triton kernel: one program per (b, m, j), fused value and gradient, float32 accumulation.

Each program streams its map in tiles of whole rows (float16/float32 loads widened to float32)
and keeps an online log-sum-exp: the running maximum ``mx`` of ``v = log U + ey[r] + ex[c]``
and the sums ``S, Sx, Sy`` of ``exp(v - mx) * (1, x - px, y - py)``, rescaled whenever the
maximum grows. The Gaussian is separable: ``ex`` is computed once per program, ``ey`` once per
tile, both relative to the nearest pixel and factored as ``(c - cx)(c + cx - 2 px)`` (no
cancellation for far points); the moments reduce per column / per row before the offsets.
The program writes ``-w l`` and ``-w dl/dp``; E is the sum over j. Run on CUDA tensors, or on
CPU tensors with ``TRITON_INTERPRET=1`` set before Triton is first imported.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.common import LOG_EPS


@triton.jit
def _alignment_kernel(
    U_ptr, P_ptr, w_ptr, T_ptr, G_ptr,
    M, J, H, W, inv_2s2, inv_s2, log_eps,
    BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
):
    pid = tl.program_id(0)  # flat (b, m, j)
    j = pid % J
    b = pid // (M * J)
    px = tl.load(P_ptr + 2 * pid)
    py = tl.load(P_ptr + 2 * pid + 1)
    wj = tl.load(w_ptr + b * J + j)
    cx = tl.minimum(tl.maximum(tl.floor(px + 0.5), 0.0), W - 1.0)
    cy = tl.minimum(tl.maximum(tl.floor(py + 0.5), 0.0), H - 1.0)
    base_ptr = U_ptr + (b * J + j).to(tl.int64) * H * W

    cols = tl.arange(0, BLOCK_W)
    c = cols.to(tl.float32)
    dx = c - px
    ex = -(c - cx) * (c + cx - 2.0 * px) * inv_2s2  # separable exponent, relative to the nearest column

    neg_inf = tl.full([BLOCK_H, BLOCK_W], float("-inf"), tl.float32)
    mx = tl.max(tl.max(neg_inf, axis=1), axis=0)  # scalar fp32 state, same type as inside the loop
    S = tl.sum(tl.sum(tl.zeros([BLOCK_H, BLOCK_W], tl.float32), axis=1), axis=0)
    Sx = S
    Sy = S
    for row0 in range(0, H, BLOCK_H):
        rows = row0 + tl.arange(0, BLOCK_H)
        r = rows.to(tl.float32)
        ey = -(r - cy) * (r + cy - 2.0 * py) * inv_2s2
        mask = (rows[:, None] < H) & (cols[None, :] < W)
        u = tl.load(base_ptr + rows[:, None] * W + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        has = u > 0.0
        v = tl.where(has, tl.log(tl.where(has, u, 1.0)) + ey[:, None] + ex[None, :], neg_inf)
        new_mx = tl.maximum(mx, tl.max(tl.max(v, axis=1), axis=0))
        ref = tl.where(new_mx == float("-inf"), 0.0, new_mx)  # no (-inf) - (-inf)
        scale = tl.exp(mx - ref)
        e = tl.where(has, tl.exp(v - ref), 0.0)
        col_sum = tl.sum(e, axis=0)
        S = S * scale + tl.sum(col_sum, axis=0)
        Sx = Sx * scale + tl.sum(col_sum * dx, axis=0)
        Sy = Sy * scale + tl.sum(tl.sum(e, axis=1) * (r - py), axis=0)
        mx = new_mx

    empty = mx == float("-inf")
    S_safe = tl.where(empty, 1.0, S)
    base = -((cx - px) * (cx - px) + (cy - py) * (cy - py)) * inv_2s2
    ll = tl.where(empty, log_eps, base + mx + tl.log(S_safe))
    tl.store(T_ptr + pid, -wj * ll)
    tl.store(G_ptr + 2 * pid, tl.where(empty, 0.0, -wj * (Sx / S_safe) * inv_s2))
    tl.store(G_ptr + 2 * pid + 1, tl.where(empty, 0.0, -wj * (Sy / S_safe) * inv_s2))


def alignment_energy_triton(
    U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float, block: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """(E (B, M) float32, dE/dP (B, M, J, 2) float32); U float16/float32 (float64 is narrowed).

    ``block`` is the number of pixels per tile: whole rows (padded to a power of two) at a time.
    """
    B, J, H, W = U.shape
    M = P.shape[1]
    U = (U.float() if U.dtype == torch.float64 else U).contiguous()
    P = P.to(torch.float32).contiguous()
    w = w.to(device=U.device, dtype=torch.float32).contiguous()
    T = torch.empty((B, M, J), dtype=torch.float32, device=U.device)
    G = torch.empty((B, M, J, 2), dtype=torch.float32, device=U.device)
    if T.numel():
        block_w = triton.next_power_of_2(W)
        block_h = min(max(block // block_w, 1), triton.next_power_of_2(H))
        _alignment_kernel[(B * M * J,)](
            U, P, w, T, G, M, J, H, W, 0.5 / (s * s), 1.0 / (s * s), LOG_EPS,
            BLOCK_H=block_h, BLOCK_W=block_w,
        )
    return T.sum(-1), G
