"""Random anny bodies and sparse sum-to-one linear maps fitted on them by least squares.

Shared by the coarse-mesh upsampler (``coarse.py``) and the joint regressors (``joints.py``):
each target point ``t`` (a full-mesh vertex, a joint) is written as ``sum_j w_tj x_{n_tj}`` over
a few source points ``n_t`` (its neighbours) with ``sum_j w_tj = 1``. The same scalar weights
apply to x, y and z, so a map that sums to one commutes with any rigid motion (and with any
affine map): fitting it in the canonical frame makes it valid in the camera frame.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from models.body.anny_body import AnnyBody
from models.body.base import BodyOutput

# Pose sampling ranges in degrees, per axis (x=left, y=back, z=up of anny's rest pose; the
# `local-ref` frame), for the left and middle bones; right bones mirror them (x kept, y and z
# negated). A positive x rotation swings a hanging limb backwards: hips flex forward with -x,
# knees flex with +x. Bones not listed (fingers, toes, twist bones) stay at rest.
POSE_RANGES_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "upperleg01.L": ((-90.0, 30.0), (-40.0, 15.0), (-30.0, 30.0)),
    "lowerleg01.L": ((0.0, 110.0), (0.0, 0.0), (0.0, 0.0)),
    "foot.L": ((-30.0, 30.0), (-15.0, 15.0), (-15.0, 15.0)),
    "spine01": ((-12.0, 12.0), (-8.0, 8.0), (-10.0, 10.0)),
    "spine02": ((-12.0, 12.0), (-8.0, 8.0), (-10.0, 10.0)),
    "spine03": ((-12.0, 12.0), (-8.0, 8.0), (-10.0, 10.0)),
    "spine04": ((-12.0, 12.0), (-8.0, 8.0), (-10.0, 10.0)),
    "spine05": ((-12.0, 12.0), (-8.0, 8.0), (-10.0, 10.0)),
    "neck01": ((-20.0, 20.0), (-20.0, 20.0), (-25.0, 25.0)),
    "head": ((-25.0, 25.0), (-20.0, 20.0), (-35.0, 35.0)),
    "clavicle.L": ((-10.0, 10.0), (-10.0, 10.0), (-10.0, 10.0)),
    "upperarm01.L": ((-90.0, 40.0), (-90.0, 30.0), (-45.0, 45.0)),
    "wrist.L": ((-30.0, 30.0), (-30.0, 30.0), (-30.0, 30.0)),
}
# Elbows are hinges about the axis normal to the rest upper arm and forearm; the rest elbow is
# already flexed by about 40 degrees, so this range spans roughly 5 to 140 degrees of flexion.
ELBOW_FLEX_DEG = (-35.0, 100.0)
# Phenotype sampling: age in [0.3, 1] (child to old; 0 is a baby), the others over [0, 1].
AGE_RANGE = (0.3, 1.0)


def _elbow_axis(model: AnnyBody, side: str) -> torch.Tensor:
    """Flexion axis of an elbow in anny's rest axes: upper arm x forearm (positive flexes)."""
    with torch.no_grad():
        joints = model().joints[0] @ model.to_canonical  # back to anny axes
    head = {n: joints[model.joint_names.index(f"{n}.{side}")] for n in ("upperarm01", "lowerarm01", "wrist")}
    axis = torch.linalg.cross(head["lowerarm01"] - head["upperarm01"], head["wrist"] - head["lowerarm01"])
    return axis / axis.norm()


def sample_anny_poses(model: AnnyBody, n: int, generator: torch.Generator) -> torch.Tensor:
    """Random plausible poses (n, P, 3), axis-angle in anny's ``local-ref`` frame."""
    pose = torch.zeros(n, model.num_pose_joints, 3)
    names = model.pose_joint_names
    mirror = torch.tensor([1.0, -1.0, -1.0])
    for left, ranges in POSE_RANGES_DEG.items():
        low = torch.tensor([r[0] for r in ranges])
        high = torch.tensor([r[1] for r in ranges])
        sides = [(left, torch.ones(3))]
        if left.endswith(".L"):
            sides.append((left[:-2] + ".R", mirror))
        for name, sign in sides:
            draw = low + (high - low) * torch.rand(n, 3, generator=generator)
            pose[:, names.index(name)] = torch.deg2rad(draw) * sign
    for side in ("L", "R"):
        low, high = ELBOW_FLEX_DEG
        angle = torch.deg2rad(low + (high - low) * torch.rand(n, 1, generator=generator))
        pose[:, names.index(f"lowerarm01.{side}")] = angle * _elbow_axis(model, side)
    return pose


def sample_anny_shapes(model: AnnyBody, n: int, generator: torch.Generator) -> torch.Tensor:
    """Random phenotypes (n, 6) in [0, 1], age restricted to ``AGE_RANGE``."""
    shape = torch.rand(n, model.num_shape, generator=generator)
    age = model.shape_names.index("age")
    shape[:, age] = AGE_RANGE[0] + (AGE_RANGE[1] - AGE_RANGE[0]) * shape[:, age]
    return shape


def random_anny_bodies(model: AnnyBody, n: int, seed: int, batch: int = 64) -> Iterator[BodyOutput]:
    """``n`` random posed and shaped anny bodies in the canonical frame, ``batch`` at a time."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch):
        size = min(batch, n - start)
        pose = sample_anny_poses(model, size, generator)
        shape = sample_anny_shapes(model, size, generator)
        with torch.no_grad():
            yield model(pose=pose, shape=shape)


def mocap_anny_bodies(model: AnnyBody, n: int, seed: int, batch: int = 64,
                      split: str = "train") -> Iterator[BodyOutput]:
    """``n`` anny bodies of random phenotypes, each in a CMU mocap pose of ``split``
    (``models.synth.mocap``; real motion reaches what the ranges above do not, e.g. the hips flexed
    past 90 degrees when sitting), canonical frame, ``batch`` at a time."""
    from models.synth.mocap import sample_mocap_poses  # here: models.synth builds on this package

    generator = torch.Generator().manual_seed(seed)
    pose = torch.as_tensor(sample_mocap_poses(n, np.random.default_rng(seed), split).pose, dtype=torch.float32)
    for start in range(0, n, batch):
        shape = sample_anny_shapes(model, min(batch, n - start), generator)
        with torch.no_grad():
            yield model(pose=pose[start:start + batch], shape=shape)


def fit_sum_to_one(
    neighbors: torch.Tensor,
    samples: Iterable[tuple[torch.Tensor, torch.Tensor]],
    noise: float,
) -> torch.Tensor:
    """Least-squares weights (T, k), rows summing to one, of targets over their neighbours.

    ``neighbors`` (T, k) indexes the sources; ``samples`` yields ``(sources (B, S, 3),
    targets (B, T, 3))``. With ``sum w = 1`` the residual is ``sum_j w_j (t - s_j)``, so each
    target's error is ``w^T Q w`` with ``Q_ij = sum (t - s_i).(t - s_j)`` over samples and axes.
    ``noise`` (metres) regularises: the weights minimise the expected error when every source
    coordinate also carries independent noise of that std, which adds ``noise^2 |w|^2`` per
    equation; without it the weights of a joint inside the body grow large and noise-sensitive.
    """
    count, k = neighbors.shape
    quad = torch.zeros(count, k, k, dtype=torch.float64)
    equations = 0
    for sources, targets in samples:
        diff = targets[:, :, None] - sources[:, neighbors]  # (B, T, k, 3)
        quad += torch.einsum("btkd,btld->tkl", diff, diff).double()
        equations += 3 * sources.shape[0]
    quad += equations * noise**2 * torch.eye(k, dtype=torch.float64)
    weights = torch.linalg.solve(quad, torch.ones(count, k, dtype=torch.float64))
    return (weights / weights.sum(-1, keepdim=True)).float()


def stack_sparse(neighbors: torch.Tensor, weights: torch.Tensor, columns: int) -> torch.Tensor:
    """Dense (T, columns) float32 matrix from per-row ``neighbors`` and ``weights`` (T, k)."""
    dense = torch.zeros(neighbors.shape[0], columns)
    return dense.scatter_add_(1, neighbors.long(), weights.float())
