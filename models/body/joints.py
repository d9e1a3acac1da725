"""Named joint sets (COCO-17, Human3.6M-17, LSP-14): vertex regressors and MediaPipe mappings.

Every joint is a fixed linear combination (weights summing to one) of a few **anchors**, defined
per source so that anny, SMPL and MediaPipe agree:

============  ===========================  ======================  ==========================
anchor        anny                         SMPL / SMPL-X           MediaPipe Pose (33)
============  ===========================  ======================  ==========================
COCO points   anny's COCO regressor        body joints below;      landmarks 0, 2, 5, 7, 8,
              (``anny.KeypointsRegressor``)  face: smplx vertex ids  11-16, 23-28
l/r_hip       ``upperleg01.*`` head        joints 1 / 2            23 / 24
l/r_knee      ``lowerleg01.*`` head        joints 4 / 5            25 / 26
l/r_ankle     ``foot.*`` head              joints 7 / 8            27 / 28
l/r_shoulder  ``upperarm01.*`` head        joints 16 / 17          11 / 12
l/r_elbow     ``lowerarm01.*`` head        joints 18 / 19          13 / 14
l/r_wrist     ``wrist.*`` head             joints 20 / 21          15 / 16
thorax        ``neck01`` head (neck base)  joint 12 (neck)         mid-shoulders
skull_base    ``head`` head (top of neck)  joint 15 (head)         mid-ears
head_top      highest rest vertex          highest rest vertex     mid-ears + 2 (mid-eyes -
                                                                   mid-mouth)
============  ===========================  ======================  ==========================

anny's bone heads are not vertices: they are regressed from the 256 nearest vertices with
sum-to-one least-squares weights fitted over random poses and shapes (``linear_fit``;
held-out error about 1 mm mean). SMPL joints use its own ``J_regressor`` rows (exact on the rest
mesh, the usual approximation once posed); SMPL face points are smplx's vertex picks (the
official topology is required, as it is by smplx itself).

Composite joints: H36M ``pelvis`` = mid-hips (as in Human3.6M); ``spine`` = mid(pelvis,
thorax); ``neck_nose`` = mid(nose, mid-ears), inside the head at nose height; ``head`` =
mid(mid-ears, head_top), the upper head. LSP ``neck`` = mid(thorax, skull_base), the middle of
the neck; ``head_top`` = head_top.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from models.body.base import BodyModel, BodyModelError, load_body_model
from models.body.coarse import ASSETS_DIR
from models.body.linear_fit import fit_sum_to_one, random_anny_bodies, stack_sparse

COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
H36M17 = [
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
]
LSP14 = [
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
    "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top",
]
JOINT_SETS = {"coco17": COCO17, "h36m17": H36M17, "lsp14": LSP14}

_LIMBS = ["hip", "knee", "ankle", "shoulder", "elbow", "wrist"]
# Each joint as anchor weights; anchors not in this table are joint names themselves.
_COMPOSITE: dict[str, dict[str, float]] = {
    "pelvis": {"l_hip": 0.5, "r_hip": 0.5},
    "spine": {"l_hip": 0.25, "r_hip": 0.25, "thorax": 0.5},
    "neck_nose": {"nose": 0.5, "left_ear": 0.25, "right_ear": 0.25},
    "head": {"left_ear": 0.25, "right_ear": 0.25, "head_top": 0.5},
    "neck": {"thorax": 0.5, "skull_base": 0.5},
}

# anny bones whose heads are the joint-centre anchors.
ANNY_BONES = {f"{s[0]}_{limb}": f"{bone}.{s[0].upper()}" for s in ("left", "right")
              for limb, bone in zip(_LIMBS, ["upperleg01", "lowerleg01", "foot", "upperarm01", "lowerarm01", "wrist"])}
ANNY_BONES |= {"thorax": "neck01", "skull_base": "head"}
ANNY_NEIGHBORS = 256
ANNY_REGRESSORS = ASSETS_DIR / "anny_regressors.npz"
ANNY_NOISE = 5e-4  # regularising noise of the fit (metres): ~2 mm error, weights below ~5 in norm
# SMPL joint indices of the joint-centre anchors (SMPL-X shares the first 22).
SMPL_JOINTS = {
    "l_hip": 1, "r_hip": 2, "l_knee": 4, "r_knee": 5, "l_ankle": 7, "r_ankle": 8, "thorax": 12,
    "skull_base": 15, "l_shoulder": 16, "r_shoulder": 17, "l_elbow": 18, "r_elbow": 19,
    "l_wrist": 20, "r_wrist": 21,
}
_SMPL_FACE = {"nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear"}

MEDIAPIPE_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
_MEDIAPIPE_ANCHORS: dict[str, dict[int, float]] = {
    **{name: {index: 1.0} for name, index in zip(COCO17, MEDIAPIPE_TO_COCO17)},
    **{f"{s}_{limb}": {index: 1.0}
       for limb, pair in zip(_LIMBS, [(23, 24), (25, 26), (27, 28), (11, 12), (13, 14), (15, 16)])
       for s, index in zip("lr", pair)},
    "thorax": {11: 0.5, 12: 0.5},
    "skull_base": {7: 0.5, 8: 0.5},
    # The crown is about twice the eye-to-mouth height above the ears, along the face's axis.
    "head_top": {7: 0.5, 8: 0.5, 2: 1.0, 5: 1.0, 9: -1.0, 10: -1.0},
}


def _coco_anchor(name: str) -> str:
    """COCO joint name to the joint-centre anchor name (``left_hip`` -> ``l_hip``)."""
    side, _, part = name.partition("_")
    return f"{side[0]}_{part}" if part in _LIMBS else name


def _compose(anchors: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """Stack the joints ``names`` as combinations of ``anchors`` (rows of equal length)."""
    rows = []
    for name in names:
        parts = _COMPOSITE.get(name, {name: 1.0})
        rows.append(sum(weight * anchors[anchor] for anchor, weight in parts.items()))
    return torch.stack(rows).float()


def _highest_vertex(model: BodyModel) -> int:
    """The top of the skull: the highest vertex of the rest pose, average shape."""
    with torch.no_grad():
        return int(model().vertices[0, :, 1].argmin())


def _one_hot(index: int, size: int) -> torch.Tensor:
    row = torch.zeros(size)
    row[index] = 1.0
    return row


def fit_anny_bone_rows(model: BodyModel, num_bodies: int = 2000, seed: int = 1) -> dict[str, torch.Tensor]:
    """Regressor rows (V,) of the anny bone-head anchors, fitted over random bodies (~20 s)."""
    bones = torch.tensor([model.joint_names.index(bone) for bone in ANNY_BONES.values()])
    with torch.no_grad():
        rest = model()
    dist = torch.cdist(rest.joints[0, bones], rest.vertices[0])
    neighbors = dist.topk(ANNY_NEIGHBORS, largest=False).indices
    samples = ((out.vertices, out.joints[:, bones]) for out in random_anny_bodies(model, num_bodies, seed))
    weights = fit_sum_to_one(neighbors, samples, noise=ANNY_NOISE)
    rows = stack_sparse(neighbors, weights, model.num_vertices)
    return dict(zip(ANNY_BONES, rows))


def build_anny_regressors(model: BodyModel) -> dict[str, torch.Tensor]:
    """The three anny regressors, (J, V) each."""
    import anny

    coco = anny.KeypointsRegressor.coco(model.anny, labels=COCO17).regression_weights
    anchors = dict(zip(COCO17, coco.float().cpu()))
    anchors |= fit_anny_bone_rows(model)
    anchors["head_top"] = _one_hot(_highest_vertex(model), model.num_vertices)
    return {"coco17": coco.float().cpu(), **{name: _compose(anchors, JOINT_SETS[name]) for name in ("h36m17", "lsp14")}}


def save_anny_regressors(regressors: dict[str, torch.Tensor]) -> None:
    """Store the regressors sparse (COO: rows, cols, vals per set)."""
    arrays = {}
    for name, matrix in regressors.items():
        rows, cols = torch.nonzero(matrix, as_tuple=True)
        arrays |= {
            f"{name}_rows": rows.numpy().astype(np.int16),
            f"{name}_cols": cols.numpy().astype(np.int16),
            f"{name}_vals": matrix[rows, cols].numpy().astype(np.float32),
            f"{name}_shape": np.array(matrix.shape),
        }
    ANNY_REGRESSORS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ANNY_REGRESSORS, **arrays)


def _load_anny_regressor(model: BodyModel, name: str) -> torch.Tensor:
    if not ANNY_REGRESSORS.is_file():
        save_anny_regressors(build_anny_regressors(model))
    data = np.load(ANNY_REGRESSORS)
    matrix = torch.zeros(*data[f"{name}_shape"].tolist())
    rows, cols = (torch.from_numpy(data[f"{name}_{key}"].astype(np.int64)) for key in ("rows", "cols"))
    matrix[rows, cols] = torch.from_numpy(data[f"{name}_vals"])
    return matrix


def _smpl_regressor(model: BodyModel, names: list[str]) -> torch.Tensor:
    from smplx.vertex_ids import vertex_ids

    topology = {6890: "smplh", 10475: "smplx"}.get(model.num_vertices)
    if topology is None:
        raise BodyModelError(
            f"{model.name} joint regressors need the official topology (6890 SMPL or 10475 SMPL-X "
            f"vertices), got {model.num_vertices}"
        )
    size = model.num_vertices
    j_regressor = model.body.J_regressor.float().cpu()
    anchors = {name: j_regressor[index] for name, index in SMPL_JOINTS.items()}
    anchors |= {name: anchors[_coco_anchor(name)] for name in COCO17 if _coco_anchor(name) != name}
    anchors |= {name: _one_hot(vertex_ids[topology][key], size) for name, key in _SMPL_FACE.items()}
    anchors["head_top"] = _one_hot(_highest_vertex(model), size)
    return _compose(anchors, names)


def regressor(model: BodyModel, name: str) -> torch.Tensor:
    """Dense (J, V) float32 vertex regressor of joint set ``name``, rows summing to one."""
    if name not in JOINT_SETS:
        raise ValueError(f"unknown joint set {name!r}: expected one of {sorted(JOINT_SETS)}")
    device = model.faces.device
    if model.name == "anny":
        return _load_anny_regressor(model, name).to(device)
    if model.name in ("smpl", "smplx"):
        return _smpl_regressor(model, JOINT_SETS[name]).to(device)
    raise BodyModelError(f"no joint regressors for body model {model.name!r}")


def _mediapipe_matrix(names: list[str]) -> torch.Tensor:
    """(J, 33) weights of the joints ``names`` over MediaPipe's landmarks."""
    anchors = {}
    for anchor, parts in _MEDIAPIPE_ANCHORS.items():
        row = torch.zeros(33)
        for index, weight in parts.items():
            row[index] += weight
        anchors[anchor] = row
    return _compose(anchors, names)


def mediapipe_to_coco17(landmarks: torch.Tensor) -> torch.Tensor:
    """MediaPipe Pose landmarks (..., 33, k) to COCO-17 (..., 17, k)."""
    return landmarks[..., MEDIAPIPE_TO_COCO17, :]


def mediapipe_to_h36m17(landmarks: torch.Tensor) -> torch.Tensor:
    """MediaPipe landmarks (..., 33, k) to the H36M-17 approximation (..., 17, k), all channels."""
    return torch.einsum("jm,...mk->...jk", _mediapipe_matrix(H36M17).to(landmarks), landmarks)


def mediapipe_to_lsp14(landmarks: torch.Tensor) -> torch.Tensor:
    """MediaPipe landmarks (..., 33, k) to the LSP-14 approximation (..., 14, k), all channels."""
    return torch.einsum("jm,...mk->...jk", _mediapipe_matrix(LSP14).to(landmarks), landmarks)


def main() -> None:
    parser = argparse.ArgumentParser(description="Build models/assets/anny_regressors.npz")
    parser.add_argument("--build", action="store_true")
    args = parser.parse_args()
    model = load_body_model("anny")
    if args.build or not ANNY_REGRESSORS.is_file():
        save_anny_regressors(build_anny_regressors(model))
    for name in JOINT_SETS:
        matrix = regressor(model, name)
        print(f"{name}: {tuple(matrix.shape)}, {int((matrix != 0).sum())} non-zeros, "
              f"row sums {matrix.sum(1).min():.4f}..{matrix.sum(1).max():.4f}")


if __name__ == "__main__":
    main()
