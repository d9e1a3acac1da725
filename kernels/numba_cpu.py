"""Numba CPU kernel: fused alignment energy and dE/dP, parallel over (b, m, j), float64 accumulation.

Per (b, m, j) one pass over the map (read in its own dtype, negatives clamped to 0) uses the
separable Gaussian with the nearest pixel (cx, cy) factored out, so every factor is in (0, 1]:

    C[c] = sum_r U[r, c] gy[r],  S = sum_c gx[c] C[c],  gx[c] = exp(-((c-px)^2 - (cx-px)^2) / 2s^2)
    l = log S - ((cx-px)^2 + (cy-py)^2) / 2s^2

with the first moments Sx, Sy giving dl/dp = (Sx, Sy) / (S s^2). The row loop is an axpy over
contiguous columns, which LLVM vectorises without reassociating sums (fastmath stays off).
When factors underflow (tiny s, or mass far from the nearest pixel: S < 1e-200 max U) the pass
is redone as an online log-sum-exp in the log domain, so l stays exact and finite. Float16 maps
are widened to float32 (exactly) first, Numba having no float16 on CPU.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

# OpenMP before TBB: Debian's TBB is older than Numba accepts, and trying it first only prints a
# NumbaWarning before Numba falls back to OpenMP anyway. A user's own setting wins.
os.environ.setdefault("NUMBA_THREADING_LAYER_PRIORITY", "omp tbb workqueue")
from numba import njit, prange  # noqa: E402

from kernels.common import LOG_EPS

# The linear-domain sum is trusted when S > max(1e-200 max U, 1e-280): every term that can
# matter to S (> S 1e-20) is then a normal float64, so none was lost to (or rounded in) underflow.
_FAST_PATH_MIN, _FAST_PATH_FLOOR = 1e-200, 1e-280


@njit(parallel=True, fastmath=False, cache=True)
def _map_max(U: np.ndarray) -> np.ndarray:
    """Per (b, j) the largest heatmap value as float64 (0 for an all-zero or all-negative map)."""
    B, J, H, W = U.shape
    out = np.empty((B, J))
    for i in prange(B * J):
        b, j = i // J, i % J
        colmax = np.zeros(W)  # element-wise maxima vectorise, a scalar max chain does not
        for r in range(H):
            for c in range(W):
                colmax[c] = max(colmax[c], np.float64(U[b, j, r, c]))
        out[b, j] = colmax.max()
    return out


@njit(fastmath=False, cache=True)
def _gaussian_factors(n: int, p: float, k: int, inv_2s2: float, g: np.ndarray, gd: np.ndarray) -> None:
    """g[i] = exp(-((i - p)^2 - (k - p)^2) / 2s^2) <= 1 for the pixel k nearest p, and gd[i] = g[i] (i - p).

    Built outward from k with ratios g[i+1]/g[i] that themselves shrink by exp(-1/s^2) per step:
    four exp calls instead of n (relative error ~ n^2 ulp).
    """
    q = math.exp(-2.0 * inv_2s2)
    g[k] = 1.0
    ratio = math.exp(-(2.0 * (k - p) + 1.0) * inv_2s2)
    for i in range(k + 1, n):
        g[i] = g[i - 1] * ratio
        ratio *= q
    ratio = math.exp((2.0 * (k - p) - 1.0) * inv_2s2)
    for i in range(k - 1, -1, -1):
        g[i] = g[i + 1] * ratio
        ratio *= q
    for i in range(n):
        gd[i] = g[i] * (i - p)


@njit(fastmath=False, cache=True)
def _log_likelihood(U: np.ndarray, umax: float, px: float, py: float, inv_2s2: float) -> tuple[float, float, float]:
    """(l, Sx/S, Sy/S) for one map U (H, W) whose largest value umax > 0 and the point (px, py)."""
    H, W = U.shape
    cx = int(min(max(np.floor(px + 0.5), 0.0), W - 1.0))
    cy = int(min(max(np.floor(py + 0.5), 0.0), H - 1.0))
    gx, gxd, gy, gyd = np.empty(W), np.empty(W), np.empty(H), np.empty(H)
    _gaussian_factors(W, px, cx, inv_2s2, gx, gxd)
    _gaussian_factors(H, py, cy, inv_2s2, gy, gyd)
    base = -((cx - px) ** 2 + (cy - py) ** 2) * inv_2s2

    C, Cy = np.zeros(W), np.zeros(W)  # per-column sums, accumulated row by row (vectorises)
    for r in range(H):
        if gy[r] == 0.0:
            continue
        for c in range(W):
            u = max(np.float64(U[r, c]), 0.0)
            C[c] += u * gy[r]
            Cy[c] += u * gyd[r]
    S = Sx = Sy = 0.0
    for c in range(W):
        S += gx[c] * C[c]
        Sx += gxd[c] * C[c]
        Sy += gx[c] * Cy[c]
    if S > max(_FAST_PATH_MIN * umax, _FAST_PATH_FLOOR):
        return base + math.log(S), Sx / S, Sy / S

    mx = -np.inf  # online log-sum-exp over the pixels with mass
    S = Sx = Sy = 0.0
    for r in range(H):
        ey = -(r - cy) * (r + cy - 2.0 * py) * inv_2s2
        for c in range(W):
            u = np.float64(U[r, c])
            if u <= 0.0:
                continue
            v = math.log(u) + ey - (c - cx) * (c + cx - 2.0 * px) * inv_2s2
            if v > mx:
                scale = math.exp(mx - v)
                S, Sx, Sy, mx = S * scale, Sx * scale, Sy * scale, v
            e = math.exp(v - mx)
            S += e
            Sx += e * (c - px)
            Sy += e * (r - py)
    return base + mx + math.log(S), Sx / S, Sy / S


@njit(parallel=True, fastmath=False, cache=True)
def _energy_and_grad(
    U: np.ndarray, umax: np.ndarray, P: np.ndarray, w: np.ndarray, s: float
) -> tuple[np.ndarray, np.ndarray]:
    """E (B, M) and dE/dP (B, M, J, 2), both float32, given the per-map maxima ``umax``."""
    B, J = umax.shape
    M = P.shape[1]
    inv_2s2 = 0.5 / (s * s)
    inv_s2 = 1.0 / (s * s)
    terms = np.empty((B, M, J))
    G = np.zeros((B, M, J, 2), dtype=np.float32)
    for i in prange(B * M * J):
        j = i % J
        m = (i // J) % M
        b = i // (J * M)
        px, py = P[b, m, j, 0], P[b, m, j, 1]
        if umax[b, j] == 0.0:
            terms[b, m, j] = -w[b, j] * LOG_EPS
            continue
        if not (math.isfinite(px) and math.isfinite(py)):  # propagate bad input, never index with it
            terms[b, m, j] = G[b, m, j, 0] = G[b, m, j, 1] = np.nan
            continue
        ll, mx, my = _log_likelihood(U[b, j], umax[b, j], px, py, inv_2s2)
        terms[b, m, j] = -w[b, j] * ll
        G[b, m, j, 0] = -w[b, j] * mx * inv_s2
        G[b, m, j, 1] = -w[b, j] * my * inv_s2
    E = np.empty((B, M), dtype=np.float32)
    for i in prange(B * M):
        b, m = i // M, i % M
        acc = 0.0
        for j in range(J):
            acc += terms[b, m, j]
        E[b, m] = acc
    return E, G


def alignment_energy_numba(
    U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(E (B, M) float32, dE/dP (B, M, J, 2) float32) for CPU tensors; U float16/32/64."""
    U_np = U.detach().to(torch.float32 if U.dtype == torch.float16 else U.dtype).contiguous().numpy()
    P_np = P.detach().to(torch.float64).contiguous().numpy()
    w_np = w.detach().to(torch.float64).contiguous().numpy()
    E, G = _energy_and_grad(U_np, _map_max(U_np), P_np, w_np, float(s))
    return torch.from_numpy(E), torch.from_numpy(G)
