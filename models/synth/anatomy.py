"""Anatomical joint angles (degrees, with biomechanical limits) and their conversion to anny poses.

The pose sampler and the motion generator work in a small space of named anatomical degrees of
freedom (DOFs); :class:`PoseSpace` turns them into anny's per-bone axis-angles (``local-ref``
frame, anny axes x = left, y = back, z = up) and a pelvis orientation in the canonical frame.

Conventions (all angles in degrees; the sign that is positive is named first):
- Limits follow the AAOS normal ranges of motion (American Academy of Orthopaedic Surgeons,
  *Joint Motion: Method of Measuring and Recording*, 1965; as tabulated by Norkin & White,
  *Measurement of Joint Motion*). The brief's knee (140) and elbow (145) flexion maxima replace
  AAOS's 135 and 150. Clavicle ranges are from Kapandji (*The Physiology of the Joints*, vol. 1).
- Leg angles are relative to anny's rest pose, which is within 5 degrees of anatomical neutral
  (the knee is rebased: anny's rest knee is 8-9 degrees flexed, measured on the skeleton).
- The shoulder uses the ISB humerus convention (Wu et al. 2005): plane of elevation (0 = frontal
  plane abduction, 90 = sagittal flexion, -90 = extension, 135 = across the chest), elevation from
  the arm hanging at the side (0) to overhead (180), then axial rotation. anny's A-pose (arm ~48
  degrees abducted, elbow ~42 degrees flexed) is converted, so 0 means the anatomical position.
- Elevation's upper bound depends on the plane: 60 at pure extension (plane -90, AAOS extension
  60) rising linearly to 180 at plane 0, 180 up to plane 90, and 135 at plane 135.
- The forearm's 0 is anny's rest (thumb forward, mid-position). Axial DOFs are summed over the
  bones of the segment (spine05..spine01, neck01..head) with fixed weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import roma
import torch

from models.synth.skeleton import Skeleton

# name: (min, max, positive direction and source). Sided DOFs exist as name_l and name_r.
SIDED_LIMITS: dict[str, tuple[float, float, str]] = {
    "hip_flex": (-30.0, 120.0, "flexion + / extension - (AAOS 120 / 30)"),
    "hip_abd": (-30.0, 45.0, "abduction + / adduction - (AAOS 45 / 30)"),
    "hip_rot": (-45.0, 45.0, "internal + / external - (AAOS 45 / 45)"),
    "knee_flex": (0.0, 140.0, "flexion (AAOS 135; brief 140)"),
    "ankle_flex": (-20.0, 50.0, "plantarflexion + / dorsiflexion - (AAOS 50 / 20)"),
    "ankle_inv": (-15.0, 35.0, "inversion + / eversion - (AAOS 35 / 15)"),
    "clav_elev": (-10.0, 30.0, "elevation + / depression - (Kapandji ~30 / 10)"),
    "clav_prot": (-15.0, 15.0, "protraction + / retraction - (Kapandji ~15 / 15)"),
    "sh_plane": (-90.0, 135.0, "ISB plane of elevation: 0 abduction, 90 flexion, -90 extension"),
    "sh_elev": (0.0, 180.0, "elevation (AAOS flexion 180, abduction 180, extension 60)"),
    "sh_rot": (-90.0, 70.0, "internal + / external - (AAOS 70 / 90)"),
    "elbow_flex": (0.0, 145.0, "flexion (AAOS 150; brief 145)"),
    "forearm_pron": (-80.0, 80.0, "pronation + / supination - (AAOS 80 / 80)"),
    "wrist_flex": (-70.0, 80.0, "flexion + / extension - (AAOS 80 / 70)"),
    "wrist_dev": (-20.0, 30.0, "ulnar + / radial - (AAOS 30 / 20)"),
    "grip": (0.0, 35.0, "finger curl per phalanx (kept mild: fingers stay near rest)"),
}
AXIAL_LIMITS: dict[str, tuple[float, float, str]] = {
    "spine_flex": (-25.0, 80.0, "thoracolumbar flexion + / extension - (AAOS 80 / 25)"),
    "spine_bend": (-35.0, 35.0, "lateral bend, to the left + (AAOS 35)"),
    "spine_rot": (-45.0, 45.0, "rotation, to the left + (AAOS 45)"),
    "neck_flex": (-45.0, 45.0, "cervical flexion + / extension - (AAOS 45 / 45)"),
    "neck_bend": (-45.0, 45.0, "cervical lateral bend, to the left + (AAOS 45)"),
    "neck_rot": (-60.0, 60.0, "cervical rotation, to the left + (AAOS 60)"),
    "body_pitch": (-100.0, 100.0, "pelvis pitched forward + (whole-body orientation, not a joint)"),
    "body_roll": (-100.0, 100.0, "pelvis rolled to the left + (whole-body orientation)"),
}
SIDED = list(SIDED_LIMITS)
DOF_NAMES = [f"{d}_{s}" for s in ("l", "r") for d in SIDED] + list(AXIAL_LIMITS)
DOF_INDEX = {name: i for i, name in enumerate(DOF_NAMES)}
LOWER = np.array([{**SIDED_LIMITS, **AXIAL_LIMITS}[n.removesuffix("_l").removesuffix("_r")][0]
                  for n in DOF_NAMES])
UPPER = np.array([{**SIDED_LIMITS, **AXIAL_LIMITS}[n.removesuffix("_l").removesuffix("_r")][1]
                  for n in DOF_NAMES])
# DOFs whose sign flips under a left/right mirror (lateral bends, rotations, roll).
MIRROR_NEGATE = ("spine_bend", "spine_rot", "neck_bend", "neck_rot", "body_roll")

SPINE_BONES = ("spine05", "spine04", "spine03", "spine02", "spine01")
SPINE_WEIGHTS = {  # share of each axial DOF per bone (lumbar bends, thoracic twists)
    "flex": (0.25, 0.25, 0.2, 0.15, 0.15),
    "bend": (0.2, 0.2, 0.2, 0.2, 0.2),
    "rot": (0.05, 0.1, 0.2, 0.3, 0.35),
}
NECK_BONES = ("neck01", "neck02", "neck03", "head")
NECK_WEIGHTS = {"flex": (0.3, 0.25, 0.25, 0.2), "bend": (0.3, 0.3, 0.2, 0.2), "rot": (0.2, 0.25, 0.25, 0.3)}
CURLED_FINGERS = tuple(f"finger{f}-{k}" for f in (2, 3, 4, 5) for k in (1, 2, 3))
MIRROR = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)  # rotvec under x -> -x


def shoulder_elevation_cap(plane: np.ndarray) -> np.ndarray:
    """Upper bound of the shoulder elevation (degrees) for a plane of elevation (degrees)."""
    return np.interp(plane, [-90.0, 0.0, 90.0, 135.0], [60.0, 180.0, 180.0, 135.0])


def clip_dofs(dofs: np.ndarray) -> np.ndarray:
    """Clip DOFs (..., D) to the limits, including the plane-dependent shoulder elevation cap."""
    out = np.clip(dofs, LOWER, UPPER)
    for s in ("l", "r"):
        plane, elev = DOF_INDEX[f"sh_plane_{s}"], DOF_INDEX[f"sh_elev_{s}"]
        out[..., elev] = np.minimum(out[..., elev], shoulder_elevation_cap(out[..., plane]))
    return out


def within_limits(dofs: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Boolean (...,) mask: every DOF within its limits."""
    return np.all(np.abs(clip_dofs(dofs) - dofs) <= tol, axis=-1)


def mirror_dofs(dofs: np.ndarray) -> np.ndarray:
    """The left/right mirror image of DOFs (..., D)."""
    out = dofs.copy()
    for d in SIDED:
        left, right = DOF_INDEX[f"{d}_l"], DOF_INDEX[f"{d}_r"]
        out[..., left], out[..., right] = dofs[..., right], dofs[..., left]
    for d in MIRROR_NEGATE:
        out[..., DOF_INDEX[d]] = -dofs[..., DOF_INDEX[d]]
    return out


def _rot(axis: np.ndarray | tuple[float, float, float], deg: torch.Tensor) -> torch.Tensor:
    """Rotations (N, 3, 3) by angles ``deg`` (N,) about a fixed unit axis."""
    axis_t = torch.as_tensor(np.asarray(axis, dtype=np.float64))
    return roma.rotvec_to_rotmat(torch.deg2rad(deg)[:, None] * axis_t)


X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass
class ArmGeometry:
    """Rest-pose axes of the left arm (anny axes), measured on the skeleton."""

    to_neutral: torch.Tensor  # (3, 3) rotation taking the rest humerus to the anatomical position
    elbow_axis: np.ndarray  # rest elbow hinge; + rotation flexes
    elbow_rest: float  # rest elbow flexion, degrees
    forearm_axis: np.ndarray  # rest elbow -> wrist; + rotation pronates (left arm)
    radial_axis: np.ndarray  # rest across the palm towards the thumb side
    palm_axis: np.ndarray  # rest palm normal

    @classmethod
    def measure(cls, sk: Skeleton) -> "ArmGeometry":
        upper = _unit(sk.rest_vector("upperarm01.L", "lowerarm01.L"))
        fore = _unit(sk.rest_vector("lowerarm01.L", "wrist.L"))
        hinge = _unit(np.cross(upper, fore))
        # Anatomical position: humerus down (-z), hinge along -x (flexion brings the hand forward).
        src = np.stack([upper, hinge, np.cross(upper, hinge)], axis=1)
        dst_u, dst_h = np.array([0.0, 0.0, -1.0]), np.array([-1.0, 0.0, 0.0])
        dst = np.stack([dst_u, dst_h, np.cross(dst_u, dst_h)], axis=1)
        hand = _unit(sk.rest_vector("wrist.L", "finger3-1.L"))
        radial = sk.rest[sk.index("finger2-1.L")] - sk.rest[sk.index("finger5-1.L")]
        radial = _unit(radial - hand * (radial @ hand))
        return cls(
            to_neutral=torch.as_tensor(dst @ src.T),
            elbow_axis=hinge,
            elbow_rest=math.degrees(math.acos(float(np.clip(upper @ fore, -1, 1)))),
            forearm_axis=fore,
            radial_axis=radial,
            palm_axis=np.cross(hand, radial),
        )


class PoseSpace:
    """Converts anatomical DOFs (N, D) in degrees to anny poses (N, P, 3) and body orientations."""

    def __init__(self, skeleton: Skeleton) -> None:
        self.skeleton = skeleton
        self.num_pose = len(skeleton.names) - 1
        self.arm = ArmGeometry.measure(skeleton)
        thigh = _unit(skeleton.rest_vector("upperleg01.L", "lowerleg01.L"))
        shin = _unit(skeleton.rest_vector("lowerleg01.L", "foot.L"))
        self.knee_rest = math.degrees(math.acos(float(np.clip(thigh @ shin, -1, 1))))

    def to_pose(self, dofs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """DOFs (N, D) degrees -> pose (N, P, 3) float32 axis-angles, body_orient (N, 3) canonical."""
        d = torch.as_tensor(dofs, dtype=torch.float64)
        n = d.shape[0]
        g = lambda name: d[:, DOF_INDEX[name]]  # noqa: E731
        index, rotations, signs = [], [], []
        for side, tag in (("l", "L"), ("r", "R")):
            for bones, rot in self._limb(lambda k: g(f"{k}_{side}")).items():
                for bone in (bones,) if isinstance(bones, str) else bones:
                    index.append(self.skeleton.pose_index(f"{bone}.{tag}"))
                    rotations.append(rot)
                    signs.append(torch.ones(3, dtype=torch.float64) if side == "l" else MIRROR)
        for bones, weights, prefix in ((SPINE_BONES, SPINE_WEIGHTS, "spine"), (NECK_BONES, NECK_WEIGHTS, "neck")):
            for i, bone in enumerate(bones):
                index.append(self.skeleton.pose_index(bone))
                rotations.append(_rot(Z, g(f"{prefix}_rot") * weights["rot"][i])
                                 @ _rot(Y, g(f"{prefix}_bend") * weights["bend"][i])
                                 @ _rot(X, g(f"{prefix}_flex") * weights["flex"][i]))
                signs.append(torch.ones(3, dtype=torch.float64))
        pose = torch.zeros(n, self.num_pose, 3, dtype=torch.float64)
        pose[:, index] = roma.rotmat_to_rotvec(torch.stack(rotations, 1)) * torch.stack(signs)
        # Canonical frame: +x pitches the head forward (-z), +z rolls it to the left (+x).
        body = _rot(Z, g("body_roll")) @ _rot(X, g("body_pitch"))
        return pose.float(), roma.rotmat_to_rotvec(body).float()

    def _limb(self, g) -> dict[str | tuple[str, ...], torch.Tensor]:
        """Left-limb bone rotations (anny axes) from that side's DOFs, keyed by bone (or bones)."""
        arm = self.arm
        clav = _rot(Z, -g("clav_prot")) @ _rot(Y, -g("clav_elev"))
        plane, elev = g("sh_plane"), g("sh_elev")
        humerus = (_rot(Z, -plane) @ _rot(Y, -elev) @ _rot(Z, plane) @ _rot(Z, -g("sh_rot"))
                   @ arm.to_neutral)
        wrist = _rot(-arm.radial_axis, g("wrist_flex")) @ _rot(arm.palm_axis, -g("wrist_dev"))
        curl = _rot(-arm.radial_axis, g("grip"))
        bones = {
            "upperleg01": _rot(X, -g("hip_flex")) @ _rot(Y, -g("hip_abd")) @ _rot(Z, -g("hip_rot")),
            "lowerleg01": _rot(X, g("knee_flex") - self.knee_rest),
            "foot": _rot(X, g("ankle_flex")) @ _rot(Y, g("ankle_inv")),
            "clavicle": clav,
            "upperarm01": clav.transpose(1, 2) @ humerus,  # humerus orientation independent of the clavicle
            "lowerarm01": _rot(arm.elbow_axis, g("elbow_flex") - arm.elbow_rest),
            "lowerarm02": _rot(arm.forearm_axis, g("forearm_pron")),
            "wrist": wrist,
        }
        bones[CURLED_FINGERS] = curl
        return bones
