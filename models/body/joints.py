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
l/r_girdle    ``shoulder01.*`` head        joints 13 / 14          mid-shoulders
              (lateral clavicle)           (collars)
spine_low     ``spine01`` head             joint 9 (spine3)        mid-hips
pelvis_up     mid-hips + 0.1 m up in the   (unused: hip_up = 0)    mid-shoulders
              pelvis frame (fitted row)
============  ===========================  ======================  ==========================

anny's bone heads are not vertices: they are regressed from the 256 nearest vertices with
sum-to-one least-squares weights fitted over random poses and shapes (``linear_fit``;
held-out error about 1 mm mean); ``pelvis_up`` is fitted the same way to a point 0.1 m above the
mid-hips along the root's up axis. SMPL joints use its own ``J_regressor`` rows (exact on the
rest mesh, the usual approximation once posed); SMPL face points are smplx's vertex picks (the
official topology is required, as it is by smplx itself).

**Human3.6M-17 joints mean what Human3.6M's mean** (:class:`H36MDefinition`). Human3.6M's 17
joints are joint centres of the skeleton its mocap system fitted to markers, not anatomical
landmarks: its ``thorax`` is the skeleton's neck joint at the base of the neck, ``neck_nose`` its
head joint, ``head`` the end of the head bone, the shoulders its arm joints. Anatomy fixes what
each joint is attached to; the rest is calibrated with nine interpretable numbers against
**aggregate statistics only**: the median over subjects S1/S5/S6/S7/S8 of each subject's median
segment ratio (segment / leg length, ``models.body.segments``) in ``h36m_lift``, never per-frame
fits (``python tools/joint_definitions.py --fit`` re-derives them; anny on 200 sampled shapes,
rest pose; MediaPipe on its world landmarks of the real video ``taiji.mp4``, no ground truth).
For anny:

- hips: attached to the pelvis, not to the thighs (so sitting does not move them): 18 % wider
  than anny's femoral-head bone heads and raised 6.8 cm along the pelvis' up axis. Human3.6M's
  hip joints sit high and wide on the pelvis (its thigh is as long as its shin, anny's
  femoral-head thigh is 13 % shorter than its shin);
- pelvis: mid-hips, exactly as in Human3.6M; spine: mid(pelvis, thorax);
- thorax: on the spine at 0.95 of the way from ``spine01`` to ``neck01``, the base of the neck;
- shoulders: attached to the shoulder girdle, 0.70 of the way from the glenohumeral centre
  (``upperarm01``) to the lateral clavicle (``shoulder01``): Human3.6M's shoulders are 30 %
  narrower than anny's glenohumeral centres;
- neck_nose: skull base − 0.31 (head_top − skull base) + 0.58 (nose − skull base), in front of
  the top of the neck; head: 0.38 of the way from the skull base to the top of the head;
- elbows: 14 % of the way up the upper arm from anny's elbow (``lowerarm01``) toward its
  glenohumeral centre; wrists: 5 % of the forearm back from anny's wrist toward the elbow
  (Human3.6M's upper arm is 0.31 of the leg, anny's bone heads give 0.35; its forearm 0.28, anny's
  0.26: left as bone heads, the arms alone cost 16 mm of definition floor).

SMPL uses anny's numbers on its analogous joints with the hips left at its hip joints
(``hip_up = 0``; not calibrated: the diffusion model is anny's). MediaPipe's mapping, used by the
baseline, is calibrated the same way on its own anchors (:data:`MEDIAPIPE_H36M`). LSP-14 keeps the
anatomical anchors (its shoulders and hips are the visible joint centres of 2D annotations):
``neck`` = mid(thorax, skull_base), ``head_top`` = head_top.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.body.base import BodyModel, BodyModelError
from models.body.coarse import ASSETS_DIR
from models.body.linear_fit import fit_sum_to_one, random_anny_bodies, stack_sparse
from models.skeletons import COCO17, MEDIAPIPE_TO_COCO17

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
# LSP-14 joints that are combinations of anchors; the others are anchors themselves.
_LSP_COMPOSITE: dict[str, dict[str, float]] = {"neck": {"thorax": 0.5, "skull_base": 0.5}}


@dataclass(frozen=True)
class H36MDefinition:
    """Human3.6M-17 joints as combinations of a source's anchors (see the module docstring)."""

    hip_width: float  # lateral scale of the hips about their midpoint
    hip_up: float  # fraction of (pelvis_up − mid-hips) by which the hips are raised
    thorax: float  # fraction of the way from spine_low to thorax (the neck base anchor)
    shoulder: float  # fraction of the way from the shoulder joint to its girdle point
    head: float  # fraction of the way from skull_base to head_top
    neck_top: float  # neck_nose = skull_base + neck_top (head_top − skull_base) + neck_nose (nose − skull_base)
    neck_nose: float
    elbow: float = 0.0  # fraction of the way from the elbow anchor up the arm to the shoulder anchor
    wrist: float = 0.0  # fraction of the forearm (elbow anchor → wrist anchor) added beyond the wrist anchor


# Calibrated by ``python tools/joint_definitions.py --fit`` (2026-12-01); see BENCHMARKS.md.
ANNY_H36M = H36MDefinition(hip_width=1.176, hip_up=0.678, thorax=0.952, shoulder=0.695, head=0.382,
                           neck_top=-0.305, neck_nose=0.583, elbow=0.144, wrist=-0.053)
SMPL_H36M = replace(ANNY_H36M, hip_up=0.0)
MEDIAPIPE_H36M = H36MDefinition(hip_width=0.983, hip_up=0.004, thorax=0.841, shoulder=0.343, head=-0.868,
                                neck_top=-1.453, neck_nose=0.585, elbow=0.063, wrist=-0.123)
# MediaPipe's mapping before calibration (surface landmarks, thorax = mid-shoulders), for comparisons.
MEDIAPIPE_H36M_ANATOMICAL = H36MDefinition(hip_width=1.0, hip_up=0.0, thorax=1.0, shoulder=0.0, head=0.5,
                                           neck_top=0.0, neck_nose=0.5)


def h36m_from_anchors(a: dict[str, torch.Tensor], d: H36MDefinition) -> dict[str, torch.Tensor]:
    """Human3.6M-17 joints from anchors: rows of a regressor or points, anything linear."""
    centre = (a["l_hip"] + a["r_hip"]) / 2
    up = a["pelvis_up"] - centre
    hips = {s: centre + d.hip_width * (a[f"{s}_hip"] - centre) + d.hip_up * up for s in "lr"}
    thorax = a["spine_low"] + d.thorax * (a["thorax"] - a["spine_low"])
    pelvis = (hips["l"] + hips["r"]) / 2
    base, top = a["skull_base"], a["head_top"]
    joints = {
        "pelvis": pelvis, "spine": (pelvis + thorax) / 2, "thorax": thorax,
        "neck_nose": base + d.neck_top * (top - base) + d.neck_nose * (a["nose"] - base),
        "head": base + d.head * (top - base),
    }
    for s in "lr":
        joints[f"{s}_hip"] = hips[s]
        joints[f"{s}_shoulder"] = a[f"{s}_shoulder"] + d.shoulder * (a[f"{s}_girdle"] - a[f"{s}_shoulder"])
        joints |= {f"{s}_{limb}": a[f"{s}_{limb}"] for limb in ("knee", "ankle")}
        joints[f"{s}_elbow"] = a[f"{s}_elbow"] + d.elbow * (a[f"{s}_shoulder"] - a[f"{s}_elbow"])
        joints[f"{s}_wrist"] = a[f"{s}_wrist"] + d.wrist * (a[f"{s}_wrist"] - a[f"{s}_elbow"])
    return joints


def _compose(anchors: dict[str, torch.Tensor], name: str, h36m: H36MDefinition) -> torch.Tensor:
    """The (J, K) rows of joint set ``name`` from anchor rows (K,)."""
    if name == "h36m17":
        joints = h36m_from_anchors(anchors, h36m)
        return torch.stack([joints[n] for n in H36M17]).float()
    rows = []
    for joint in JOINT_SETS[name]:
        parts = _LSP_COMPOSITE.get(joint, {joint: 1.0})
        rows.append(sum(weight * anchors[anchor] for anchor, weight in parts.items()))
    return torch.stack(rows).float()


# anny bones whose heads are anchors.
ANNY_BONES = {f"{s[0]}_{limb}": f"{bone}.{s[0].upper()}" for s in ("left", "right")
              for limb, bone in zip(_LIMBS, ["upperleg01", "lowerleg01", "foot", "upperarm01", "lowerarm01", "wrist"])}
ANNY_BONES |= {"thorax": "neck01", "skull_base": "head", "spine_low": "spine01",
               "l_girdle": "shoulder01.L", "r_girdle": "shoulder01.R"}
PELVIS_UP_M = 0.1  # the pelvis_up anchor: this far above the mid-hips along the root's up axis
ANNY_NEIGHBORS = 256
ANNY_REGRESSORS = ASSETS_DIR / "anny_regressors.npz"
ANNY_NOISE = 5e-4  # regularising noise of the fit (metres): ~2 mm error, weights below ~5 in norm
# SMPL joint indices of the joint-centre anchors (SMPL-X shares the first 22).
SMPL_JOINTS = {
    "l_hip": 1, "r_hip": 2, "l_knee": 4, "r_knee": 5, "l_ankle": 7, "r_ankle": 8, "thorax": 12,
    "skull_base": 15, "l_shoulder": 16, "r_shoulder": 17, "l_elbow": 18, "r_elbow": 19,
    "l_wrist": 20, "r_wrist": 21, "spine_low": 9, "l_girdle": 13, "r_girdle": 14, "pelvis_up": 3,
}
_SMPL_FACE = {"nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear"}

_MEDIAPIPE_ANCHORS: dict[str, dict[int, float]] = {
    **{name: {index: 1.0} for name, index in zip(COCO17, MEDIAPIPE_TO_COCO17)},
    **{f"{s}_{limb}": {index: 1.0}
       for limb, pair in zip(_LIMBS, [(23, 24), (25, 26), (27, 28), (11, 12), (13, 14), (15, 16)])
       for s, index in zip("lr", pair)},
    "thorax": {11: 0.5, 12: 0.5},
    "skull_base": {7: 0.5, 8: 0.5},
    # The crown is about twice the eye-to-mouth height above the ears, along the face's axis.
    "head_top": {7: 0.5, 8: 0.5, 2: 1.0, 5: 1.0, 9: -1.0, 10: -1.0},
    "l_girdle": {11: 0.5, 12: 0.5}, "r_girdle": {11: 0.5, 12: 0.5},
    "spine_low": {23: 0.5, 24: 0.5},
    "pelvis_up": {11: 0.5, 12: 0.5},
}


def _coco_anchor(name: str) -> str:
    """COCO joint name to the joint-centre anchor name (``left_hip`` -> ``l_hip``)."""
    side, _, part = name.partition("_")
    return f"{side[0]}_{part}" if part in _LIMBS else name


def _highest_vertex(model: BodyModel) -> int:
    """The top of the skull: the highest vertex of the rest pose, average shape."""
    with torch.no_grad():
        return int(model().vertices[0, :, 1].argmin())


def _one_hot(index: int, size: int) -> torch.Tensor:
    row = torch.zeros(size)
    row[index] = 1.0
    return row


def _anny_targets(joints: torch.Tensor, bones: torch.Tensor, hips: torch.Tensor) -> torch.Tensor:
    """Fit targets (B, T, 3): the bone heads, then the pelvis_up point (canonical frame, root unrotated)."""
    up = joints.new_tensor([0.0, -PELVIS_UP_M, 0.0])
    return torch.cat([joints[:, bones], (joints[:, hips].mean(1) + up)[:, None]], dim=1)


def fit_anny_anchor_rows(model: BodyModel, num_bodies: int = 2000, seed: int = 1) -> dict[str, torch.Tensor]:
    """Regressor rows (V,) of the anny bone-head anchors and ``pelvis_up``, fitted over random bodies (~30 s)."""
    bones = torch.tensor([model.joint_names.index(bone) for bone in ANNY_BONES.values()])
    hips = torch.tensor([model.joint_names.index(f"upperleg01.{s}") for s in "LR"])
    with torch.no_grad():
        rest = model()
    dist = torch.cdist(_anny_targets(rest.joints, bones, hips)[0], rest.vertices[0])
    neighbors = dist.topk(ANNY_NEIGHBORS, largest=False).indices
    samples = ((out.vertices, _anny_targets(out.joints, bones, hips))
               for out in random_anny_bodies(model, num_bodies, seed))
    weights = fit_sum_to_one(neighbors, samples, noise=ANNY_NOISE)
    rows = stack_sparse(neighbors, weights, model.num_vertices)
    return dict(zip([*ANNY_BONES, "pelvis_up"], rows))


def anny_anchor_rows(model: BodyModel) -> dict[str, torch.Tensor]:
    """Every anny anchor as a (V,) vertex-regressor row (COCO points, bone heads, pelvis_up, head_top)."""
    import anny

    coco = anny.KeypointsRegressor.coco(model.anny, labels=COCO17).regression_weights
    anchors = dict(zip(COCO17, coco.float().cpu()))
    anchors |= fit_anny_anchor_rows(model)
    anchors["head_top"] = _one_hot(_highest_vertex(model), model.num_vertices)
    return anchors


def anny_regressors_from(anchors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The anny regressors, (J, V) each, and the anchors they are made of (``anchors``, (K, V)),
    from the anchor rows by name (the composed sets use ``ANNY_H36M``)."""
    out = {"coco17": torch.stack([anchors[n] for n in COCO17]).float()}
    out |= {name: _compose(anchors, name, ANNY_H36M) for name in ("h36m17", "lsp14")}
    out["anchors"] = torch.stack(list(anchors.values())).float()
    out["anchor_names"] = list(anchors)
    return out


def build_anny_regressors(model: BodyModel) -> dict[str, torch.Tensor]:
    """The anny regressors with every anchor fitted anew (minutes)."""
    return anny_regressors_from(anny_anchor_rows(model))


def save_anny_regressors(regressors: dict) -> None:
    """Store the regressors sparse (COO: rows, cols, vals per set) and the anchor names."""
    arrays: dict[str, np.ndarray] = {"anchor_names": np.array(regressors["anchor_names"])}
    for name, matrix in regressors.items():
        if name == "anchor_names":
            continue
        rows, cols = torch.nonzero(matrix, as_tuple=True)
        arrays |= {
            f"{name}_rows": rows.numpy().astype(np.int16),
            f"{name}_cols": cols.numpy().astype(np.int16),
            f"{name}_vals": matrix[rows, cols].numpy().astype(np.float32),
            f"{name}_shape": np.array(matrix.shape),
        }
    ANNY_REGRESSORS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ANNY_REGRESSORS, **arrays)


def _stored_matrix(data, name: str) -> torch.Tensor:
    matrix = torch.zeros(*data[f"{name}_shape"].tolist())
    rows, cols = (torch.from_numpy(data[f"{name}_{key}"].astype(np.int64)) for key in ("rows", "cols"))
    matrix[rows, cols] = torch.from_numpy(data[f"{name}_vals"])
    return matrix


def _load_anny(model: BodyModel, name: str) -> torch.Tensor:
    if not ANNY_REGRESSORS.is_file():
        save_anny_regressors(build_anny_regressors(model))
    with np.load(ANNY_REGRESSORS) as data:
        return _stored_matrix(data, name)


def stored_anny_anchors(model: BodyModel) -> dict[str, torch.Tensor]:
    """The stored anny anchor rows by name, (V,) each (built and stored first if missing)."""
    matrix = _load_anny(model, "anchors")
    with np.load(ANNY_REGRESSORS) as data:
        names = [str(n) for n in data["anchor_names"]]
    return dict(zip(names, matrix))


def _smpl_anchors(model: BodyModel) -> dict[str, torch.Tensor]:
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
    return anchors


def regressor(model: BodyModel, name: str) -> torch.Tensor:
    """Dense (J, V) float32 vertex regressor of joint set ``name``, rows summing to one."""
    if name not in JOINT_SETS:
        raise ValueError(f"unknown joint set {name!r}: expected one of {sorted(JOINT_SETS)}")
    device = model.faces.device
    if model.name == "anny":
        return _load_anny(model, name).to(device)
    if model.name in ("smpl", "smplx"):
        anchors = _smpl_anchors(model)
        if name == "coco17":
            return torch.stack([anchors[n] for n in COCO17]).float().to(device)
        return _compose(anchors, name, SMPL_H36M).to(device)
    raise BodyModelError(f"no joint regressors for body model {model.name!r}")


def fit_definition_map(model: BodyModel, source: str = "h36m17", target: str = "coco17",
                       num_bodies: int = 500, seed: int = 2) -> torch.Tensor:
    """(J_target, J_source) sum-to-one weights expressing joint set ``target`` through ``source``,
    fitted over random posed and shaped bodies (~10 s): e.g. the COCO-17 keypoints our model expects,
    from Human3.6M-17 joints that a lifting source gives. Applied to 2D projections it is exact up to
    perspective across a few centimetres."""
    src, dst = regressor(model, source), regressor(model, target)
    neighbors = torch.arange(src.shape[0]).expand(dst.shape[0], -1)
    samples = ((src @ out.vertices, dst @ out.vertices) for out in random_anny_bodies(model, num_bodies, seed))
    return stack_sparse(neighbors, fit_sum_to_one(neighbors, samples, noise=ANNY_NOISE), src.shape[0])


def mediapipe_anchors() -> dict[str, torch.Tensor]:
    """MediaPipe's anchors as (33,) weight rows over its landmarks."""
    anchors = {}
    for anchor, parts in _MEDIAPIPE_ANCHORS.items():
        row = torch.zeros(33)
        for index, weight in parts.items():
            row[index] += weight
        anchors[anchor] = row
    return anchors


def mediapipe_to_coco17(landmarks: torch.Tensor) -> torch.Tensor:
    """MediaPipe Pose landmarks (..., 33, k) to COCO-17 (..., 17, k)."""
    return landmarks[..., MEDIAPIPE_TO_COCO17, :]


def mediapipe_to_h36m17(landmarks: torch.Tensor, definition: H36MDefinition = MEDIAPIPE_H36M) -> torch.Tensor:
    """MediaPipe landmarks (..., 33, k) to Human3.6M-17 joints (..., 17, k), all channels."""
    matrix = _compose(mediapipe_anchors(), "h36m17", definition)
    return torch.einsum("jm,...mk->...jk", matrix.to(landmarks), landmarks)


def mediapipe_to_lsp14(landmarks: torch.Tensor) -> torch.Tensor:
    """MediaPipe landmarks (..., 33, k) to the LSP-14 approximation (..., 14, k), all channels."""
    matrix = _compose(mediapipe_anchors(), "lsp14", MEDIAPIPE_H36M)
    return torch.einsum("jm,...mk->...jk", matrix.to(landmarks), landmarks)
