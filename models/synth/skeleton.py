"""anny's bone skeleton (rest heads, parents) and a cheap joints-only forward kinematics.

Pose rotations are anny ``local-ref`` axis-angles: each bone's rotation relative to its parent,
expressed in the rest pose's world axes (anny axes: x = left, y = back, z = up). So a bone's world
rotation is ``G_i = G_parent @ R_i`` and its head sits at ``p_parent + G_parent @ (rest_i - rest_parent)``.
This reproduces anny's bone heads exactly (for the shape whose rest heads are used) at a tiny
fraction of the mesh forward's cost; the pose sampler uses it for plausibility checks and framing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import roma
import torch

from models.body.base import ANNY_TO_CANONICAL, BodyModel


@dataclass(frozen=True)
class Skeleton:
    """Bones of a body model in kinematic order (parents before children), root first."""

    names: list[str]  # all bones, root first; pose bones are names[1:]
    parents: list[int]  # parent index per bone, -1 for the root
    rest: np.ndarray  # (J, 3) float64 rest bone heads in anny axes, root at the origin

    def index(self, name: str) -> int:
        return self.names.index(name)

    def pose_index(self, name: str) -> int:
        """Index of a bone in the (P, 3) pose array (the root is not posable)."""
        return self.names.index(name) - 1

    def rest_vector(self, start: str, end: str) -> np.ndarray:
        """Rest-pose vector from one bone head to another (anny axes)."""
        return self.rest[self.index(end)] - self.rest[self.index(start)]


def skeleton_from_model(model: BodyModel, shape: torch.Tensor | None = None) -> Skeleton:
    """The anny skeleton at ``shape`` (default: the model's neutral shape)."""
    with torch.no_grad():
        joints = model(shape=shape).joints[0].double()  # canonical frame
    rest = (joints @ ANNY_TO_CANONICAL.double()).numpy()  # back to anny axes
    return Skeleton(names=list(model.joint_names), parents=list(model.anny.bone_parents), rest=rest)


@lru_cache(maxsize=1)
def anny_skeleton() -> Skeleton:
    """The neutral-shape anny skeleton (loads the body model once, ~0.5 s)."""
    from models.body import load_body_model

    return skeleton_from_model(load_body_model("anny"))


def _levels(parents: list[int]) -> list[list[int]]:
    """Bones grouped by depth in the tree (root excluded), parents' level first."""
    depth = [0] * len(parents)
    for i in range(1, len(parents)):
        depth[i] = depth[parents[i]] + 1
    return [[i for i, d in enumerate(depth) if d == level] for level in range(1, max(depth) + 1)]


def forward_kinematics(pose: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Bone heads (N, J, 3) in the canonical frame (pelvis at the origin) for poses (N, P, 3)."""
    n, num = pose.shape[0], len(skeleton.names)
    local = torch.cat([torch.eye(3, dtype=torch.float64).expand(n, 1, 3, 3), roma.rotvec_to_rotmat(pose.double())], 1)
    rest = torch.as_tensor(skeleton.rest, dtype=torch.float64)
    parents = torch.as_tensor([max(p, 0) for p in skeleton.parents])
    offsets = rest - rest[parents]
    world = torch.eye(3, dtype=torch.float64).repeat(n, num, 1, 1)
    heads = rest[0].repeat(n, num, 1)
    for level in _levels(skeleton.parents):
        idx = torch.as_tensor(level)
        par = parents[idx]
        heads[:, idx] = heads[:, par] + torch.einsum("njab,jb->nja", world[:, par], offsets[idx])
        world[:, idx] = world[:, par] @ local[:, idx]
    return (heads @ ANNY_TO_CANONICAL.double().T).float()
