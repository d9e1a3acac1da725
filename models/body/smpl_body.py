"""SMPL / SMPL-X through ``smplx`` from a model file the user supplies (licence-walled), read
without running code from it (:func:`read_model_arrays`)."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from models.body.base import SMPL_TO_CANONICAL, BodyModel, BodyModelError
from models.safe_pickle import load_npz, load_pickle

SMPL_POSE_JOINTS = [
    "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar",
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hand", "right_hand",
]
SMPLX_POSE_JOINTS = SMPL_POSE_JOINTS[:21]
EXPECTED_FILES = {
    "smpl": "the SMPL model pickle (SMPL_NEUTRAL.pkl or basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl, "
    "from the SMPL website)",
    "smplx": "the SMPL-X model file (SMPLX_NEUTRAL.npz or .pkl, from the SMPL-X website)",
}


def read_model_arrays(path: Path) -> dict:
    """The arrays of an SMPL / SMPL-X model file (.pkl or .npz) without running code from it.

    smplx itself loads these files with ``pickle.load`` / ``np.load(allow_pickle=True)``, which
    run whatever the file names; here only numpy / scipy.sparse arrays are allowed
    (:mod:`models.safe_pickle`) and entries that are not arrays (names, dicts) are dropped.
    """
    if zipfile.is_zipfile(path):
        data = load_npz(path)
    else:
        data = load_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"it holds a {type(data).__name__}, not a dictionary of arrays")
    return {str(k): v for k, v in data.items()
            if (isinstance(v, np.ndarray) and v.dtype != object) or scipy.sparse.issparse(v)}


def _smplx_from_arrays(arrays: dict, num_betas: int):
    """``smplx.SMPLX`` from checked arrays: smplx reads only a file, so they go through a plain
    .npz of our own (no object arrays, so smplx's ``allow_pickle`` has nothing to unpickle)."""
    import smplx

    plain = {k: v.toarray() if scipy.sparse.issparse(v) else v for k, v in arrays.items()}
    with tempfile.TemporaryDirectory(prefix="hmdiff-smplx-") as folder:
        path = Path(folder) / "SMPLX_NEUTRAL.npz"
        np.savez(path, **plain)
        return smplx.SMPLX(str(path), num_betas=num_betas, ext="npz", use_pca=False)


class SmplBody(BodyModel):
    """SMPL (23 pose joints, 10 betas) or SMPL-X (21 body joints) loaded by ``smplx``."""

    def __init__(self, kind: str, model_path: str | Path | None, num_betas: int = 10) -> None:
        super().__init__()
        expected = EXPECTED_FILES[kind]
        if model_path is None:
            raise BodyModelError(f"--body-model {kind} needs --model-path: {expected}")
        path = Path(model_path)
        if not path.is_file():
            raise BodyModelError(f"{kind.upper()} model file not found: {path} (expected {expected})")
        import smplx
        from smplx.utils import Struct

        try:  # the classes themselves: smplx.create would infer the type from the file name
            arrays = read_model_arrays(path)
            if kind == "smpl":
                self.body = smplx.SMPL(str(path), data_struct=Struct(**arrays), num_betas=num_betas)
            else:
                self.body = _smplx_from_arrays(arrays, num_betas)
        except Exception as err:  # smplx raises many kinds on malformed files
            hint = " (it stores chumpy objects: convert it to plain numpy arrays first)" if "chumpy" in str(err) else ""
            raise BodyModelError(
                f"{path} is not a valid {kind.upper()} model file ({type(err).__name__}: {err}){hint}; "
                f"expected {expected}"
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
        zeros = pose.new_zeros(batch, 3)
        extra = {}
        if self.name == "smplx":  # face, eyes, hands and expression at rest, batched like the body
            extra = dict(jaw_pose=zeros, leye_pose=zeros, reye_pose=zeros,
                         left_hand_pose=pose.new_zeros(batch, 45), right_hand_pose=pose.new_zeros(batch, 45),
                         expression=pose.new_zeros(batch, self.body.num_expression_coeffs))
        out = self.body(
            betas=shape.expand(batch, -1),
            body_pose=pose.expand(batch, -1, -1).reshape(batch, -1),
            global_orient=zeros,
            transl=zeros,
            **extra,
        )
        pelvis = out.joints[:, :1]
        rot = self.to_canonical.T
        return (out.vertices - pelvis) @ rot, (out.joints - pelvis) @ rot
