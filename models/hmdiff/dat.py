"""Distribution Alignment Technique: pull the predicted clean mesh toward the pose prior U.

At a guided step k the predicted h_0's joints are placed in the camera (translation by weighted
least squares against the prior's keypoints), projected into the heatmap crop, and the gap D_k to
the heatmaps U is the alignment energy of ``kernels`` (negative log-likelihood of each joint under
U smoothed by a Gaussian of bandwidth s). Its gradient moves h_k (the Distribution Alignment
Gradient). When the prior also carries 3D joints (MediaPipe's world landmarks), a second gap,
Σ w‖R·p + t − q‖² after the best rotation R and shift t, pulls the joints toward that pose
(``rho_world``). The joints' moves are carried over to the mesh vertices (``spread_m``): the
state's joints are tokens of their own, and without it the mesh, which is what the user gets,
would follow only through later network calls. The activation strategy switches DAT off for the
remaining steps once the predicted h_0 has converged: when the largest change of a predicted
joint between consecutive steps (averaged over the batch) falls under ``converge_mm``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from kernels import AlignmentEnergy


@dataclass
class DATConfig:
    enabled: bool = True
    rho: float = 0.5  # fraction of the Gauss-Newton step toward U at each guided step
    s_max: float = 4.0  # bandwidth (heatmap px) at the noisiest step
    s_min: float = 1.0  # bandwidth at the cleanest step
    converge_mm: float = 10.0  # activation strategy: off once no joint of h_0 moves more than this
    activation: bool = True  # False: guide every step (ablation)
    jacobian: str = "identity"  # "identity": dh_0/dh_k ≈ I/sqrt(ab_k) (one net call); "network": exact
    max_move_m: float = 0.15  # trust region: no point of h_0 moves more than this per guided step
    spread_m: float = 0.1  # > 0: each vertex follows the joint moves, Gaussian-weighted by distance (m)
    rho_world: float = 0.5  # fraction of the way toward the aligned 3D prior (when the prior has one)

    def to_dict(self) -> dict:
        return asdict(self)


def estimate_translation(
    joints_rel: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor,
    focal: torch.Tensor, principal: torch.Tensor, depth_prior: float = 4.0, ridge: float = 1e-5,
) -> torch.Tensor:
    """Camera translation t (B,3) placing root-relative joints (B,J,3) on keypoints (B,J,2) px.

    Perspective, linear in t: f·(X+t_x) − (u−c)·(Z+t_z) = 0 per joint and axis, weighted by the
    prior's per-joint weights, with a tiny ridge (relative to the total weight) toward
    (0, 0, depth_prior) for degenerate cases.
    """
    uv = (keypoints - principal[:, None]) / focal[:, None]  # normalised image coordinates
    b, j, _ = joints_rel.shape
    rows = joints_rel.new_zeros(b, j, 2, 3)
    rows[..., 0, 0] = 1.0
    rows[..., 1, 1] = 1.0
    rows[..., :, 2] = -uv
    rhs = uv * joints_rel[..., 2:3] - joints_rel[..., :2]
    w = weights[..., None].expand(b, j, 2).reshape(b, 2 * j)
    a = rows.reshape(b, 2 * j, 3)
    ata = a.transpose(1, 2) @ (w[..., None] * a)
    atb = (a.transpose(1, 2) @ (w * rhs.reshape(b, 2 * j))[..., None])[..., 0]
    lam = ridge * (weights.sum(1) + 1e-3)[:, None]
    atb = atb + lam * joints_rel.new_tensor([0.0, 0.0, depth_prior])
    return torch.linalg.solve(ata + lam[..., None] * torch.eye(3, device=a.device, dtype=a.dtype), atb)


def fit_translation(joints_rel: torch.Tensor, prior, hypotheses: int) -> torch.Tensor:
    """:func:`estimate_translation` for (B·M, J, 3) joints against a prior of batch B."""
    rep = lambda x: x.repeat_interleave(hypotheses, dim=0)  # noqa: E731
    return estimate_translation(
        joints_rel, rep(prior.keypoints), rep(prior.weights), rep(prior.focal), rep(prior.principal)
    )


def bandwidth(cfg: DATConfig, alpha_bar: float) -> float:
    """Annealed bandwidth: wide while noisy, narrow near the clean end."""
    return cfg.s_min + (cfg.s_max - cfg.s_min) * (1.0 - alpha_bar) ** 0.5


def alignment_gap(
    joints_rel: torch.Tensor, prior, s: float, hypotheses: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """D_k per hypothesis (B·M,) for root-relative joints (B·M,J,3), and the camera translations."""
    transl = fit_translation(joints_rel, prior, hypotheses)
    points = prior.project_to_heatmap(
        (joints_rel + transl[:, None]).reshape(-1, hypotheses, *joints_rel.shape[1:])
    )  # (B, M, J, 2)
    energy = AlignmentEnergy.apply(prior.heatmaps, points, prior.weights, s)  # (B, M)
    return energy.reshape(-1), transl


def pixels_per_unit(prior, transl: torch.Tensor, data_scale: float, hypotheses: int) -> torch.Tensor:
    """Heatmap pixels per normalised state unit at the body's depth (B·M,)."""
    hm_per_px = prior.heatmap_size / prior.crop_side
    f = prior.focal.mean(dim=1) * hm_per_px
    return f.repeat_interleave(hypotheses) * data_scale / transl[:, 2].clamp(min=0.5)


def spread_to_vertices(move: torch.Tensor, x0: torch.Tensor, num_joints: int, bandwidth_units: float) -> torch.Tensor:
    """Carry the joints' moves (last ``num_joints`` rows of ``move``) over to the mesh vertices.

    Each vertex moves by the average of the joint moves weighted by a Gaussian of its distance to
    each joint in the predicted clean state ``x0`` (both in state units), so that a limb follows
    its joints as a smooth deformation and a common shift moves the whole mesh.
    """
    vertices, joints = x0[:, :-num_joints], x0[:, -num_joints:]
    weights = torch.softmax(-torch.cdist(vertices, joints) ** 2 / (2 * bandwidth_units**2), dim=-1)
    return torch.cat([move[:, :-num_joints] + weights @ move[:, -num_joints:], move[:, -num_joints:]], dim=1)


def world_move(joints_rel: torch.Tensor, prior, hypotheses: int) -> torch.Tensor:
    """Move (B·M, J, 3) metres taking root-relative joints onto the prior's 3D joints, weighted.

    The 3D prior is first rotated and shifted onto the joints (weighted Kabsch, proper rotation),
    so only the pose is compared, not MediaPipe's own global orientation; each joint's move is its
    weight times the gap. By the envelope theorem this is (minus half) the gradient of the aligned
    gap Σ w ‖R·p + t − q‖² at the optimal R, t. Zero without a 3D prior.
    """
    if prior.world is None:
        return torch.zeros_like(joints_rel)
    q = prior.world.repeat_interleave(hypotheses, dim=0)
    w = prior.world_weights.repeat_interleave(hypotheses, dim=0)[..., None]
    total = w.sum(1, keepdim=True).clamp(min=1e-6)
    p_mean, q_mean = (w * joints_rel).sum(1, keepdim=True) / total, (w * q).sum(1, keepdim=True) / total
    p, q = joints_rel - p_mean, q - q_mean
    u, _, vt = torch.linalg.svd(p.transpose(1, 2) @ (w * q))
    d = torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)).sign()
    flip = torch.ones_like(u[:, 0])
    flip[:, 2] = torch.where(d == 0, 1.0, d)
    rotation = vt.transpose(1, 2) @ torch.diag_embed(flip) @ u.transpose(1, 2)  # R p ≈ q
    return w * (q @ rotation - p)
