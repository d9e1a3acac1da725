"""SMPL / SMPL-X through ``smplx`` from a model file the user supplies (licence-walled)."""
from __future__ import annotations

from pathlib import Path

import torch

from models.body.base import SMPL_TO_CANONICAL, BodyModel, BodyModelError

SMPL_POSE_JOINTS = [
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hand", "right_hand",
]
SMPLX_POSE_JOINTS = SMPL_POSE_JOINTS[:21]


class SmplBody(BodyModel):
    """SMPL (23 pose joints, 10 betas) or SMPL-X (21 body joints) loaded by ``smplx``."""

    def __init__(self, kind: str, model_path: str | Path | None, num_betas: int = 10) -> None:
        super().__init__()
        if model_path is None:
            raise BodyModelError(
                f"--body-model {kind} needs --model-path: the {kind.upper()} model file "
                f"({kind.upper()}_NEUTRAL.pkl or .npz, from the {kind.upper()} website)"
            )
        path = Path(model_path)
        if not path.is_file():
            raise BodyModelError(f"{kind.upper()} model file not found: {path} (expected {kind.upper()}_NEUTRAL.pkl or .npz)")
        import smplx

        try:
            self.body = smplx.create(str(path), model_type=kind, num_betas=num_betas, ext=path.suffix[1:])
        except Exception as err:  # smplx raises many kinds on malformed files
            raise BodyModelError(
                f"{path} is not a valid {kind.upper()} model file ({type(err).__name__}: {err}); "
                f"expected the official {kind.upper()}_NEUTRAL model"
            ) from None
        self.name = kind
        self.pose_joint_names = SMPL_POSE_JOINTS if kind == "smpl" else SMPLX_POSE_JOINTS
        self.shape_names = [f"beta{i}" for i in range(num_betas)]
        self.register_buffer("faces", torch.as_tensor(self.body.faces.astype("int64")), persistent=False)
        self.register_buffer("to_canonical", SMPL_TO_CANONICAL.clone(), persistent=False)
        self.joint_names = [f"joint{i}" for i in range(self._joint_count())]

    def _joint_count(self) -> int:
        with torch.no_grad():
            return self._canonical(torch.zeros(1, self.num_pose_joints, 3), self.neutral_shape())[1].shape[1]

    @property
    def num_vertices(self) -> int:
        return int(self.body.v_template.shape[0])

    def neutral_shape(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, self.num_shape)

    def _canonical(self, pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = max(pose.shape[0], shape.shape[0])
        out = self.body(
            betas=shape.expand(batch, -1),
            body_pose=pose.expand(batch, -1, -1).reshape(batch, -1),
            global_orient=pose.new_zeros(batch, 3),
            transl=pose.new_zeros(batch, 3),
        )
        pelvis = out.joints[:, :1]
        rot = self.to_canonical.T
        return (out.vertices - pelvis) @ rot, (out.joints - pelvis) @ rot
