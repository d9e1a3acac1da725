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

from kernels import AlignmentEnergy, alignment_energy


@dataclass
class DATConfig:
    enabled: bool = True
    rho: float = 0.5  # fraction of the Gauss-Newton step toward U at each guided step
    s_max: float = 4.0  # bandwidth (heatmap px) at the noisiest step
    s_min: float = 1.0  # bandwidth at the cleanest step
    converge_mm: float = 10.0  # activation strategy: off once no joint of h_0 moves more than this
    activation: bool = True  # False: guide every step (ablation)
    jacobian: str = "identity"  # "identity": dh_0/dh_k ≈ I/sqrt(ab_k) (one net call); "network": exact
    closed_form: bool = True  # identity Jacobian: AlignmentGradient; False: autograd (the torch reference)
    max_move_m: float = 0.15  # trust region: no point of h_0 moves more than this per guided step
    spread_m: float = 0.1  # > 0: each vertex follows the joint moves, Gaussian-weighted by distance (m)
    rho_world: float = 0.5  # fraction of the way toward the aligned 3D prior (when the prior has one)

    def to_dict(self) -> dict:
        return asdict(self)


def translation_normal_equations(
    keypoints: torch.Tensor, weights: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor,
    depth_prior: float = 4.0, ridge: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The camera fit's normal equations, which depend on the prior only: (Q (B,J,3,3), A (B,3,3),
    λd (B,3)) such that root-relative joints X (B,J,3) are placed at t = A⁻¹(λd − Σ_j Q_j X_j).

    Perspective, linear in t: f·(X+t_x) − (u−c)·(Z+t_z) = 0 per joint and axis, i.e. R_j (X_j + t) = 0
    with R_j = [[1, 0, −u_j], [0, 1, −v_j]] in normalised image coordinates, weighted by the prior's
    per-joint weights (Q_j = w_j R_jᵀR_j), with a tiny ridge λ (relative to the total weight) toward
    (0, 0, depth_prior) for degenerate cases: A = Σ_j Q_j + λI.
    """
    uv = (keypoints - principal[:, None]) / focal[:, None]
    rtr = uv.new_zeros(*uv.shape[:2], 3, 3)  # R_jᵀR_j
    rtr[..., 0, 0] = rtr[..., 1, 1] = 1.0
    rtr[..., 0, 2], rtr[..., 1, 2] = -uv[..., 0], -uv[..., 1]
    rtr[..., 2, 0], rtr[..., 2, 1] = -uv[..., 0], -uv[..., 1]
    rtr[..., 2, 2] = uv.square().sum(-1)
    q = weights[..., None, None] * rtr
    lam = ridge * (weights.sum(1) + 1e-3)
    a = q.sum(1) + lam[:, None, None] * torch.eye(3, device=uv.device, dtype=uv.dtype)
    return q, a, lam[:, None] * uv.new_tensor([0.0, 0.0, depth_prior])


def estimate_translation(
    joints_rel: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor,
    focal: torch.Tensor, principal: torch.Tensor, depth_prior: float = 4.0, ridge: float = 1e-5,
) -> torch.Tensor:
    """Camera translation t (B,3) placing root-relative joints (B,J,3) on keypoints (B,J,2) px
    (:func:`translation_normal_equations`)."""
    q, a, lam_d = translation_normal_equations(keypoints, weights, focal, principal, depth_prior, ridge)
    return torch.linalg.solve(a, lam_d - torch.einsum("bjxy,bjy->bx", q, joints_rel))


def per_hypothesis(x: torch.Tensor, hypotheses: int) -> torch.Tensor:
    """Rows (B, ...) repeated for M hypotheses each (B·M, ...); ``x`` itself for one (no copy)."""
    return x if hypotheses == 1 else x.repeat_interleave(hypotheses, dim=0)


def fit_translation(joints_rel: torch.Tensor, prior, hypotheses: int) -> torch.Tensor:
    """:func:`estimate_translation` for (B·M, J, 3) joints against a prior of batch B."""
    rep = lambda x: per_hypothesis(x, hypotheses)  # noqa: E731
    return estimate_translation(
        joints_rel, rep(prior.keypoints), rep(prior.weights), rep(prior.focal), rep(prior.principal)
    )


class AlignmentGradient:
    """D_k's gradient w.r.t. the root-relative joints in closed form, without autograd.

    Built once per recovery: the camera fit's normal equations depend on the prior only
    (:func:`translation_normal_equations`), so t(X) = A⁻¹(λd − Σ_j Q_j X_j) is linear in the
    joints X. With C = X + t,
    P = a·(f·C_xy/C_z + c) − origin and g_j = (∂P_j/∂C_j)ᵀ ∂D/∂P_j from the alignment kernel,

        ∂D/∂X_j = g_j + (∂t/∂X_j)ᵀ Σ_i g_i = g_j − Q_j A⁻¹ Σ_i g_i,

    the same as autograd through :func:`alignment_gap` (checked in the tests) in a few dozen ops.
    """

    def __init__(self, prior, hypotheses: int) -> None:
        rep = lambda x: per_hypothesis(x, hypotheses)  # noqa: E731
        self.prior, self.hypotheses = prior, hypotheses
        self.focal = rep(prior.focal)
        self.q, a, self.lam_d = translation_normal_equations(rep(prior.keypoints), rep(prior.weights), self.focal,
                                                             rep(prior.principal))
        self.a_inv = torch.linalg.inv(a)
        self.hm_per_px = rep(prior.heatmap_size / prior.crop_side)  # (B·M,)
        self.fused = prior.keypoints.device.type == "cpu" and dat_step_kernels() is not None
        if self.fused:  # the kernel's inputs that stay the same at every guided step, as arrays once
            numpy = lambda t: t.detach().numpy()  # noqa: E731
            self._fused_inputs = dict(
                U=numpy(prior.heatmaps), weights=numpy(prior.weights), q=numpy(self.q), a_inv=numpy(self.a_inv),
                lam_d=numpy(self.lam_d), focal=numpy(prior.focal), principal=numpy(prior.principal),
                origin=numpy(prior.crop_center - prior.crop_side[:, None] / 2),
                hm_per_px=numpy(prior.heatmap_size / prior.crop_side),
            )
            self._fused_inputs["umax"] = dat_step_kernels().map_maxima(self._fused_inputs["U"])

    def translation(self, joints_rel: torch.Tensor) -> torch.Tensor:
        """:func:`fit_translation` of (B·M, J, 3) joints, from the cached normal matrix."""
        rhs = self.lam_d - torch.einsum("njab,njb->na", self.q, joints_rel)
        return (self.a_inv @ rhs[..., None])[..., 0]

    def __call__(self, joints_rel: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(∂D_k/∂X (B·M, J, 3), translations (B·M, 3)) for root-relative joints X in metres."""
        transl = self.translation(joints_rel)
        cam = joints_rel + transl[:, None]
        b, m = len(self.prior), self.hypotheses
        points = self.prior.project_to_heatmap(cam.reshape(b, m, *cam.shape[1:]))  # (B, M, J, 2)
        _, grad_p = alignment_energy(self.prior.heatmaps, points, self.prior.weights, s)
        scale = (self.hm_per_px[:, None, None] * self.focal[:, None]) * grad_p.reshape(b * m, -1, 2)
        inv_z = 1.0 / cam[..., 2:3]
        g = torch.cat([scale * inv_z, -(scale * cam[..., :2]).sum(-1, keepdim=True) * inv_z**2], dim=-1)
        through_t = torch.einsum("njab,nb->nja", self.q, (self.a_inv @ g.sum(1)[..., None])[..., 0])
        return g - through_t, transl

    def fused_move(self, points: torch.Tensor, s: float, cfg: DATConfig) -> torch.Tensor:
        """The whole DAT move (B·M, N, 3) metres of points (vertices, then joints; metres) in one
        Numba call (``kernels.dat_step``): what the torch path of ``Sampler._guided`` computes."""
        p = self.prior
        pull = p.world is not None and cfg.rho_world > 0
        move = dat_step_kernels().dat_move(
            points=points.detach().numpy(), hypotheses=self.hypotheses, s=s, rho=cfg.rho,
            world=p.world.numpy() if pull else None, world_w=p.world_weights.numpy() if pull else None,
            rho_world=cfg.rho_world, spread=cfg.spread_m, max_move=cfg.max_move_m, **self._fused_inputs,
        )
        return torch.from_numpy(move).to(points.dtype)


def dat_step_kernels():
    """The module ``kernels.dat_step``, or None where Numba is missing (the torch path runs then)."""
    try:
        from kernels import dat_step
    except ImportError:
        return None
    return dat_step


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
    return per_hypothesis(f, hypotheses) * data_scale / transl[:, 2].clamp(min=0.5)


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
    q = per_hypothesis(prior.world, hypotheses)
    w = per_hypothesis(prior.world_weights, hypotheses)[..., None]
    total = w.sum(1, keepdim=True).clamp(min=1e-6)
    p_mean, q_mean = (w * joints_rel).sum(1, keepdim=True) / total, (w * q).sum(1, keepdim=True) / total
    p, q = joints_rel - p_mean, q - q_mean
    u, _, vt = torch.linalg.svd(p.transpose(1, 2) @ (w * q))
    d = torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)).sign()
    flip = torch.ones_like(u[:, 0])
    flip[:, 2] = torch.where(d == 0, 1.0, d)
    rotation = vt.transpose(1, 2) @ torch.diag_embed(flip) @ u.transpose(1, 2)  # R p ≈ q
    return w * (q @ rotation - p)
