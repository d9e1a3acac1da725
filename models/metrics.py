"""Mesh-recovery metrics in millimetres: MPJPE, PA-MPJPE and MPVE."""
from __future__ import annotations

import numpy as np
import torch


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Similarity-align pred (B,J,3) to gt (B,J,3) (rotation, scale, translation; Umeyama)."""
    mu_p, mu_g = pred.mean(1, keepdim=True), gt.mean(1, keepdim=True)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = torch.linalg.svd(p.transpose(1, 2) @ g)
    d = torch.sign(torch.linalg.det(u @ vt))
    flip = torch.ones_like(s)
    flip[:, -1] = d
    rot = u @ torch.diag_embed(flip) @ vt
    scale = (s * flip).sum(1) / p.square().sum((1, 2)).clamp(min=1e-12)
    return scale[:, None, None] * p @ rot + mu_g


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, root: list[int] | int = 0) -> torch.Tensor:
    """Per-sample mean joint error (mm) after aligning the root (a joint or the mean of joints)."""
    idx = [root] if isinstance(root, int) else root
    p = pred - pred[:, idx].mean(1, keepdim=True)
    g = gt - gt[:, idx].mean(1, keepdim=True)
    return (p - g).norm(dim=-1).mean(1) * 1000


def pa_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-joint error vectors (B,J,3) mm after Procrustes alignment, in ``gt``'s frame."""
    return (procrustes_align(pred, gt) - gt) * 1000


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-sample mean joint error (mm) after Procrustes alignment."""
    return pa_errors(pred, gt).norm(dim=-1).mean(1)


def mpve(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, pred_root: torch.Tensor, gt_root: torch.Tensor) -> torch.Tensor:
    """Per-sample mean vertex error (mm) after aligning the roots (B,3)."""
    p = pred_vertices - pred_root[:, None]
    g = gt_vertices - gt_root[:, None]
    return (p - g).norm(dim=-1).mean(1) * 1000


def accel_error(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Acceleration error (mm/frame²) of one joint sequence (T,J,3), root-relative (joint 0):
    ‖Δ²pred − Δ²gt‖ averaged over joints, one value per frame t = 1..T−2 whose neighbours and
    itself are all ``valid`` (T,) (the jitter a viewer sees, against the true motion)."""
    p, g = pred - pred[:, :1], gt - gt[:, :1]
    second = lambda x: x[2:] - 2 * x[1:-1] + x[:-2]  # noqa: E731
    error = (second(p) - second(g)).norm(dim=-1).mean(-1) * 1000
    if valid is None:
        return error
    keep = valid[2:] & valid[1:-1] & valid[:-2]
    return error[keep]


def root_centred(joints: np.ndarray, root: list[int], keep: list[int]) -> np.ndarray:
    """The ``keep`` joints of a sequence (T, J, 3) minus the mean of its ``root`` joints at each frame."""
    return (joints - joints[:, root].mean(1, keepdims=True))[:, keep]


def second_difference(joints: np.ndarray, root: list[int], keep: list[int]) -> np.ndarray:
    """Δ² (T−2, K, 3) of the ``keep`` joints of a sequence (T, J, 3) after subtracting the mean of
    the ``root`` joints at each frame (root-centred: the body's own motion, not its travel)."""
    centred = root_centred(joints, root, keep)
    return centred[2:] - 2 * centred[1:-1] + centred[:-2]


def jitter_mm(joints: np.ndarray, root: list[int], keep: list[int], valid: np.ndarray | None = None) -> np.ndarray:
    """Per-frame jitter, mean ‖Δ²x‖ over the ``keep`` joints in mm/frame² (metres in), for frames
    t = 1..T−2 whose two neighbours and itself are ``valid`` (T,) (the tremble a viewer sees)."""
    values = np.linalg.norm(second_difference(joints, root, keep), axis=-1).mean(-1) * 1000
    if valid is None:
        return values
    return values[valid[2:] & valid[1:-1] & valid[:-2]]
