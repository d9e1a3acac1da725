"""One fused Numba call for a whole Distribution Alignment move on the CPU (no autograd, no torch ops).

For each hypothesis n (of B·M, prior b = n // M) and root-relative points in metres (vertices
then J joints, the predicted h_0 times the data scale), it computes what ``models.hmdiff``'s
torch path computes in a few hundred small ops:

1. the camera translation t = A⁻¹(λd − Σ_j Q_j X_j) (the weighted least squares fit, its normal
   matrix inverse ``a_inv`` and terms ``q``, ``lam_d`` precomputed once per recovery);
2. the projected joints P in heatmap pixels and, per joint, ∂D/∂P from the heatmap likelihood
   (:func:`kernels.numba_cpu._log_likelihood`, the same pass as the alignment kernel);
3. the gradient ∂D/∂X_j = g_j − Q_j A⁻¹ Σ_i g_i (chain rule through the projection and t);
4. the Gauss-Newton step ρ·s²·t_z² / (f·px)², minus ``rho_world`` times the weighted Kabsch
   move toward the 3D prior (when given);
5. the vertices' moves as a Gaussian-weighted average (softmax over joints) of the joints' moves;
6. each point's move clamped to ``max_move``.

Returns the move (B·M, N, 3) in metres that is subtracted from the points. Serial on purpose:
at the live batch of one the work is ~0.1 ms, less than waking a thread pool costs.
"""
from __future__ import annotations

import math

import numpy as np

# numba_cpu first: it picks Numba's threading layer before Numba is imported.
from kernels.numba_cpu import _log_likelihood, _map_max  # noqa: I001
from numba import njit  # noqa: E402


@njit(fastmath=False, cache=True)
def _kabsch_toward(p: np.ndarray, q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """w_j (Rᵀ(q_j − q̄) − (p_j − p̄)) with R the proper rotation taking p onto q (weighted)."""
    J = p.shape[0]
    total = max(w.sum(), 1e-6)
    pm, qm = np.zeros(3), np.zeros(3)
    for j in range(J):
        pm += w[j] * p[j]
        qm += w[j] * q[j]
    pm /= total
    qm /= total
    h = np.zeros((3, 3))
    for j in range(J):
        h += w[j] * np.outer(p[j] - pm, q[j] - qm)
    u, _, vt = np.linalg.svd(h)
    d = np.linalg.det(vt.T @ u.T)
    flip = np.eye(3)
    flip[2, 2] = 1.0 if d == 0 else math.copysign(1.0, d)
    rotation = vt.T @ flip @ u.T
    out = np.empty((J, 3))
    for j in range(J):
        out[j] = w[j] * ((q[j] - qm) @ rotation - (p[j] - pm))
    return out


@njit(fastmath=False, cache=True)
def _mat_vec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """a (3, 3) @ x (3,) without a BLAS call."""
    out = np.empty(3)
    for r in range(3):
        out[r] = a[r, 0] * x[0] + a[r, 1] * x[1] + a[r, 2] * x[2]
    return out


@njit(fastmath=False, cache=True)
def _sum_mat_vec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ_j a[j] (3, 3) @ x[j] (3,)."""
    out = np.zeros(3)
    for j in range(a.shape[0]):
        out += _mat_vec(a[j], x[j])
    return out


@njit(fastmath=False, cache=True)
def _dat_move(
    U: np.ndarray, umax: np.ndarray, weights: np.ndarray, points: np.ndarray, hypotheses: int,
    q: np.ndarray, a_inv: np.ndarray, lam_d: np.ndarray, focal: np.ndarray, principal: np.ndarray,
    origin: np.ndarray, hm_per_px: np.ndarray, s: float, rho: float, world: np.ndarray, world_w: np.ndarray,
    rho_world: float, spread: float, max_move: float,
) -> np.ndarray:
    n_all, n_points, _ = points.shape
    J = U.shape[1]
    nv = n_points - J
    inv_2s2, inv_s2 = 0.5 / (s * s), 1.0 / (s * s)
    move = np.zeros((n_all, n_points, 3))
    for n in range(n_all):
        b = n // hypotheses
        x = points[n, nv:]
        t = _mat_vec(a_inv[n], lam_d[n] - _sum_mat_vec(q[n], x))
        g = np.zeros((J, 3))
        for j in range(J):
            if umax[b, j] == 0.0:
                continue
            cx, cy, cz = x[j, 0] + t[0], x[j, 1] + t[1], x[j, 2] + t[2]
            px = (focal[b, 0] * cx / cz + principal[b, 0] - origin[b, 0]) * hm_per_px[b]
            py = (focal[b, 1] * cy / cz + principal[b, 1] - origin[b, 1]) * hm_per_px[b]
            if not (math.isfinite(px) and math.isfinite(py)):
                g[j, :] = np.nan
                continue
            _, mx, my = _log_likelihood(U[b, j], umax[b, j], px, py, inv_2s2)
            ex = -weights[b, j] * mx * inv_s2 * hm_per_px[b] * focal[b, 0]
            ey = -weights[b, j] * my * inv_s2 * hm_per_px[b] * focal[b, 1]
            g[j, 0] = ex / cz
            g[j, 1] = ey / cz
            g[j, 2] = -(ex * cx + ey * cy) / (cz * cz)
        y = _mat_vec(a_inv[n], g.sum(axis=0))
        f = 0.5 * (focal[b, 0] + focal[b, 1]) * hm_per_px[b]
        step = rho * s * s * (max(t[2], 0.5) / f) ** 2
        joints_move = np.empty((J, 3))
        for j in range(J):
            joints_move[j] = step * (g[j] - _mat_vec(q[n, j], y))
        if rho_world > 0.0:
            joints_move -= rho_world * _kabsch_toward(x, world[b], world_w[b])
        move[n, nv:] = joints_move
        inv_2bw2 = 0.5 / (spread * spread) if spread > 0.0 else 0.0
        logits = np.empty(J)
        for v in range(nv if spread > 0.0 else 0):
            top = -np.inf
            for j in range(J):
                d0, d1, d2 = points[n, v, 0] - x[j, 0], points[n, v, 1] - x[j, 1], points[n, v, 2] - x[j, 2]
                logits[j] = -(d0 * d0 + d1 * d1 + d2 * d2) * inv_2bw2
                top = max(top, logits[j])
            total = m0 = m1 = m2 = 0.0
            for j in range(J):
                e = math.exp(logits[j] - top)
                total += e
                m0 += e * joints_move[j, 0]
                m1 += e * joints_move[j, 1]
                m2 += e * joints_move[j, 2]
            move[n, v, 0], move[n, v, 1], move[n, v, 2] = m0 / total, m1 / total, m2 / total
        for i in range(n_points):
            norm = math.sqrt(move[n, i, 0] ** 2 + move[n, i, 1] ** 2 + move[n, i, 2] ** 2)
            if norm > max_move:
                move[n, i] *= max_move / norm
    return move


def dat_move(
    U: np.ndarray, weights: np.ndarray, points: np.ndarray, hypotheses: int, q: np.ndarray, a_inv: np.ndarray,
    lam_d: np.ndarray, focal: np.ndarray, principal: np.ndarray, origin: np.ndarray, hm_per_px: np.ndarray,
    s: float, rho: float, world: np.ndarray | None, world_w: np.ndarray | None, rho_world: float, spread: float,
    max_move: float, umax: np.ndarray | None = None,
) -> np.ndarray:
    """The DAT move (B·M, N, 3) float64 in metres for points (B·M, N, 3) (vertices, then the J joints).

    Per prior b (B): heatmaps ``U`` (B, J, H, W), their ``weights``, ``focal``, ``principal``, the crop
    ``origin`` (B, 2) image px and ``hm_per_px`` (B,); per hypothesis: the translation fit's
    ``q`` (B·M, J, 3, 3), ``a_inv`` (B·M, 3, 3), ``lam_d`` (B·M, 3). ``world`` (B, J, 3) and ``world_w``
    (B, J): the 3D prior (None: no 3D term). ``umax``: the maps' maxima if already known.
    """
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    U = _kernel_maps(U)
    umax = _map_max(U) if umax is None else umax
    if world is None:
        world, world_w, rho_world = np.zeros((U.shape[0], U.shape[1], 3)), np.zeros(U.shape[:2]), 0.0
    return _dat_move(U, umax, f64(weights), f64(points), int(hypotheses), f64(q), f64(a_inv), f64(lam_d),
                     f64(focal), f64(principal), f64(origin), f64(hm_per_px), float(s), float(rho), f64(world),
                     f64(world_w), float(rho_world), float(spread), float(max_move))


def map_maxima(U: np.ndarray) -> np.ndarray:
    """Per (b, j) the largest value of heatmaps U (B, J, H, W): ``dat_move``'s ``umax``, for callers
    that move several times against the same maps."""
    return _map_max(_kernel_maps(U))


def _kernel_maps(U: np.ndarray) -> np.ndarray:
    """U as the kernels read it: C-contiguous, float16 widened to float32 (Numba has no float16)."""
    return np.ascontiguousarray(U, dtype=np.float32 if U.dtype == np.float16 else U.dtype)
