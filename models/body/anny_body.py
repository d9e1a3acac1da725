"""The anny body model (Apache-2.0 code, CC0 MakeHuman data, shipped in its wheel)."""
from __future__ import annotations

import os
from pathlib import Path

import roma
import torch

from models.body.base import ANNY_TO_CANONICAL, BodyModel

REPO_ROOT = Path(__file__).resolve().parents[2]


def configure_anny_cache() -> Path:
    """Point anny's model cache (~800 MB, built once in ~80 s) inside the repo unless set."""
    path = Path(os.environ.setdefault("ANNY_CACHE_DIR", str(REPO_ROOT / ".cache" / "anny")))
    path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WARP_CACHE_PATH", str(path.parent / "warp"))
    return path


class AnnyBody(BodyModel):
    """anny with axis-angle pose per bone (``local-ref`` frame) and 6 phenotype shape values."""

    name = "anny"

    def __init__(self) -> None:
        super().__init__()
        configure_anny_cache()
        import anny

        self.anny = anny.Anny(skinning_method="lbs").to(torch.float32)
        bones = list(self.anny.bone_labels)
        self.pose_joint_names = bones[1:]
        self.joint_names = bones
        self.shape_names = list(self.anny.phenotype_labels)
        self.register_buffer("faces", self.anny.get_triangular_faces().long().clone(), persistent=False)
        self.register_buffer("to_canonical", ANNY_TO_CANONICAL.clone(), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.anny.template_vertices.shape[0])

    def neutral_shape(self, batch: int = 1) -> torch.Tensor:
        return torch.full((batch, self.num_shape), 0.5)

    def _canonical(self, pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = max(pose.shape[0], shape.shape[0])
        eye = torch.eye(4, device=pose.device, dtype=pose.dtype)
        transforms = eye.expand(batch, self.anny.bone_count, 4, 4).clone()
        transforms[:, 1:, :3, :3] = roma.rotvec_to_rotmat(pose.expand(batch, -1, -1))
        out = self.anny(pose_parameters=transforms, phenotype_kwargs=shape.expand(batch, -1))
        joints = out["bone_poses"][..., :3, 3]  # bone heads
        pelvis = joints[:, :1]
        rot = self.to_canonical.T
        return (out["vertices"] - pelvis) @ rot, (joints - pelvis) @ rot
