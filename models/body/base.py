"""The body-model interface shared by anny and SMPL/SMPL-X (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

# Rotation taking a Y-up, +Z-facing body (SMPL) into the canonical frame (head -y, face -z).
SMPL_TO_CANONICAL = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
# Rotation taking a Z-up, -Y-facing body (anny) into the canonical frame.
ANNY_TO_CANONICAL = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class BodyModelError(RuntimeError):
    """A body model could not be loaded (missing or malformed model file)."""


@dataclass
class BodyOutput:
    """Posed body in the camera frame, metres."""

    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, Jm, 3), the model's own joints


class BodyModel(torch.nn.Module):
    """Parameters (pose, shape, global orientation, translation) in, vertices and joints out.

    Subclasses implement :meth:`_canonical`, returning the posed body in the canonical frame
    with the pelvis at the origin; this class applies ``global_orient`` and ``transl``.
    """

    name: str
    pose_joint_names: list[str]
    joint_names: list[str]
    shape_names: list[str]
    faces: torch.Tensor

    @property
    def num_vertices(self) -> int:
        raise NotImplementedError

    @property
    def num_pose_joints(self) -> int:
        return len(self.pose_joint_names)

    @property
    def num_shape(self) -> int:
        return len(self.shape_names)

    def neutral_shape(self, batch: int = 1) -> torch.Tensor:
        """The average shape, (batch, S)."""
        raise NotImplementedError

    def _canonical(self, pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(
        self,
        pose: torch.Tensor | None = None,
        shape: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        batch = next((t.shape[0] for t in (pose, shape, global_orient, transl) if t is not None), 1)
        device, dtype = self.faces.device, torch.float32
        if pose is None:
            pose = torch.zeros(batch, self.num_pose_joints, 3, device=device, dtype=dtype)
        if shape is None:
            shape = self.neutral_shape(batch).to(device)
        if pose.shape[1:] != (self.num_pose_joints, 3):
            raise ValueError(f"pose must be (B, {self.num_pose_joints}, 3), got {tuple(pose.shape)}")
        if shape.shape[1:] != (self.num_shape,):
            raise ValueError(f"shape must be (B, {self.num_shape}), got {tuple(shape.shape)}")
        vertices, joints = self._canonical(pose.float(), shape.float())
        if global_orient is not None:
            rot = roma.rotvec_to_rotmat(global_orient.float())
            vertices = vertices @ rot.transpose(1, 2)
            joints = joints @ rot.transpose(1, 2)
        if transl is not None:
            vertices = vertices + transl.float()[:, None]
            joints = joints + transl.float()[:, None]
        return BodyOutput(vertices=vertices, joints=joints)
