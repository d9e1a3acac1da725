"""Segment ratios of Human3.6M-17 skeletons, and the definition floor they imply.

A segment ratio is a distance between two joints divided by the leg length (mean of the left and
right thigh + shin), so that it describes how a skeleton *defines* its joints, not how tall the
person is. :data:`H36M_SUBJECT_MEDIANS` holds each Human3.6M subject's median ratio over
``shared/data/real/h36m_lift`` (S1, S5, S6, S7, S8; measured 2026-12-01): aggregate statistics
that calibrate our joint definitions (``models.body.joints``) and check them in the tests.

The **definition floor** (:func:`definition_floor`): Human3.6M's own poses with the remaining
difference between two definitions applied (hips moved apart with the legs carried along, the
upper body raised on the hips or on the spine, shoulders moved apart with the arms carried along,
the head moved along the neck), scored against the unmodified poses with PA-MPJPE. It is the
error a perfect pose recovery would still show because the joints mean different things.
"""
from __future__ import annotations

import numpy as np
import torch

from models.body.joints import H36M17
from models.metrics import pa_mpjpe
from models.skeletons import LIMB_PARTS

J = {name: i for i, name in enumerate(H36M17)}
LIMB12 = [J[n] for n in H36M17 if n.split("_")[-1] in LIMB_PARTS]
SEGMENTS = {  # name: (joint a, joint b), distance / leg
    "shoulder_width": ("l_shoulder", "r_shoulder"),
    "pelvis_thorax": ("pelvis", "thorax"),
    "thorax_head": ("thorax", "head"),
    "hip_width": ("l_hip", "r_hip"),
    "thorax_shoulder": ("thorax", "l_shoulder"),
    "thorax_neck_nose": ("thorax", "neck_nose"),
    "neck_nose_head": ("neck_nose", "head"),
    "upper_arm": ("l_shoulder", "l_elbow"),
    "forearm": ("l_elbow", "l_wrist"),
}
LIMB_BONES = {"thigh": ("hip", "knee"), "shin": ("knee", "ankle"), "upper_arm": ("shoulder", "elbow"),
              "forearm": ("elbow", "wrist")}  # Human3.6M's are rigid: constant length per subject
TABLE = ("shoulder_width", "pelvis_thorax", "thorax_head", "hip_width")  # the table
H36M_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
# Per subject (S1, S5, S6, S7, S8): the median ratio over h36m_lift (tools/joint_definitions.py).
H36M_SUBJECT_MEDIANS = {
    "shoulder_width": (0.307, 0.291, 0.286, 0.290, 0.360),
    "pelvis_thorax": (0.542, 0.545, 0.527, 0.538, 0.570),
    "thorax_head": (0.201, 0.185, 0.198, 0.178, 0.240),
    "hip_width": (0.296, 0.274, 0.301, 0.307, 0.329),
    "thigh_shin": (0.975, 0.968, 1.054, 1.024, 1.031),
    "upper_arm": (0.311, 0.304, 0.317, 0.311, 0.325),
    "forearm": (0.281, 0.286, 0.272, 0.279, 0.274),
}


def _dist(joints: np.ndarray, a: str, b: str) -> np.ndarray:
    return np.linalg.norm(joints[..., J[a], :] - joints[..., J[b], :], axis=-1)


def leg_length(joints: np.ndarray) -> np.ndarray:
    """Mean of the two legs' thigh + shin (N,)."""
    return sum(_dist(joints, f"{s}_hip", f"{s}_knee") + _dist(joints, f"{s}_knee", f"{s}_ankle") for s in "lr") / 2


def segment_ratios(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Per-skeleton ratios (N,) of Human3.6M-17 joints (N, 17, 3): SEGMENTS / leg, and thigh / shin."""
    joints = np.asarray(joints, np.float64)
    leg = leg_length(joints)
    out = {name: _dist(joints, a, b) / leg for name, (a, b) in SEGMENTS.items()}
    thigh = sum(_dist(joints, f"{s}_hip", f"{s}_knee") for s in "lr")
    shin = sum(_dist(joints, f"{s}_knee", f"{s}_ankle") for s in "lr")
    out["thigh_shin"] = thigh / shin
    return out


def limb_length_ratios(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-skeleton length ratio (N,) of each of LIMB_BONES, ``pred`` over ``gt`` (N, 17, 3), the
    mean of the left and right bone's: how a recovery stretches or shortens the limbs."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    return {name: sum(_dist(pred, f"{s}_{a}", f"{s}_{b}") / _dist(gt, f"{s}_{a}", f"{s}_{b}") for s in "lr") / 2
            for name, (a, b) in LIMB_BONES.items()}


def subject_medians(joints: np.ndarray, subjects: np.ndarray) -> dict[str, dict[str, float]]:
    """Each subject's median ratio: {segment: {subject: median}}."""
    ratios = segment_ratios(joints)
    return {k: {s: float(np.median(v[subjects == s])) for s in sorted(set(subjects))} for k, v in ratios.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-9)


def body_frame(joints: np.ndarray) -> np.ndarray:
    """Rotations (N, 3, 3) whose rows are each Human3.6M-17 skeleton's own axes: x from the right hip
    to the left, y toward the thorax (made orthogonal to x), z = x × y, the way the body faces.
    ``frame @ v`` expresses a camera-frame vector v in the body's axes."""
    joints = np.asarray(joints, np.float64)
    x = _unit(joints[:, J["l_hip"]] - joints[:, J["r_hip"]])
    up = joints[:, J["thorax"]] - joints[:, J["pelvis"]]
    y = _unit(up - (up * x).sum(-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def apply_offsets(joints: np.ndarray, delta: dict[str, float]) -> np.ndarray:
    """Human3.6M-17 poses (N, 17, 3) with segment ratios changed by ``delta`` (ratio units).

    Keys: ``hip_width`` (hips apart, legs carried along), ``thigh_shin`` (hips and the whole
    upper body raised on the legs), ``pelvis_thorax`` (thorax and everything above raised along
    the spine, the spine joint by half), ``shoulder_width`` (shoulders apart, arms carried along),
    ``thorax_head`` (head along the neck, neck_nose by half), ``upper_arm`` (elbows along the upper
arm, wrists carried along), ``forearm`` (wrists along the forearm). Missing keys: no change.
    """
    out = np.array(joints, np.float64)
    leg = leg_length(out)[:, None]
    upper = [J[n] for n in ("thorax", "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist",
                            "r_shoulder", "r_elbow", "r_wrist")]
    across = _unit(out[:, J["l_hip"]] - out[:, J["r_hip"]])
    move = delta.get("hip_width", 0.0) / 2 * leg * across
    for side, sign in (("l", 1), ("r", -1)):
        out[:, [J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]]] += sign * move[:, None]
    shin = sum(_dist(out, f"{s}_knee", f"{s}_ankle") for s in "lr")[:, None] / 2
    up = _unit(out[:, J["thorax"]] - out[:, J["pelvis"]])
    lift = delta.get("thigh_shin", 0.0) * shin * up
    out[:, [J["pelvis"], J["l_hip"], J["r_hip"], J["spine"], *upper]] += lift[:, None]
    for side in "lr":  # elbows along the upper arm (wrists carried), wrists along the forearm
        upper_arm = _unit(out[:, J[f"{side}_elbow"]] - out[:, J[f"{side}_shoulder"]])
        out[:, [J[f"{side}_elbow"], J[f"{side}_wrist"]]] += (delta.get("upper_arm", 0.0) * leg * upper_arm)[:, None]
        forearm = _unit(out[:, J[f"{side}_wrist"]] - out[:, J[f"{side}_elbow"]])
        out[:, J[f"{side}_wrist"]] += delta.get("forearm", 0.0) * leg * forearm
    raise_by = delta.get("pelvis_thorax", 0.0) * leg * up
    out[:, upper] += raise_by[:, None]
    out[:, J["spine"]] += raise_by / 2
    across = _unit(out[:, J["l_shoulder"]] - out[:, J["r_shoulder"]])
    move = delta.get("shoulder_width", 0.0) / 2 * leg * across
    for side, sign in (("l", 1), ("r", -1)):
        out[:, [J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]]] += sign * move[:, None]
    along = delta.get("thorax_head", 0.0) * leg * _unit(out[:, J["head"]] - out[:, J["thorax"]])
    out[:, J["head"]] += along
    out[:, J["neck_nose"]] += along / 2
    return out


def definition_floor(joints: np.ndarray, delta: dict[str, float]) -> dict[str, float]:
    """PA-MPJPE (mm) of poses with ``delta`` applied against themselves: 12 limb joints and all 17."""
    gt = torch.as_tensor(np.asarray(joints, np.float64))
    moved = torch.as_tensor(apply_offsets(joints, delta))
    return {"limb12": float(pa_mpjpe(moved[:, LIMB12], gt[:, LIMB12]).mean()),
            "h36m17": float(pa_mpjpe(moved, gt).mean())}
