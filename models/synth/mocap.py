"""Real motion capture (CMU subjects 1-14, cgspeed's Daz BVH) retargeted to anny poses.

Source: ``$HMDIFF_MOCAP_DIR`` or ``../shared/data/mocap`` beside the repo (PROVENANCE.md there):
138 clips, 30 fps, one Daz/Aiko3 skeleton (cm, Y up, facing +Z, left +X), and DeepMimic's 15 clips
(floor work, acrobatics, kicks; its own format, which :mod:`models.synth.deepmimic` turns into Daz
motion for the same retargeter; named ``dm_<motion>``, all in the training split). The files stay there;
:func:`load_mocap` retargets everything once (about a minute of CPU) into
``.cache/mocap/mocap_<key>.npz``, keyed by a hash of the source files, CODE_VERSION and anny's
version, and loads that in well under a second afterwards. Nothing is downloaded.

Retargeting (only rotations carry over; the Daz bone lengths are dropped):

- BVH parsing is bvhio's (its Euler angles are intrinsic in channel order: root ZYX, joints ZXY).
  Forward kinematics gives each joint's world rotation ``G_j(t)``; ``D_j(t) = G_j(t) G_j(T)^-1`` is
  its change from the Daz T-pose reference (``skeleton/daz_tpose_reference.bvh``), turned into
  anny axes (x = x_bvh, y = -z_bvh, z = y_bvh). A driven anny bone gets the world rotation
  ``G_b = D_j C_b`` and its pose rotation ``R_b = G_parent^-1 G_b`` along anny's own chain.
- Rest alignment ``C_b``: identity for the root and the axial bones, so a neutral BVH trunk gives
  anny's own spine curvature (the Daz and anny spines differ by 3-18 degrees per segment at rest,
  the "T-pose" column of ``tools/mocap_check.py``). Limb bones: the rotation taking anny's rest
  segment and a second vector onto the Daz T-pose ones (upper arm / forearm: the elbow hinge;
  hand: across the knuckles; thigh / shin: forward; foot: lateral), i.e. anny's A-pose arms are
  lifted to the T-pose. The Daz elbow is 17 degrees bent at its zero pose and the data's elbows
  hardly ever extend past it, so the Daz forearm and hand are first turned onto the upper arm's
  line: a Daz "zero" elbow is a straight anny elbow (forearm and hand directions then sit 17
  degrees from the BVH's, constant). The Daz rest knee (7.7 degrees) matches anny's (8.6): kept.
- Mapping: hip -> global orientation (anny ``root``); abdomen -> spine03 + spine02, chest ->
  spine01, neck -> neck01 + neck02, head -> neck03 + head (a joint's rotation relative to its
  parent is split evenly over its bones; the BVH abdomen / chest / neck / head joints sit 20.7 /
  32.4 / 54.6 / 61.7 cm above the hip, anny's spine02 / spine01 / neck02 / head 21 / 35 / 54 / 61 cm
  above the pelvis); Shldr -> upperarm01, ForeArm -> lowerarm01, Hand -> wrist, Thigh -> upperleg01,
  Shin -> lowerleg01, Foot -> foot. The elbow's and knee's twist about the forearm / shin axis and the
  wrist's twist about the forearm axis (pronation) go to the twist bones lowerarm02 / lowerleg02,
  so lowerarm01 / lowerleg01 and wrist only swing. Clavicles (always 0 in the BVH), upperarm02,
  upperleg02, spine05/04, pelvis, fingers, toes and eyes stay at rest.
- World placement (the conventions of :class:`models.synth.motion.Motion`): ``global_orient`` in
  the upright camera-like world (y down; the BVH's own heading, facing -z when it faces +Z);
  ``transl`` x/z is the BVH hip travel scaled by anny's / Daz's leg length (0.96), y puts the
  lowest anny sole, toe or knee (anny's skeleton, offsets measured on its mesh) on the floor plus
  the BVH's short-lived lift above its local floor (jumps and flight phases keep their height;
  standing on a step or ladder rung for more than ~1 s settles onto the floor).

Quality (frames dropped are kept in the cache with ``valid = False``): a frame next to a per-joint
step above FLIP_STEP_DEG (80 degrees per 30 fps frame = 2400 deg/s, PROVENANCE's criterion), with
a joint beyond a generous range (RANGE_LIMIT_DEG), or with an impossible retargeted arm (elbow bent
backwards, forearm twist > 120 degrees: the BVH's humerus twist flipped, whole clips 01_01 left arm,
13_18, 14_23 left arm); clips in DROPPED_CLIPS (PROVENANCE's worst) or with more than 20 % flagged
frames are dropped whole.

Splits are by subject: TEST_SUBJECTS (2, 8, 12) are held out ("test"), the rest is "train".
Categories: ``MOCAP_CATEGORIES`` = ``models.synth.poses.CATEGORIES`` (same names, same indices)
followed by ``mocap_<category>`` for index.csv's 18 categories, so one index space serves a mix of
synthetic and mocap samples.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from models.body.base import ANNY_TO_CANONICAL
from models.synth.anatomy import PoseSpace
from models.synth.bvh import (FPS, BvhMotion, bvh_forward, bvh_points, leg_length_cm,  # noqa: F401 - mocap.read_bvh
                               read_bvh, rotation_fraction)
from models.synth.motion import Motion
from models.synth.poses import CATEGORIES, JITTER_DEG, SMALL_BONE_NOISE_DEG, PoseBatch, default_space, plausible
from models.synth.skeleton import Skeleton, forward_kinematics

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MOCAP_DIR = REPO_ROOT.parent / "shared/data/mocap"
MOCAP_DIR_ENV = "HMDIFF_MOCAP_DIR"
CACHE_DIR = REPO_ROOT / ".cache" / "mocap"

# BVH axes (Y up, faces +Z, left +X) -> anny axes (x left, y back, z up): x = x, y = -z, z = y.
BVH_TO_ANNY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
ANNY_TO_WORLD = ANNY_TO_CANONICAL.double().numpy()
BVH_TO_WORLD = ANNY_TO_WORLD @ BVH_TO_ANNY  # diag(1, -1, -1): y down, faces -z


def mocap_dir() -> Path:
    """The staged mocap folder (``$HMDIFF_MOCAP_DIR`` or ``../shared/data/mocap`` beside the repo)."""
    return Path(os.environ.get(MOCAP_DIR_ENV) or DEFAULT_MOCAP_DIR)


# ---------------------------------------------------------------------------------------------
# Retargeting

# anny bones driven by each BVH joint. Axial joints spread their rotation relative to the parent
# evenly over a chain of anny bones; limb joints drive one bone.
AXIAL_MAP: dict[str, tuple[str, ...]] = {
    "abdomen": ("spine03", "spine02"),
    "chest": ("spine01",),
    "neck": ("neck01", "neck02"),
    "head": ("neck03", "head"),
}
LIMB_MAP: dict[str, str] = {"Shldr": "upperarm01", "ForeArm": "lowerarm01", "Hand": "wrist",
                            "Thigh": "upperleg01", "Shin": "lowerleg01", "Foot": "foot"}
LIMB_SEGMENT_OF = {"Shldr": "upperarm", "ForeArm": "forearm", "Hand": "hand", "Thigh": "thigh", "Shin": "shin",
                   "Foot": "foot"}  # the segment (below) that each limb joint moves
SIDES = (("l", "L"), ("r", "R"))

# Corresponding points (BVH joint or derived point, anny bone head or derived point) of the
# segments compared by the bone-direction check; limb segments also define the rest alignment.
AXIAL_SEGMENTS: dict[str, tuple[str, str, str, str]] = {
    "lumbar": ("hip", "abdomen", "root", "spine02"),
    "thorax": ("abdomen", "chest", "spine02", "spine01"),
    "upper_thorax": ("chest", "neck", "spine01", "neck02"),
    "neck": ("neck", "head", "neck02", "head"),
    "head": ("head", "eyes", "head", "eyes"),
}
LIMB_SEGMENTS: dict[str, tuple[str, str, str, str]] = {  # {s}: BVH side l/r, {S}: anny side L/R
    "pelvis": ("hip", "{s}Thigh", "root", "upperleg01.{S}"),
    "shoulder": ("chest", "{s}Shldr", "spine01", "upperarm01.{S}"),
    "upperarm": ("{s}Shldr", "{s}ForeArm", "upperarm01.{S}", "lowerarm01.{S}"),
    "forearm": ("{s}ForeArm", "{s}Hand", "lowerarm01.{S}", "wrist.{S}"),
    "hand": ("{s}Hand", "{s}Mid1", "wrist.{S}", "finger3-1.{S}"),
    "thigh": ("{s}Thigh", "{s}Shin", "upperleg01.{S}", "lowerleg01.{S}"),
    "shin": ("{s}Shin", "{s}Foot", "lowerleg01.{S}", "foot.{S}"),
    "foot": ("{s}Foot", "{s}Toe", "foot.{S}", "toe3-3.{S}"),
    "palm": ("{s}Index1", "{s}Pinky1", "finger2-1.{S}", "finger5-1.{S}"),  # checks the hand's twist
}


def segments() -> dict[str, tuple[str, str, str, str]]:
    """All checked segments by name (sided ones as ``thigh.L``): (bvh_a, bvh_b, anny_a, anny_b)."""
    out = dict(AXIAL_SEGMENTS)
    for s, side in SIDES:
        for name, ends in LIMB_SEGMENTS.items():
            out[f"{name}.{side}"] = tuple(e.format(s=s, S=side) for e in ends)
    return out


def anny_points(heads: np.ndarray, skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Named points (..., 3) from anny bone heads (..., J, 3): bone heads and ``eyes`` (midpoint)."""
    points = {name: heads[..., i, :] for i, name in enumerate(skeleton.names)}
    points["eyes"] = 0.5 * (points["eye.L"] + points["eye.R"])
    return points


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Orthonormal frame (3, 3) with columns u, w orthogonalised against u, and u x w."""
    u = _unit(u)
    w = _unit(w - (w @ u) * u)
    return np.stack([u, w, np.cross(u, w)], axis=1)


def _twist(rot: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Twist part (..., 3, 3) of rotations (..., 3, 3) about a fixed unit axis (swing-twist split;
    the same twist for rot = swing @ twist and rot = twist @ swing)."""
    q = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_quat()  # xyzw
    along = q[:, :3] @ axis
    twist = np.concatenate([along[:, None] * axis, q[:, 3:]], axis=1)
    norm = np.linalg.norm(twist, axis=1, keepdims=True)
    twist = np.where(norm > 1e-9, twist / np.maximum(norm, 1e-12), np.array([0.0, 0.0, 0.0, 1.0]))
    return Rotation.from_quat(twist).as_matrix().reshape(rot.shape)


class Retargeter:
    """BVH frames -> anny ``local-ref`` poses, from the Daz T-pose reference and an anny skeleton.

    For each mapped anny bone b driven by BVH joint j: ``G_b = D_j C_b`` with ``D_j`` the world
    rotation change of j from the T-pose reference (in anny axes) and ``C_b`` the rest alignment
    (identity for the root and the axial bones, a two-vector frame match for limb bones); then
    ``R_b = G_parent^-1 G_b`` along anny's chain (see the module docstring).
    """

    def __init__(self, reference: BvhMotion, skeleton: Skeleton) -> None:
        self.skeleton = skeleton
        world, heads = bvh_forward(reference)
        self.reference_world = world[0]  # (J, 3, 3)
        tpose = {k: BVH_TO_ANNY @ v[0] for k, v in bvh_points(reference, world, heads).items()}
        rest = anny_points(skeleton.rest, skeleton)
        self.align: dict[str, np.ndarray] = {}
        self.driver: dict[str, str] = {"root": "hip"}  # anny bone -> BVH joint
        for joint, bones in AXIAL_MAP.items():
            self.driver.update({bone: joint for bone in bones})
        forward, lateral = np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.0])
        self.daz_elbow_rest: dict[str, float] = {}
        for s, side in SIDES:
            seg = {name: [e.format(s=s, S=side) for e in ends] for name, ends in LIMB_SEGMENTS.items()}
            d = {name: _unit(tpose[b] - tpose[a]) for name, (a, b, _, _) in seg.items()}
            r = {name: _unit(rest[b] - rest[a]) for name, (_, _, a, b) in seg.items()}
            # The Daz forearm is 17 degrees bent at the zero pose, and the data's elbows hardly ever
            # straighten further: that is the Daz "straight" elbow. Match anny's straight elbow to it
            # by turning the Daz forearm and hand about the elbow hinge onto the upper arm's line.
            hinge = _unit(np.cross(d["upperarm"], d["forearm"]))
            bend = float(np.arccos(np.clip(d["upperarm"] @ d["forearm"], -1, 1)))
            self.daz_elbow_rest[side] = float(np.degrees(bend))
            straighten = Rotation.from_rotvec(-bend * hinge).as_matrix()
            second = {  # (Daz, anny) secondary vectors fixing the twist about the bone
                "upperarm": (hinge, np.cross(r["upperarm"], r["forearm"])),
                "forearm": (hinge, np.cross(r["upperarm"], r["forearm"])),
                "hand": (d["palm"], r["palm"]),
                "thigh": (forward, forward), "shin": (forward, forward), "foot": (lateral, lateral),
            }
            for joint, bone in LIMB_MAP.items():
                seg_name = LIMB_SEGMENT_OF[joint]
                w_daz, w_anny = second[seg_name]
                name = f"{bone}.{side}"
                self.align[name] = _frame(d[seg_name], w_daz) @ _frame(r[seg_name], w_anny).T
                if seg_name in ("forearm", "hand"):
                    self.align[name] = straighten @ self.align[name]
                self.driver[name] = f"{s}{joint}"
        self.forearm_axes = {side: _unit(rest[f"wrist.{side}"] - rest[f"lowerarm01.{side}"]) for _, side in SIDES}
        self.shin_axes = {side: _unit(rest[f"foot.{side}"] - rest[f"lowerleg01.{side}"]) for _, side in SIDES}

    def world_targets(self, motion: BvhMotion, world: np.ndarray) -> dict[str, np.ndarray]:
        """Target world rotations (T, 3, 3) in anny axes of the driven anny bones."""
        out = {}
        for bone, joint in self.driver.items():
            j = motion.index(joint)
            change = world[:, j] @ self.reference_world[j].T
            change = BVH_TO_ANNY @ change @ BVH_TO_ANNY.T
            out[bone] = change @ self.align[bone] if bone in self.align else change
        return out

    def __call__(self, motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
        """Pose (T, P, 3) float64 anny axis-angles and the root's world rotation (T, 3, 3), anny axes."""
        world, _ = bvh_forward(motion)
        target = self.world_targets(motion, world)
        sk = self.skeleton
        glob = {"root": target["root"]}
        local: dict[str, np.ndarray | None] = {}
        groups = {bones[0]: bones for bones in AXIAL_MAP.values()}
        for i in range(1, len(sk.names)):
            name, parent = sk.names[i], sk.names[sk.parents[i]]
            if name in local:
                pass
            elif name in groups:  # spread the joint's rotation evenly over a chain of bones
                bones = groups[name]
                share = rotation_fraction(np.swapaxes(glob[parent], 1, 2) @ target[bones[-1]], 1.0 / len(bones))
                local.update({bone: share for bone in bones})
            elif name.split(".")[0] in ("lowerarm01", "lowerleg01"):
                side, arm = name[-1], name.startswith("lowerarm")
                axis = (self.forearm_axes if arm else self.shin_axes)[side]
                q = np.swapaxes(glob[parent], 1, 2) @ target[name]  # elbow / knee
                twist = _twist(q, axis)
                local[name] = q @ np.swapaxes(twist, 1, 2)  # the swing: q = swing @ twist
                if arm:  # the wrist's twist about the forearm axis (pronation) moves to lowerarm02 too
                    hand = np.swapaxes(target[name], 1, 2) @ target[f"wrist.{side}"]
                    pronation = _twist(hand, axis)
                    local[f"wrist.{side}"] = np.swapaxes(pronation, 1, 2) @ hand  # hand = twist @ swing
                    twist = twist @ pronation
                local[("lowerarm02." if arm else "lowerleg02.") + side] = twist
            elif name in target:
                local[name] = np.swapaxes(glob[parent], 1, 2) @ target[name]
            else:
                local[name] = None  # at rest
            glob[name] = glob[parent] if local[name] is None else glob[parent] @ local[name]
        pose = np.zeros((len(motion.rotations), len(sk.names) - 1, 3))
        for i, name in enumerate(sk.names[1:]):
            if local[name] is not None:
                pose[:, i] = Rotation.from_matrix(local[name]).as_rotvec()
        return pose, target["root"]


def direction_errors(motion: BvhMotion, pose: np.ndarray, root: np.ndarray,
                     skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Per segment (see :func:`segments`), the angle (T,) degrees between the retargeted anny
    segment (forward kinematics of anny bone heads, the root turned by ``root``) and the BVH one."""
    world, heads = bvh_forward(motion)
    bvh = {k: v @ BVH_TO_ANNY.T for k, v in bvh_points(motion, world, heads).items()}
    canonical = forward_kinematics(torch.as_tensor(pose, dtype=torch.float64), skeleton).double().numpy()
    anny = anny_points(np.einsum("tab,tjb->tja", root, canonical @ ANNY_TO_WORLD), skeleton)
    out = {}
    for name, (ba, bb, aa, ab) in segments().items():
        u, v = _unit(bvh[bb] - bvh[ba]), _unit(anny[ab] - anny[aa])
        out[name] = np.degrees(np.arccos(np.clip((u * v).sum(-1), -1.0, 1.0)))
    return out


# ---------------------------------------------------------------------------------------------
# Quality: joint flips

FLIP_STEP_DEG = 80.0  # per 30 fps frame = 2400 deg/s, PROVENANCE's 20 deg per 120 Hz frame
RANGE_LIMIT_DEG = {"Foot": 100.0, "Shin": 155.0, "Thigh": 150.0, "Hand": 120.0, "head": 100.0}
FLIP_GAP_FRAMES = 15  # frames between two flagged frames (0.5 s) are flagged too
DROP_CLIP_FRACTION = 0.2
# PROVENANCE.md's worst clips (27-100 flip steps each at 120 Hz): dropped whole.
DROPPED_CLIPS = ("05_05", "05_06", "05_08", "05_16", "05_17", "05_18", "05_19")
ANIMATED = ("hip", "abdomen", "chest", "neck", "head", "lShldr", "rShldr", "lForeArm", "rForeArm", "lHand",
            "rHand", "lThigh", "rThigh", "lShin", "rShin", "lFoot", "rFoot")


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between rotations a and b (..., 3, 3)."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1.0) / 2.0  # trace(a^T b)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def flip_frames(motion: BvhMotion, reference: BvhMotion) -> np.ndarray:
    """(T,) bool: frames next to a joint flip or outside a generous range of motion.

    A frame is flagged when any animated joint's local rotation steps more than FLIP_STEP_DEG
    into or out of it, or when a foot, shin, thigh, hand or the head is rotated further from the
    T-pose than RANGE_LIMIT_DEG (ankle > 100, knee > 155, hip > 150, wrist > 120, head on neck
    > 100 degrees: beyond any joint's range; the flipped solutions of the solver land there).
    Frames between two flagged frames at most FLIP_GAP_FRAMES apart are flagged too.
    """
    bad = np.zeros(len(motion.rotations), dtype=bool)
    for joint in ANIMATED:
        j = motion.index(joint)
        rot = motion.rotations[:, j]
        jump = _angle(rot[:-1], rot[1:]) > FLIP_STEP_DEG
        bad[:-1] |= jump
        bad[1:] |= jump
        limit = next((v for k, v in RANGE_LIMIT_DEG.items() if joint.endswith(k)), None)
        if limit is not None:
            bad |= _angle(reference.rotations[0, j], rot) > limit
    flagged = np.flatnonzero(bad)
    for a, b in zip(flagged[:-1], flagged[1:]):
        if b - a <= FLIP_GAP_FRAMES:
            bad[a:b] = True
    return bad


ELBOW_HYPEREXTENSION_DEG = 15.0  # anny elbow bent backwards further than this: impossible arm
FOREARM_TWIST_LIMIT_DEG = 120.0  # hand twisted about the forearm further than this from mid-position


def implausible_arms(pose: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(T,) bool: retargeted frames with an elbow bent backwards (> ELBOW_HYPEREXTENSION_DEG past
    straight) or a forearm twist (lowerarm02, pronation / supination) beyond FOREARM_TWIST_LIMIT_DEG.

    Both happen where the BVH's humerus twist flipped: the forearm then points behind a
    hanging upper arm (01_01, 13_18, 14_23).
    """
    bad = np.zeros(len(pose), dtype=bool)
    for side in "LR":
        upper = _unit(skeleton.rest_vector(f"upperarm01.{side}", f"lowerarm01.{side}"))
        fore = _unit(skeleton.rest_vector(f"lowerarm01.{side}", f"wrist.{side}"))
        hinge = _unit(np.cross(upper, fore))
        bent = Rotation.from_rotvec(pose[:, skeleton.pose_index(f"lowerarm01.{side}")]).apply(fore)
        flex = np.degrees(np.arctan2(np.cross(upper, bent) @ hinge, bent @ upper))
        twist = np.degrees(np.linalg.norm(pose[:, skeleton.pose_index(f"lowerarm02.{side}")], axis=-1))
        bad |= (flex < -ELBOW_HYPEREXTENSION_DEG) | (twist > FOREARM_TWIST_LIMIT_DEG)
    return bad


# ---------------------------------------------------------------------------------------------
# Floor contact and world placement

# anny contact bone heads and their distance to the skin below / in front (neutral mesh, measured:
# the sole is 7.0 cm below the ankle head, 2.2 / 1.8 cm below the toe1-2 / toe5-3 heads; the knee's
# front surface is 6.0 cm from the lowerleg01 head).
ANNY_CONTACTS = {"foot": 0.070, "toe1-2": 0.022, "toe5-3": 0.018, "lowerleg01": 0.060}
BVH_KNEE_OFFSET_CM = 6.0  # the Daz knee's skin, as anny's; ankle and toe tip offsets: T-pose heights
LIFT_MIN_WINDOW_S = 2.0  # the local floor is the running minimum of the clearance over 2 s ...
LIFT_MEAN_WINDOW_S = 1.0  # ... averaged over 1 s


def bvh_clearance(motion: BvhMotion, reference: BvhMotion) -> np.ndarray:
    """Height (T,) cm of the BVH body's lowest sole / knee above the BVH floor (y = 0)."""
    ref_points = bvh_points(reference, *bvh_forward(reference))
    points = bvh_points(motion, *bvh_forward(motion))
    heights = []
    for s in "lr":
        for name in (f"{s}Foot", f"{s}Toe"):
            heights.append(points[name][:, 1] - ref_points[name][0, 1])
        heights.append(points[f"{s}Shin"][:, 1] - BVH_KNEE_OFFSET_CM)
    return np.min(heights, axis=0)


def airborne_lift(clearance: np.ndarray, valid: np.ndarray, fps: float) -> np.ndarray:
    """Short-lived rise (T,) of the lowest contact above its local floor (>= 0): jumps and flight
    phases keep their height, standing on a step or a ladder for more than ~1 s does not."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    c = np.where(valid, clearance, np.inf)
    if not np.isfinite(c).any():
        return np.zeros_like(clearance)
    floor = minimum_filter1d(c, size=int(round(LIFT_MIN_WINDOW_S * fps)) | 1, mode="nearest")
    floor = np.where(np.isfinite(floor), floor, clearance)
    floor = uniform_filter1d(floor, size=int(round(LIFT_MEAN_WINDOW_S * fps)) | 1, mode="nearest")
    return np.maximum(clearance - floor, 0.0)


def pelvis_height(pose: np.ndarray, world_rot: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Pelvis height (T,) m above the floor with the lowest anny sole or knee on it (y down)."""
    joints = forward_kinematics(torch.as_tensor(pose, dtype=torch.float32), skeleton).double().numpy()
    lowest = np.full(len(pose), -np.inf)
    for bone, offset in ANNY_CONTACTS.items():
        for side in "LR":
            y = np.einsum("tb,tb->t", world_rot[:, 1], joints[:, skeleton.index(f"{bone}.{side}")])
            lowest = np.maximum(lowest, y + offset)
    return lowest


def yaw_free(world_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split world rotations (..., 3, 3) (y down) into yaw (...,) radians about y and the rest:
    ``world = R_y(yaw) @ R_z(roll) @ R_x(pitch)``; returns (yaw, body_orient rotvec (..., 3))."""
    shape = world_rot.shape[:-2]
    angles = Rotation.from_matrix(world_rot.reshape(-1, 3, 3)).as_euler("YZX")
    body = Rotation.from_euler("ZX", angles[:, 1:]).as_rotvec()
    return angles[:, 0].reshape(shape), body.reshape(shape + (3,))


# ---------------------------------------------------------------------------------------------
# The retargeted set: build once, cache, load

CODE_VERSION = "3"  # bump when the retargeting changes
SOURCE_CATEGORIES = (  # index.csv's categories (PROVENANCE.md), in a fixed order
    "walk", "walk_uneven_terrain", "walk_forward_backward_sideways", "run", "jump", "playground_climb_hang_jump",
    "combat_punch_swordplay_boxing", "dance_modern_ballet", "sports_basketball", "sports_soccer_kick",
    "sit_down_stand_up", "bend_reach_tiptoe", "exercise_jumpingjacks_twists_squats", "everyday_drink",
    "everyday_laugh", "everyday_wash", "gesture_direct_traffic_wave", "climb_ladder_or_steps",
    "floor_crawl_roll_getup", "acrobatics_flip_cartwheel",  # DeepMimic's clips (no CMU clip has these)
)
# The synthetic categories unchanged (same indices), then one name per mocap category.
MOCAP_CATEGORIES = list(CATEGORIES) + [f"mocap_{c}" for c in SOURCE_CATEGORIES]
TEST_SUBJECTS = (2, 8, 12)  # held out whole: 4,496 of 35,292 frames (12.7 %)


@dataclass
class MocapSet:
    """Every retargeted frame of every clip (dropped frames included, flagged by ``valid``)."""

    pose_names: list[str]  # anny pose bones (P)
    driven: np.ndarray  # (K,) int64 pose indices of the bones the BVH drives; the others are at rest
    pose: np.ndarray  # (N, K, 3) float32 axis-angles of the driven bones
    global_orient: np.ndarray  # (N, 3) float32 world orientation (y down, the BVH's own heading)
    body_orient: np.ndarray  # (N, 3) float32 the same without yaw (canonical frame)
    transl: np.ndarray  # (N, 3) float32 pelvis, metres, floor at y = 0 (x, z: the BVH's travel)
    valid: np.ndarray  # (N,) bool frames kept (no flip, clip not dropped)
    clip: np.ndarray  # (N,) int64 clip index of each frame
    clip_names: np.ndarray  # (C,) str "SS_TT" (CMU) or "dm_<motion>" (DeepMimic)
    clip_subject: np.ndarray  # (C,) int64
    clip_category: np.ndarray  # (C,) int64 index into MOCAP_CATEGORIES
    clip_start: np.ndarray  # (C,) int64 first frame of each clip

    def full_pose(self, frames: np.ndarray) -> np.ndarray:
        """(n, P, 3) float32 poses of frames (n,)."""
        out = np.zeros((len(frames), len(self.pose_names), 3), dtype=np.float32)
        out[:, self.driven] = self.pose[frames]
        return out

    def split_mask(self, split: str) -> np.ndarray:
        """(N,) bool: the valid frames of a split: "train", "test" (TEST_SUBJECTS) or "all"."""
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        held = np.isin(self.clip_subject, TEST_SUBJECTS)[self.clip]
        return self.valid & {"train": ~held, "test": held, "all": np.ones_like(held)}[split]

    def segments(self, split: str) -> np.ndarray:
        """(S, 2) int64 [start, end) runs of consecutive valid frames of one clip in a split."""
        mask = self.split_mask(split)
        edge = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
        cut = np.zeros(len(mask) + 1, dtype=bool)
        cut[self.clip_start] = True
        starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        out = []
        for a, b in zip(starts, ends):  # split runs at clip boundaries
            bounds = [a] + [c for c in np.flatnonzero(cut[a + 1:b]) + a + 1] + [b]
            out += list(zip(bounds[:-1], bounds[1:]))
        return np.array(out, dtype=np.int64).reshape(-1, 2)


def _source_files(root: Path) -> list[Path]:
    """The CMU BVH clips, then DeepMimic's (see :mod:`models.synth.deepmimic`)."""
    from models.synth import deepmimic

    return sorted((root / "bvh").glob("*.bvh")) + deepmimic.clip_paths(root)


def read_clip(path: Path, reference: BvhMotion) -> tuple[str, BvhMotion]:
    """A source clip's name (``SS_TT`` or ``dm_<motion>``) and its motion on the Daz skeleton."""
    from models.synth import deepmimic

    if path.suffix == ".bvh":
        return path.stem, read_bvh(path)
    return deepmimic.clip_name(path), deepmimic.read_deepmimic(path, reference)


def clip_path(root: Path, name: str) -> Path:
    """The source file of a clip name (inverse of :func:`read_clip`'s name)."""
    from models.synth import deepmimic

    return deepmimic.clip_file(root, name) if name.startswith("dm_") else root / "bvh" / f"{name}.bvh"


def cache_key(root: Path) -> str:
    """Hash of the source files (BVH clips, T-pose reference, index.csv), of this module and the
    skeleton's FK (so any code change rebuilds), CODE_VERSION and the anny and bvhio versions."""
    from importlib.metadata import version

    from models.synth import deepmimic

    digest = hashlib.sha1(f"mocap-v{CODE_VERSION}-anny{version('anny')}-bvhio{version('bvhio')}".encode())
    code = [Path(__file__).with_name(n) for n in ("mocap.py", "deepmimic.py", "skeleton.py")]  # any edit rebuilds
    character = deepmimic.character_file(root)
    extra = [character] if character.is_file() else []
    for path in code + [root / "index.csv", root / "skeleton/daz_tpose_reference.bvh"] + extra + _source_files(root):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def read_index(root: Path) -> list[dict[str, str]]:
    with open(root / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def build_mocap(root: Path, skeleton: Skeleton | None = None, log=print) -> MocapSet:
    """Read, check and retarget every clip (about a minute on one core)."""
    from models.synth import deepmimic
    from models.synth.skeleton import anny_skeleton

    skeleton = skeleton or anny_skeleton()
    reference = read_bvh(root / "skeleton/daz_tpose_reference.bvh")
    retarget = Retargeter(reference, skeleton)
    # Bone lengths differ: the BVH's travel and lift are scaled by the ratio of leg lengths
    # (hip joint to ankle, rest poses), anny's over the Daz figure's.
    daz_leg = leg_length_cm(reference)
    anny_leg = skeleton.rest[skeleton.index("upperleg01.L"), 2] - skeleton.rest[skeleton.index("foot.L"), 2]
    scale = anny_leg / (daz_leg / 100.0)
    info = {row["clip"]: row for row in read_index(root)}
    names, subjects, categories, starts = [], [], [], []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("pose", "orient", "body", "transl", "valid")}
    start = 0
    for path in _source_files(root):
        name, motion = read_clip(path, reference)
        if abs(motion.frame_time - 1.0 / FPS) > 1e-4:
            raise ValueError(f"{path}: frame time {motion.frame_time}, expected 1/{FPS:g} s")
        pose, root_rot = retarget(motion)
        bad = flip_frames(motion, reference) | implausible_arms(pose, skeleton)
        dropped = name in DROPPED_CLIPS or bad.mean() > DROP_CLIP_FRACTION
        valid = ~bad & (not dropped)
        world_rot = ANNY_TO_WORLD @ root_rot @ ANNY_TO_WORLD.T
        lift = airborne_lift(bvh_clearance(motion, reference) / 100.0 * scale, valid, FPS)
        transl = (motion.root_position / 100.0 * scale) @ BVH_TO_WORLD.T
        transl[:, 1] = -(pelvis_height(pose, world_rot, skeleton) + lift)
        parts["pose"].append(pose)
        parts["orient"].append(Rotation.from_matrix(world_rot).as_rotvec())
        parts["body"].append(yaw_free(world_rot)[1])
        parts["transl"].append(transl)
        parts["valid"].append(valid)
        names.append(name)
        subjects.append(int(info[name]["subject"]) if name in info else deepmimic.SUBJECT)
        category = info[name]["category"] if name in info else deepmimic.CATEGORIES[name]
        categories.append(MOCAP_CATEGORIES.index(f"mocap_{category}"))
        starts.append(start)
        start += len(pose)
        log(f"[mocap] {name}: {len(pose)} frames, {int(bad.sum())} flagged{' - clip dropped' if dropped else ''}")
    pose = np.concatenate(parts["pose"])
    driven = np.flatnonzero(np.abs(pose).max(axis=(0, 2)) > 0)
    return MocapSet(
        pose_names=list(skeleton.names[1:]), driven=driven, pose=pose[:, driven].astype(np.float32),
        global_orient=np.concatenate(parts["orient"]).astype(np.float32),
        body_orient=np.concatenate(parts["body"]).astype(np.float32),
        transl=np.concatenate(parts["transl"]).astype(np.float32), valid=np.concatenate(parts["valid"]),
        clip=np.repeat(np.arange(len(names)), np.diff(starts + [start])), clip_names=np.array(names),
        clip_subject=np.array(subjects, dtype=np.int64), clip_category=np.array(categories, dtype=np.int64),
        clip_start=np.array(starts, dtype=np.int64))


_LOADED: dict[Path, MocapSet] = {}


def load_mocap(root: str | Path | None = None, rebuild: bool = False, log=print) -> MocapSet:
    """The retargeted set, from ``.cache/mocap/`` when its key matches, else built and cached.

    Raises FileNotFoundError when the mocap folder is absent (callers and tests skip on it).
    """
    root = Path(root) if root is not None else mocap_dir()
    if not (root / "index.csv").is_file():
        raise FileNotFoundError(f"no mocap data at {root} (set {MOCAP_DIR_ENV})")
    if not rebuild and root in _LOADED:
        return _LOADED[root]
    path = CACHE_DIR / f"mocap_{cache_key(root)}.npz"
    if path.is_file() and not rebuild:
        with np.load(path) as f:
            data = MocapSet(**{k: f[k] for k in f.files if k != "pose_names"}, pose_names=list(f["pose_names"]))
    else:
        data = build_mocap(root, log=log)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in vars(data).items()})
        os.replace(tmp, path)
        for stale in CACHE_DIR.glob("mocap_*.npz"):
            if stale != path and not stale.name.endswith(".tmp.npz"):
                stale.unlink(missing_ok=True)
        log(f"[mocap] cached {int(data.valid.sum())} of {len(data.valid)} frames in {path}")
    _LOADED[root] = data
    return data


# ---------------------------------------------------------------------------------------------
# Augmentation and samplers

MIRROR_SIGN = np.array([1.0, -1.0, -1.0])  # axis-angle under the reflection x -> -x (anny / canonical)
TILT_DEG = 3.0  # std of the extra pelvis pitch and roll of sample_mocap_poses
SPEED_RANGE = (0.8, 1.25)
ARM_BONES = ("upperarm01", "lowerarm01", "lowerarm02", "wrist")  # the BVH-driven arm bones, each side


def mirror_permutation(pose_names: list[str]) -> np.ndarray:
    """(P,) index of each pose bone's left/right counterpart (itself for the midline bones)."""
    swap = {".L": ".R", ".R": ".L"}
    return np.array([pose_names.index(n[:-2] + swap[n[-2:]]) if n[-2:] in swap else i
                     for i, n in enumerate(pose_names)])


def mirror_pose(pose: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """The left/right mirror image of anny poses (..., P, 3): bones swapped, (x, y, z) -> (x, -y, -z)."""
    return pose[..., permutation, :] * MIRROR_SIGN


def _slerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row slerp between rotation vectors a and b (..., 3) at weights w (...)."""
    ra, rb = Rotation.from_rotvec(a.reshape(-1, 3)), Rotation.from_rotvec(b.reshape(-1, 3))
    step = (ra.inv() * rb).as_rotvec() * np.broadcast_to(w, a.shape[:-1]).reshape(-1, 1)
    return (ra * Rotation.from_rotvec(step)).as_rotvec().reshape(a.shape)


def _compose(rotvec: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """rotvec(exp(rotvec) @ exp(noise)) for (..., 3) arrays."""
    r = Rotation.from_rotvec(rotvec.reshape(-1, 3)) * Rotation.from_rotvec(noise.reshape(-1, 3))
    return r.as_rotvec().reshape(rotvec.shape)


def sample_mocap_poses(n: int, rng: np.random.Generator, split: str = "train",
                       space: PoseSpace | None = None, arm_swap: float = 0.0) -> PoseBatch:
    """``n`` mocap frames drawn uniformly from a split's kept frames, augmented: a random
    left/right mirror (half), a small extra pelvis pitch and roll (TILT_DEG), jitter on the
    BVH-driven bones (JITTER_DEG per axis) and SMALL_BONE_NOISE_DEG on every other bone (fingers,
    toes, clavicles, ... which the BVH leaves at rest), as :func:`models.synth.poses.sample_poses`.
    ``arm_swap``: the share of frames whose two arms (ARM_BONES, joint angles relative to the
    chest) come from another frame of the split: what one clip's legs and trunk did with
    another's arms (sitting and phoning, walking and eating), poses no clip holds; a mix that puts
    a hand or forearm through the body (:func:`models.synth.poses.plausible`) keeps its own arms.
    0 draws nothing more from ``rng``.

    ``body_orient`` is the pelvis pitch / roll without yaw (canonical frame); ``category``
    indexes MOCAP_CATEGORIES; ``dofs`` is (n, 0): mocap has no anatomical DOFs. ``space``, if
    given, is only checked against the cached pose layout.
    """
    data = load_mocap()
    if space is not None and len(space.skeleton.names) - 1 != len(data.pose_names):
        raise ValueError("the pose space's skeleton does not match the cached mocap poses")
    frames = np.flatnonzero(data.split_mask(split))
    idx = frames[rng.integers(0, len(frames), n)]
    pose = data.full_pose(idx).astype(np.float64)
    body = data.body_orient[idx].astype(np.float64)
    flip = rng.random(n) < 0.5
    pose[flip] = mirror_pose(pose[flip], mirror_permutation(data.pose_names))
    body[flip] *= MIRROR_SIGN
    driven = np.zeros(len(data.pose_names), dtype=bool)
    driven[data.driven] = True
    pose[:, driven] = _compose(pose[:, driven], rng.normal(0, np.radians(JITTER_DEG), (n, int(driven.sum()), 3)))
    pose[:, ~driven] += rng.normal(0, np.radians(SMALL_BONE_NOISE_DEG), (n, int((~driven).sum()), 3))
    tilt = Rotation.from_euler("ZX", rng.normal(0, np.radians(TILT_DEG), (n, 2)))
    _, body = yaw_free((tilt * Rotation.from_rotvec(body)).as_matrix())
    if arm_swap > 0:  # last, so that the other draws stay those of arm_swap = 0
        swap = np.flatnonzero(rng.random(n) < arm_swap)
        arms = [i for i, name in enumerate(data.pose_names) if name.split(".")[0] in ARM_BONES]
        mixed = pose[swap]
        mixed[:, arms] = data.full_pose(frames[rng.integers(0, len(frames), len(swap))])[:, arms]
        skeleton = (space or default_space()).skeleton  # a hand through the trunk: keep the own arms
        ok = plausible(forward_kinematics(torch.as_tensor(mixed), skeleton).numpy(), skeleton)
        pose[swap[ok]] = mixed[ok]
    return PoseBatch(pose=torch.as_tensor(pose, dtype=torch.float32),
                     body_orient=torch.as_tensor(body, dtype=torch.float32),
                     category=data.clip_category[data.clip[idx]].astype(np.int64), dofs=np.zeros((n, 0), np.float32))


def sample_mocap_sequence(num_frames: int, fps: float, rng: np.random.Generator, split: str = "train",
                          exclude: tuple[str, ...] = ()) -> Motion:
    """A window of a mocap clip as a :class:`Motion` at ``fps``: played 0.8-1.25x as fast (slerp
    between the 30 fps frames), mirrored half of the time, turned by a random yaw about the first
    frame's pelvis (which starts at x = z = 0); ``kind="mocap"``, ``dofs`` (T, 0)."""
    data = load_mocap()
    speed = rng.uniform(*SPEED_RANGE)
    step = speed * FPS / fps  # source frames per output frame
    span = (num_frames - 1) * step
    seg = data.segments(split)
    room = (seg[:, 1] - seg[:, 0] - 1) - span  # start positions to spare in each run of valid frames
    if not (room >= 0).any():
        raise ValueError(f"no {split} mocap run is {span / FPS:.1f} s long (longest: "
                         f"{(seg[:, 1] - seg[:, 0]).max() / FPS:.1f} s)")
    weight = np.where(room >= 0, room + 1.0, 0.0)  # about uniform over start positions
    if exclude:  # e.g. clips whose props (a stool, a ladder) a synthetic scene lacks
        banned = [MOCAP_CATEGORIES.index(name) for name in exclude]
        weight = np.where(np.isin(data.clip_category[data.clip[seg[:, 0]]], banned), 0.0, weight)
        if not weight.any():
            raise ValueError(f"no {split} mocap run of {span / FPS:.1f} s outside {', '.join(exclude)}")
    k = rng.choice(len(seg), p=weight / weight.sum())
    a, b = seg[k]
    t = a + rng.uniform(0, room[k]) + step * np.arange(num_frames)
    i0 = np.minimum(np.floor(t).astype(np.int64), b - 1)
    i1 = np.minimum(i0 + 1, b - 1)
    w = t - i0
    pose = np.zeros((num_frames, len(data.pose_names), 3))
    pose[:, data.driven] = _slerp(data.pose[i0].astype(np.float64), data.pose[i1].astype(np.float64), w[:, None])
    orient = _slerp(data.global_orient[i0].astype(np.float64), data.global_orient[i1].astype(np.float64), w)
    transl = (1 - w)[:, None] * data.transl[i0] + w[:, None] * data.transl[i1]
    if rng.random() < 0.5:
        pose = mirror_pose(pose, mirror_permutation(data.pose_names))
        orient = orient * MIRROR_SIGN
        transl = transl * np.array([-1.0, 1.0, 1.0])
    yaw = Rotation.from_euler("y", rng.uniform(-np.pi, np.pi))
    orient = (yaw * Rotation.from_rotvec(orient)).as_rotvec()
    transl = transl - transl[0] * np.array([1.0, 0.0, 1.0])
    transl = yaw.apply(transl)
    category = np.full(num_frames, data.clip_category[data.clip[a]], dtype=np.int64)
    as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    return Motion(pose=as_tensor(pose), global_orient=as_tensor(orient), transl=as_tensor(transl),
                  dofs=np.zeros((num_frames, 0), np.float32), category=category, kind="mocap")
