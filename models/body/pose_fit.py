"""Fit anny's skeleton to a recovered mesh: bone rotations, body orientation and translation per
frame (warm-started from the previous one), the shape once per run.

The recovery (``models.hmdiff``) returns vertices and COCO-17 joints, not pose parameters; an
animation tool needs a skeleton. This module finds the anny pose that reproduces a recovered
mesh on a **reduced rig**: the root plus the 25 bones the pose sampler drives
(:data:`FIT_BONES`: spine, neck, head, clavicles, arms, forearm twist, wrists, legs, feet).
Every other anny bone (fingers, toes, eyes, pelvis and twist bones) keeps its zero rotation and
is merged into its nearest fitted ancestor, which is exact: with a zero ``local-ref`` rotation a
bone moves exactly like its parent.

Conventions (those of :mod:`models.synth.skeleton`): rotations are anny ``local-ref``, relative to
the parent and expressed in anny's world axes (x left, y back, z up), so ``G_i = G_parent @ R_i``
and a head sits at ``h_i = h_parent + G_parent @ (h0_i - h0_parent)``, ``h0`` being the heads at
zero pose (anny's *reference* pose, which is not its rest mesh: see :meth:`SkeletonFitter.rest_model`).
The body goes into the camera by ``R_body @ ANNY_TO_CANONICAL`` and ``transl`` (the pelvis, the
``root`` bone's head), as :meth:`BodyModel.forward` does with ``global_orient`` and ``transl``.
The fitted pose fed to :meth:`BodyModel.forward` (:meth:`SkeletonFitter.pose_vector`) gives the
same mesh as :meth:`SkeletonFitter.skin_full` (to float rounding).

The fit is Levenberg–Marquardt on multiplicative rotation updates ``R <- R exp([d])`` with an
analytic Jacobian, against a vertex subset (default: the 256 coarse-mesh vertices the diffusion
predicts) and the 17 COCO joints (anny's COCO regressor carried exactly through the skinning as
per-bone moments), plus a weak pull of each bone toward zero rotation for what the mesh leaves
undetermined. The shape (anny's 6 phenotypes) is fitted with the pose on one frame, by finite
differences, then kept. Speed and error on real recoveries: BENCHMARKS.md.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from models.body.base import ANNY_TO_CANONICAL, BodyModel

_BLAS = None  # threadpoolctl controller, made on first use

FIT_BONES = (
    "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck02", "neck03", "head",
    *(f"{bone}.{side}" for side in "LR" for bone in (
        "clavicle", "upperarm01", "lowerarm01", "lowerarm02", "wrist", "upperleg01", "lowerleg01", "foot")),
)
CANONICAL = ANNY_TO_CANONICAL.double().numpy()  # anny axes -> canonical body frame


class PoseFitError(ValueError):
    """The fit cannot run on this input; the message is one line."""


@dataclass(frozen=True)
class Rig:
    """The reduced anny skeleton at one shape: the root and the fitted bones, parents first."""

    names: list[str]  # root first
    parents: list[int]  # index into ``names``, -1 for the root
    rest: np.ndarray  # (J, 3) heads at zero pose, anny axes, metres, root head at the origin
    ends: np.ndarray  # (J, 3) a point beyond each bone (its anny children's mean head), same frame
    shape: np.ndarray  # (S,) the phenotype values this rig was built for

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) vector from each bone's parent head to its head at zero pose (zero for the root)."""
        return self.rest - self.rest[np.maximum(np.asarray(self.parents), 0)]


@dataclass
class PoseFrame:
    """One frame's fitted pose on the reduced rig (camera frame, metres)."""

    local: np.ndarray  # (J-1, 3, 3) ``local-ref`` rotations of the fitted bones (rig order, root excluded)
    body: np.ndarray  # (3, 3) canonical body frame -> camera (``global_orient`` as a matrix)
    transl: np.ndarray  # (3,) the pelvis (root head) in the camera
    error_mm: float = float("nan")  # mean distance over the fitted vertices after the fit
    joint_error_mm: float = float("nan")  # mean distance over the fitted joints after the fit
    iterations: int = 0
    seconds: float = 0.0  # time the fit took (set by fit_sequence; the first frame's includes the shape)

    def copy(self) -> "PoseFrame":
        return PoseFrame(self.local.copy(), self.body.copy(), self.transl.copy(), self.error_mm,
                         self.joint_error_mm, self.iterations)


@dataclass
class FitSettings:
    """How hard the fit works (the measured cost and error are in BENCHMARKS.md)."""

    iterations: int = 3  # LM iterations of a warm-started frame
    cold_iterations: int = 30  # of a frame without a usable previous fit
    shape_iterations: int = 12  # LM iterations over shape and pose together (first frame)
    joint_weight: float = 1.0  # per joint, relative to one vertex
    rest_weight: float = 0.01  # pull of each bone toward zero rotation (metres per unit of |R - I|)
    damping: float = 1e-3  # initial LM damping (times the diagonal of J^T J)
    tolerance_mm: float = 0.01  # stop when an accepted step improves the RMS error less than this
    retry_mm: float = 40.0  # a warm fit worse than this (and 1.5x its start) is redone cold, the better kept


@contextmanager
def single_threaded():
    """BLAS and torch on one thread: the fit's products and solves are small (81 unknowns) and
    slowest multi-threaded, by 15x on a busy 2-core machine (0.9 vs 15 ms per solve; anny's rest
    model 74 vs 244 ms)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _BLAS.limit(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def hat(v: np.ndarray) -> np.ndarray:
    """Skew matrices (..., 3, 3) of vectors (..., 3): ``hat(v) @ x == cross(v, x)``."""
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def exp_so3(v: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues)."""
    theta = np.linalg.norm(v, axis=-1)[..., None, None]
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24, (1.0 - np.cos(safe)) / safe**2)
    k = hat(v)
    return np.eye(3) + a * k + b * (k @ k)


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``r`` and translation ``t`` minimising ``|r @ source + t - target|`` over points (N, 3)."""
    ms, mt = source.mean(0), target.mean(0)
    u, _, vt = np.linalg.svd((target - mt).T @ (source - ms))
    r = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return r, mt - r @ ms


def orthonormal(r: np.ndarray) -> np.ndarray:
    """The nearest rotation(s) to ``r`` (..., 3, 3)."""
    u, _, vt = np.linalg.svd(r)
    u = u.copy()
    u[..., :, -1] *= np.sign(np.linalg.det(u @ vt))[..., None]
    return u @ vt


@dataclass
class _Points:
    """Points as linear functions of the rig's bone transforms (anny axes, zero pose -> posed):
    ``p = sum_j G_j m_j + s_j (h_j - G_j h0_j)``.

    A vertex's ``m_j``/``s_j`` are its skinning moments/weights on rig bone ``j``; a regressed
    joint's are the regressor's sums of those over its vertices (exact: skinning and regression
    are both linear).
    """

    rest: np.ndarray  # (J, 3) rig heads at zero pose
    moments: np.ndarray  # (N, J, 3)
    weights: np.ndarray  # (N, J)


class SkeletonFitter:
    """Fits :class:`PoseFrame` s on anny's reduced rig to recovered meshes (camera frame, metres).

    ``vertex_ids``: the full-mesh vertices the fit looks at (default: the 256 coarse-mesh
    vertices); ``joints=True`` adds the 17 COCO-17 joints. Call :meth:`fit_shape` once (first
    frame with a person) or :meth:`set_shape`, then :meth:`fit` per frame with the previous
    frame's result as ``warm``.
    """

    def __init__(self, body: BodyModel, bones: tuple[str, ...] = FIT_BONES, vertex_ids: np.ndarray | None = None,
                 joints: bool = True, settings: FitSettings | None = None) -> None:
        if body.name != "anny":
            raise PoseFitError(f"skeleton fitting needs the anny body model, not {body.name}")
        unknown = [b for b in bones if b not in body.joint_names]
        if unknown:
            raise PoseFitError(f"unknown anny bones: {', '.join(unknown)}")
        self.body = body
        self.settings = settings or FitSettings()
        anny = body.anny
        self._anny_parents = [int(p) for p in anny.bone_parents]
        keep = sorted({0, *(body.joint_names.index(b) for b in bones)})
        position = {a: i for i, a in enumerate(keep)}
        owner = []  # each anny bone moves with its nearest kept ancestor (itself if kept)
        for a in range(len(self._anny_parents)):
            b = a
            while b not in position:
                b = self._anny_parents[b]
            owner.append(position[b])
        self._anny_index = keep
        self._owner = np.asarray(owner)
        self.parents = [-1] + [owner[self._anny_parents[a]] for a in keep[1:]]
        self.names = [body.joint_names[a] for a in keep]
        num = len(keep)
        if vertex_ids is None:
            from models.body.coarse import load_coarse_mesh

            vertex_ids = load_coarse_mesh("anny", 256).indices.numpy()
        self.vertex_ids = np.asarray(vertex_ids, np.int64)
        self.use_joints = joints
        self._regressor = None
        if joints:
            from models.body.joints import regressor

            self._regressor = regressor(body, "coco17").double().numpy()
        self._bone_index = anny.vertex_bone_indices.long().numpy()  # (V, K)
        self._bone_weights = anny.vertex_bone_weights.double().numpy()  # (V, K)
        dense = np.zeros((body.num_vertices, num))  # (V, J) rig skin weights
        np.add.at(dense, (np.arange(body.num_vertices)[:, None], self._owner[self._bone_index]), self._bone_weights)
        self.vertex_weights = dense
        self._subtree = np.eye(num)  # [i, c] = 1 if c is in the subtree of i
        for c in range(num - 1, 0, -1):  # children come after their parents
            self._subtree[self.parents[c]] += self._subtree[c]
        depth = [0] * num
        for i in range(1, num):
            depth[i] = depth[self.parents[i]] + 1
        self._levels = [(np.array([i for i in range(num) if depth[i] == d]),
                         np.array([self.parents[i] for i in range(num) if depth[i] == d])) for d in range(1, max(depth) + 1)]
        self.shape: np.ndarray = np.full(body.num_shape, 0.5)
        self.rig: Rig
        self._points: _Points
        self.set_shape(self.shape)

    @property
    def num_points(self) -> int:
        return len(self.vertex_ids) + (17 if self.use_joints else 0)

    # ------------------------------------------------------------------ shape
    def rest_model(self, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """anny at zero pose for phenotypes ``shape`` (S,): per-vertex skinning moments (V, J, 3) on
        the rig, the rig's heads (J, 3) and every anny bone's head (B, 3), anny axes, root at the origin.

        anny's zero pose is its *reference* pose: each bone takes a reference orientation, so its
        zero-pose transform ``B0_b`` (rest -> reference) differs per bone and the zero-pose mesh is
        not one rigid move of the rest mesh. A vertex's moment on rig bone ``a`` is therefore
        ``sum_b w_vb B0_b v_rest`` over the anny bones ``b`` that ``a`` owns; a pose with world
        rotations ``G`` and heads ``h`` puts it at ``sum_a G_a m_va + s_va (h_a - G_a h0_a)``.
        """
        anny = self.body.anny
        with torch.no_grad():
            _, phenotype, local, facial = anny.get_tensor_inputs(None, torch.as_tensor(shape, dtype=torch.float32)[None],
                                                                 None, None)
            coeffs = anny._get_phenotype_blendshape_coefficients(phenotype, local, facial)
            rest = anny.get_rest_model(coeffs)
            zero, posed = anny.get_bone_transforms(None, rest["rest_bone_poses"])
        zero, heads = zero[0].double().numpy(), posed[0, :, :3, 3].double().numpy()
        vertices = rest["rest_vertices"][0].double().numpy()
        index = self._bone_index
        moved = np.einsum("vkab,vb->vka", zero[index, :3, :3], vertices) + zero[index, :3, 3]
        weighted = self._bone_weights[..., None] * moved
        owners, rows = self._owner[index], np.arange(len(vertices))
        moments = np.zeros((len(vertices), len(self.parents), 3))
        for k in range(index.shape[1]):  # one influence slot at a time: no repeated (row, owner) pair
            moments[rows, owners[:, k]] += weighted[:, k]
        heads = heads - heads[0]
        return moments, heads[self._anny_index], heads

    def _fit_points(self, shape: np.ndarray) -> tuple[_Points, np.ndarray, np.ndarray]:
        moments, rest, anny_heads = self.rest_model(shape)
        ids = self.vertex_ids
        fit_moments, weights = moments[ids], self.vertex_weights[ids]
        if self.use_joints:
            reg = self._regressor
            fit_moments = np.concatenate([fit_moments, (reg @ moments.reshape(len(moments), -1)).reshape(len(reg), -1, 3)])
            weights = np.concatenate([weights, reg @ self.vertex_weights])
        return _Points(rest, fit_moments, weights), moments, anny_heads

    def set_shape(self, shape: np.ndarray) -> Rig:
        """Use phenotypes ``shape`` (S,) from now on; returns the rig at that shape."""
        shape = np.clip(np.asarray(shape, np.float64), 0.0, 1.0)
        if shape.shape != (self.body.num_shape,):
            raise PoseFitError(f"expected {self.body.num_shape} shape values, got {shape.shape}")
        self._points, _, anny_heads = self._fit_points(shape)
        self.shape = shape
        ends = np.empty((len(self.names), 3))
        for i, a in enumerate(self._anny_index):
            children = [c for c, p in enumerate(self._anny_parents) if p == a]
            rig_children = [j for j, p in enumerate(self.parents) if p == i]
            if children:
                ends[i] = anny_heads[children].mean(0)
            elif rig_children:
                ends[i] = self._points.rest[rig_children].mean(0)
            else:
                ends[i] = anny_heads[a] + 0.05 * np.array([0.0, 0.0, 1.0])
        self.rig = Rig(names=list(self.names), parents=list(self.parents), rest=self._points.rest.copy(),
                       ends=ends, shape=shape.copy())
        return self.rig

    # ---------------------------------------------------------------- forward
    def _pose(self, local: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (J, 3, 3) and heads (J, 3), anny axes, from local rotations (J-1, 3, 3)."""
        num = len(self.parents)
        world = np.empty((num, 3, 3))
        heads = np.empty((num, 3))
        world[0], heads[0] = np.eye(3), rest[0]
        for idx, par in self._levels:
            heads[idx] = heads[par] + np.einsum("jab,jb->ja", world[par], rest[idx] - rest[par])
            world[idx] = world[par] @ local[idx - 1]
        return world, heads

    def _evaluate(self, local: np.ndarray, body: np.ndarray, transl: np.ndarray, data: _Points,
                  jacobian: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Points (N, 3) in the camera and, with ``jacobian``, their derivatives (N, 3, 3 (J-1) + 6)
        w.r.t. the bones' increments ``R_i <- R_i exp([d_i])``, ``R_body <- R_body exp([d])`` and
        the translation.

        A bone's increment is the world rotation ``w = G_i d_i`` of its subtree about its head
        ``h_i``: a point moves by ``w x Y_i``, ``Y_i = sum_{c in subtree(i)} (y_c - s_c h_i)``, ``y_c``
        being bone ``c``'s share of the point.
        """
        world, heads = self._pose(local, data.rest)
        shift = heads - np.einsum("jab,jb->ja", world, data.rest)
        share = np.einsum("jab,njb->nja", world, data.moments) + data.weights[..., None] * shift  # (N, J, 3)
        canonical = share.sum(1) @ CANONICAL.T
        points = canonical @ body.T + transl
        if not jacobian:
            return points, None
        lever = np.einsum("ic,nca->nia", self._subtree[1:], share) - (data.weights @ self._subtree[1:].T)[..., None] * heads[1:]
        place = body @ CANONICAL
        bones = -place @ hat(lever) @ world[1:]  # (N, J-1, 3, 3)
        n = len(points)
        jac = np.concatenate([bones.transpose(0, 2, 1, 3).reshape(n, 3, -1), -body @ hat(canonical),
                              np.broadcast_to(np.eye(3), (n, 3, 3))], 2)
        return points, jac

    def _residual(self, local, body, transl, data, target, weights, jacobian: bool = False):
        """Weighted point residuals, then the pulls ``w (R_i - I)`` toward zero rotation; their Jacobian."""
        points, jac = self._evaluate(local, body, transl, data, jacobian)
        w = self.settings.rest_weight
        res = np.concatenate([((points - target) * weights[:, None]).ravel(), ((local - np.eye(3)) * w).ravel()])
        if jac is None:
            return res, None
        num = len(local)
        pull = np.zeros((num, 9, jac.shape[-1]))
        block = w * np.einsum("iab,kbc->iack", local, hat(np.eye(3))).reshape(num, 9, 3)  # d vec(R_i hat(d)) / dd
        pull[np.arange(num)[:, None, None], np.arange(9)[None, :, None], 3 * np.arange(num)[:, None, None] + np.arange(3)] = block
        return res, np.concatenate([(jac * weights[:, None, None]).reshape(-1, jac.shape[-1]), pull.reshape(num * 9, -1)])

    # -------------------------------------------------------------------- fit
    def _targets(self, vertices: np.ndarray, joints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Target points (N, 3) and their weights (N,) from full (V, 3) or fitted-subset vertices."""
        vertices = np.asarray(vertices, np.float64)
        if vertices.shape == (self.body.num_vertices, 3):
            vertices = vertices[self.vertex_ids]
        if vertices.shape != (len(self.vertex_ids), 3) or not np.isfinite(vertices).all():
            raise PoseFitError(f"expected finite vertices ({self.body.num_vertices}, 3) or "
                               f"({len(self.vertex_ids)}, 3), got {vertices.shape}")
        if not self.use_joints:
            return vertices, np.ones(len(vertices))
        if joints is None:
            return np.concatenate([vertices, np.zeros((17, 3))]), np.r_[np.ones(len(vertices)), np.zeros(17)]
        joints = np.asarray(joints, np.float64)
        if joints.shape != (17, 3) or not np.isfinite(joints).all():
            raise PoseFitError(f"expected finite COCO-17 joints (17, 3), got {joints.shape}")
        return np.concatenate([vertices, joints]), np.r_[np.ones(len(vertices)), np.full(17, self.settings.joint_weight)]

    def initial(self, vertices: np.ndarray) -> PoseFrame:
        """A cold start: the zero pose rigidly aligned to the target's fitted vertices."""
        target, _ = self._targets(vertices, None)
        local = np.broadcast_to(np.eye(3), (len(self.parents) - 1, 3, 3)).copy()
        model, _ = self._evaluate(local, np.eye(3), np.zeros(3), self._points)
        n = len(self.vertex_ids)
        body, transl = kabsch(model[:n], target[:n])
        return PoseFrame(local=local, body=body, transl=transl)

    def fit(self, vertices: np.ndarray, joints: np.ndarray | None = None, warm: PoseFrame | None = None,
            iterations: int | None = None) -> PoseFrame:
        """The pose (at the current shape) best reproducing ``vertices`` (V, 3) (or the fitted
        subset) and ``joints`` (17, 3) COCO-17, camera frame, metres.

        From ``warm`` (the previous frame) if given; a warm fit that ends worse than
        ``settings.retry_mm`` and 1.5 times the previous frame's error (a jump the warm start did not
        follow) is redone from a cold start and the better one kept.
        """
        with single_threaded():
            return self._fit(vertices, joints, warm, iterations)

    def _fit(self, vertices, joints, warm, iterations) -> PoseFrame:
        target, weights = self._targets(vertices, joints)
        s = self.settings
        if warm is None:
            frame = self._lm(self.initial(target[: len(self.vertex_ids)]), target, weights, self._points,
                             iterations or s.cold_iterations)
        else:
            frame = self._lm(warm.copy(), target, weights, self._points, iterations or s.iterations)
        frame.error_mm, frame.joint_error_mm = self._errors(frame, target, weights)
        if warm is not None and frame.error_mm > max(s.retry_mm, 1.5 * warm.error_mm):  # worse than it was
            cold = self._fit(target[: len(self.vertex_ids)], joints, None, None)
            if cold.error_mm < frame.error_mm:
                return cold
        return frame

    def _errors(self, frame: PoseFrame, target: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        points, _ = self._evaluate(frame.local, frame.body, frame.transl, self._points)
        dist = np.linalg.norm(points - target, axis=1) * 1e3
        n = len(self.vertex_ids)
        joint = dist[n:][weights[n:] > 0]
        return float(dist[:n].mean()), float(joint.mean()) if len(joint) else float("nan")

    def _lm(self, frame: PoseFrame, target: np.ndarray, weights: np.ndarray, data: _Points,
            iterations: int, shape: np.ndarray | None = None) -> PoseFrame:
        """Levenberg–Marquardt on rotation increments (and on ``shape`` by finite differences, if given)."""
        num = len(self.parents) - 1
        local, body, transl = frame.local, frame.body, frame.transl
        size = 3 * (num + 2)
        cost = float(np.square(self._residual(local, body, transl, data, target, weights)[0]).sum())
        count = float((weights > 0).sum())
        lam, done = self.settings.damping, 0
        for done in range(1, iterations + 1):
            res, jac = self._residual(local, body, transl, data, target, weights, jacobian=True)
            if shape is not None:
                cols = []
                for k in range(len(shape)):
                    step = np.zeros_like(shape)
                    step[k] = 1e-3 if shape[k] < 0.999 else -1e-3
                    moved, _, _ = self._fit_points(shape + step)
                    cols.append((self._residual(local, body, transl, moved, target, weights)[0] - res) / step[k])
                jac = np.concatenate([jac, np.stack(cols, 1)], 1)
            jtj, grad = jac.T @ jac, jac.T @ res
            diag = np.diag(jtj.diagonal() + 1e-9)
            for _ in range(8):
                step = -np.linalg.solve(jtj + lam * diag, grad)
                rot = exp_so3(step[: 3 * (num + 1)].reshape(num + 1, 3))
                local1, body1, transl1 = local @ rot[:num], body @ rot[num], transl + step[size - 3: size]
                data1, shape1 = data, shape
                if shape is not None:
                    shape1 = np.clip(shape + step[size:], 0.0, 1.0)
                    data1, _, _ = self._fit_points(shape1)
                new_cost = float(np.square(self._residual(local1, body1, transl1, data1, target, weights)[0]).sum())
                if new_cost < cost:
                    break
                lam *= 10.0
            else:
                break  # no step improves: converged (or stuck)
            gain = cost - new_cost
            local, body, transl, cost, data, shape = local1, body1, transl1, new_cost, data1, shape1
            lam = max(lam / 10.0, 1e-9)
            if np.sqrt(gain / count) * 1e3 < self.settings.tolerance_mm:
                break
        if shape is not None:
            self._shape_found = shape
        return PoseFrame(local=orthonormal(local), body=orthonormal(body), transl=np.array(transl), iterations=done)

    def fit_shape(self, vertices: np.ndarray, joints: np.ndarray | None = None) -> tuple[np.ndarray, PoseFrame]:
        """Fit the shape with the pose on one frame and keep that shape; returns it and the pose."""
        with single_threaded():
            frame = self._fit(vertices, joints, None, None)
            target, weights = self._targets(vertices, joints)
            self._shape_found = self.shape
            frame = self._lm(frame, target, weights, self._points, self.settings.shape_iterations, shape=self.shape.copy())
            self.set_shape(self._shape_found)
            return self.shape.copy(), self._fit(vertices, joints, frame, None)

    # ---------------------------------------------------------------- outputs
    def pose_vector(self, frame: PoseFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(pose (P, 3), global_orient (3,), transl (3,))`` for :meth:`BodyModel.forward`."""
        import roma

        pose = torch.zeros(len(self.body.joint_names) - 1, 3)
        pose[torch.as_tensor(self._anny_index[1:]) - 1] = roma.rotmat_to_rotvec(torch.as_tensor(frame.local)).float()
        return pose, roma.rotmat_to_rotvec(torch.as_tensor(frame.body)).float(), torch.as_tensor(frame.transl).float()

    def skin_full(self, frame: PoseFrame) -> np.ndarray:
        """All vertices (V, 3) of the fitted body in the camera frame (anny's forward, exactly)."""
        moments, rest, _ = self.rest_model(self.shape)
        return self._evaluate(frame.local, frame.body, frame.transl, _Points(rest, moments, self.vertex_weights))[0]

    def zero_pose_vertices(self) -> np.ndarray:
        """Vertices (V, 3) of the current shape at zero pose, anny axes, root head at the origin."""
        return self.rest_model(self.shape)[0].sum(1)

    def heads(self, frame: PoseFrame) -> np.ndarray:
        """The rig's bone heads (J, 3) in the camera frame."""
        _, heads = self._pose(frame.local, self._points.rest)
        return heads @ (frame.body @ CANONICAL).T + frame.transl


def fit_sequence(fitter: SkeletonFitter, vertices: list[np.ndarray | None], joints: list[np.ndarray | None] | None = None,
                 shape: np.ndarray | None = None) -> list[PoseFrame | None]:
    """Fit a run's frames in order: ``None`` for a frame without a person, the shape fitted on the
    first frame with one (unless ``shape`` is given), each frame warm-started from the previous
    one and cold after a gap."""
    joints = joints if joints is not None else [None] * len(vertices)
    out: list[PoseFrame | None] = []
    previous = None
    with single_threaded():
        if shape is not None:
            fitter.set_shape(shape)
        for v, j in zip(vertices, joints):
            started = time.perf_counter()
            if v is None:
                previous = None
            elif shape is None:
                shape, previous = fitter.fit_shape(v, j)
            else:
                previous = fitter.fit(v, j, warm=previous)
            if previous is not None:
                previous.seconds = time.perf_counter() - started
            out.append(previous)
    return out
