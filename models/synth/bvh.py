"""BVH files: the reader (bvhio parses; rotations are checked against scipy in tests), forward
kinematics and the named points of the Daz figure of the staged mocap set (CMU's BVH release).
``models.synth.mocap`` retargets these motions to anny; ``models.synth.deepmimic`` turns DeepMimic's
clips into such motions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

FPS = 30.0  # the frame rate every clip of the mocap set is resampled to



@dataclass
class BvhMotion:
    """One BVH file: hierarchy (cm) and per-frame local joint rotations."""

    names: list[str]
    parents: list[int]  # -1 for the root
    offsets: np.ndarray  # (J, 3) float64 cm, joint head relative to the parent's head (parent axes)
    end_sites: dict[str, np.ndarray]  # leaf joint name -> End Site offset (cm)
    rotations: np.ndarray  # (T, J, 3, 3) float64 local rotations (global = parent_global @ offset @ R)
    root_position: np.ndarray  # (T, 3) float64 cm
    frame_time: float

    def index(self, name: str) -> int:
        return self.names.index(name)


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file with bvhio (its Euler channels are intrinsic in channel order)."""
    import warnings

    with warnings.catch_warnings():  # bvhio imports PyGLM as "glm", which PyGLM plans to deprecate
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import bvhio

    bvh = bvhio.readAsBvh(str(path))
    joints = [joint for joint, _, _ in bvh.Root.layout()]
    position = {id(joint): i for i, joint in enumerate(joints)}
    parents = [-1] * len(joints)
    for joint in joints:
        for child in joint.Children:
            parents[position[id(child)]] = position[id(joint)]
    quats = np.array([[(k.Rotation.x, k.Rotation.y, k.Rotation.z, k.Rotation.w) for k in joint.Keyframes]
                      for joint in joints], dtype=np.float64)  # (J, T, 4) xyzw
    num_joints, num_frames = quats.shape[:2]
    rotations = Rotation.from_quat(quats.reshape(-1, 4)).as_matrix().reshape(num_joints, num_frames, 3, 3)
    root = np.array([(k.Position.x, k.Position.y, k.Position.z) for k in joints[0].Keyframes], dtype=np.float64)
    return BvhMotion(
        names=[joint.Name for joint in joints], parents=parents,
        offsets=np.array([tuple(joint.Offset) for joint in joints], dtype=np.float64),
        end_sites={joint.Name: np.array(tuple(joint.EndSite), dtype=np.float64) for joint in joints
                   if not joint.Children},
        rotations=np.ascontiguousarray(rotations.transpose(1, 0, 2, 3)), root_position=root,
        frame_time=float(bvh.FrameTime))


def bvh_forward(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (T, J, 3, 3) and joint heads (T, J, 3) cm in BVH axes."""
    num = len(motion.names)
    world = np.empty_like(motion.rotations)
    heads = np.empty(motion.rotations.shape[:1] + (num, 3))
    for j, p in enumerate(motion.parents):  # BVH order lists parents first
        if p < 0:
            world[:, j] = motion.rotations[:, j]
            heads[:, j] = motion.root_position + motion.offsets[j]
        else:
            world[:, j] = world[:, p] @ motion.rotations[:, j]
            heads[:, j] = heads[:, p] + world[:, p] @ motion.offsets[j]
    return world, heads


def leg_length_cm(reference: BvhMotion) -> float:
    """The Daz figure's leg (hip joint to ankle, cm) in its T-pose reference."""
    points = bvh_points(reference, *bvh_forward(reference))
    return float(points["lThigh"][0, 1] - points["lFoot"][0, 1])


def bvh_points(motion: BvhMotion, world: np.ndarray, heads: np.ndarray) -> dict[str, np.ndarray]:
    """Named points (T, 3) cm in BVH axes: joint heads, ``eyes`` (midpoint), ``lToe``/``rToe`` (foot tips)."""
    points = {name: heads[:, i] for i, name in enumerate(motion.names)}
    points["eyes"] = 0.5 * (points["leftEye"] + points["rightEye"])
    for s in "lr":
        foot = motion.index(f"{s}Foot")
        points[f"{s}Toe"] = heads[:, foot] + world[:, foot] @ motion.end_sites[f"{s}Foot"]
    return points


def rotation_fraction(rot: np.ndarray, frac: float) -> np.ndarray:
    """rot ** frac (same axis, angle scaled) for rotations (..., 3, 3)."""
    vec = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec() * frac
    return Rotation.from_rotvec(vec).as_matrix().reshape(rot.shape)
