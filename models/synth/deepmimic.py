"""DeepMimic's clips (MIT, ``extras/deepmimic`` of the mocap folder) as Daz-skeleton BVH motion.

The 15 clips add what CMU subjects 1-14 lack (crawling, getting up from the floor, rolling,
cartwheels, flips, kicks). Rather than a second retargeter, each clip drives the Daz T-pose
reference skeleton, and :class:`models.synth.mocap.Retargeter` then serves it like a CMU clip:

- DeepMimic's humanoid (``humanoid3d_character.txt``: 15 joints, Y up, faces +X, right +Z; frames
  ``[dt, root xyz (m), root quat, chest q, neck q, r_hip q, r_knee (rad), r_ankle q, r_shoulder q,
  r_elbow (rad), l_hip ... l_elbow]``, quaternions w x y z, knees and elbows revolute about their
  local z) is posed by forward kinematics, resampled to 30 fps (slerp; the clips run at 16-60 fps).
- Its reference pose is its zero pose (standing, arms hanging, elbows and knees straight) with the
  upper arms raised to the sides: the Daz T-pose. Each DeepMimic joint's world rotation change
  from it, in BVH axes, becomes the change of the Daz joints it drives (DEEPMIMIC_DRIVERS; the
  chest's and the neck's rotations are split evenly over abdomen + chest and neck + head, the
  hand follows the forearm as DeepMimic's wrist is fixed); every other Daz joint keeps its T-pose
  rotation relative to its parent (collars, fingers, eyes, buttocks).
- The root's travel is scaled to the Daz figure by the ratio of leg lengths (hip to ankle).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from models.synth.bvh import FPS, BvhMotion, bvh_forward, leg_length_cm, rotation_fraction

SUBJECT = 0  # DeepMimic's clips name no subject: all in the training split
CATEGORIES = {  # DeepMimic clip -> models.synth.mocap.SOURCE_CATEGORIES
    "dm_backflip": "acrobatics_flip_cartwheel", "dm_cartwheel": "acrobatics_flip_cartwheel",
    "dm_crawl": "floor_crawl_roll_getup", "dm_getup_facedown": "floor_crawl_roll_getup",
    "dm_getup_faceup": "floor_crawl_roll_getup", "dm_roll": "floor_crawl_roll_getup",
    "dm_dance_a": "dance_modern_ballet", "dm_dance_b": "dance_modern_ballet", "dm_spin": "dance_modern_ballet",
    "dm_jump": "jump", "dm_kick": "combat_punch_swordplay_boxing", "dm_punch": "combat_punch_swordplay_boxing",
    "dm_spinkick": "combat_punch_swordplay_boxing", "dm_run": "run", "dm_walk": "walk",
}
SUBFOLDER = "extras/deepmimic"
CHARACTER_FILE = "humanoid3d_character.txt"
# DeepMimic axes (Y up, faces +X, right +Z) -> BVH axes (Y up, faces +Z, left +X).
DEEPMIMIC_TO_BVH = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
# Frame layout: (joint, number of values) after dt, root position and root quaternion.
FRAME_LAYOUT = (("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4),
                ("right_shoulder", 4), ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4),
                ("left_shoulder", 4), ("left_elbow", 1))
# Daz joint -> (DeepMimic joint whose world rotation change drives it, share of that joint's own
# rotation relative to its parent: 0.5 puts the Daz joint halfway between parent and child).
DEEPMIMIC_DRIVERS: dict[str, tuple[str, float]] = {
    "hip": ("root", 1.0), "abdomen": ("chest", 0.5), "chest": ("chest", 1.0), "neck": ("neck", 0.5),
    "head": ("neck", 1.0),
    **{f"{s}{daz}": (f"{side}_{dm}", 1.0) for s, side in (("l", "left"), ("r", "right")) for daz, dm in (
        ("Shldr", "shoulder"), ("ForeArm", "elbow"), ("Hand", "elbow"), ("Thigh", "hip"), ("Shin", "knee"),
        ("Foot", "ankle"))},
}


def clip_paths(root: Path) -> list[Path]:
    """The DeepMimic motion files under a mocap folder (none when the folder lacks them)."""
    return sorted(p for p in (root / SUBFOLDER).glob("humanoid3d_*.txt") if p.name != CHARACTER_FILE)


def clip_name(path: Path) -> str:
    """``humanoid3d_getup_faceup.txt`` -> ``dm_getup_faceup``."""
    return "dm_" + path.stem.removeprefix("humanoid3d_")


def clip_file(root: Path, name: str) -> Path:
    """The motion file of a clip name (inverse of :func:`clip_name`)."""
    return root / SUBFOLDER / f"humanoid3d_{name.removeprefix('dm_')}.txt"


def character_file(root: Path) -> Path:
    return root / SUBFOLDER / CHARACTER_FILE


class Character:
    """DeepMimic's humanoid: joint names, parents and offsets (m, parent axes)."""

    def __init__(self, path: Path) -> None:
        joints = json.loads(path.read_text())["Skeleton"]["Joints"]
        self.names = [j["Name"] for j in joints]
        self.parents = [int(j["Parent"]) for j in joints]
        self.offsets = np.array([[j["AttachX"], j["AttachY"], j["AttachZ"]] for j in joints], dtype=np.float64)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def leg_length(self) -> float:
        """Hip joint to ankle (m) with straight legs."""
        return float(-self.offsets[self.index("left_knee"), 1] - self.offsets[self.index("left_ankle"), 1])

    def reference_world(self) -> np.ndarray:
        """(J, 3, 3) world rotations of the reference pose: zero pose, upper arms raised to the sides."""
        world = np.tile(np.eye(3), (len(self.names), 1, 1))
        for side, sign in (("right", -1.0), ("left", 1.0)):  # hanging (-y) -> right +z / left -z
            raise_arm = Rotation.from_rotvec([sign * np.pi / 2, 0.0, 0.0]).as_matrix()
            for joint in (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"):
                world[self.index(joint)] = raise_arm
        return world


def read_frames(path: Path, character: Character) -> tuple[np.ndarray, np.ndarray, float]:
    """Local rotations (T, J, 3, 3), root positions (T, 3) m and duration (s) of a clip as stored."""
    frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != 44:
        raise ValueError(f"{path}: expected frames of 44 numbers, got shape {frames.shape}")
    num = len(frames)
    local = np.tile(np.eye(3), (num, len(character.names), 1, 1))
    wxyz = frames[:, 4:8]
    local[:, character.index("root")] = Rotation.from_quat(wxyz[:, [1, 2, 3, 0]]).as_matrix()
    col = 8
    for joint, size in FRAME_LAYOUT:
        values = frames[:, col:col + size]
        if size == 4:
            rot = Rotation.from_quat(values[:, [1, 2, 3, 0]])
        else:  # revolute about the local z axis
            rot = Rotation.from_rotvec(np.pad(values, ((0, 0), (2, 0))))
        local[:, character.index(joint)] = rot.as_matrix()
        col += size
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    return local, frames[:, 1:4], float(times[-1])


def resample(local: np.ndarray, position: np.ndarray, duration: float, fps: float = FPS
             ) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations and root positions at ``fps`` over the clip's duration (slerp / linear)."""
    num = len(local)
    times = np.linspace(0.0, duration, num)
    out_t = np.arange(0.0, duration + 1e-9, 1.0 / fps)
    out = np.empty((len(out_t),) + local.shape[1:])
    for j in range(local.shape[1]):
        out[:, j] = Slerp(times, Rotation.from_matrix(local[:, j]))(out_t).as_matrix()
    pos = np.stack([np.interp(out_t, times, position[:, k]) for k in range(3)], axis=1)
    return out, pos


def forward(character: Character, local: np.ndarray) -> np.ndarray:
    """World rotations (T, J, 3, 3) in DeepMimic axes (parents come first in the file)."""
    world = np.empty_like(local)
    for j, p in enumerate(character.parents):
        world[:, j] = local[:, j] if p < 0 else world[:, p] @ local[:, j]
    return world


def joint_positions(character: Character, local: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Joint positions (T, J, 3) m in DeepMimic axes."""
    world = forward(character, local)
    heads = np.empty(local.shape[:2] + (3,))
    for j, p in enumerate(character.parents):
        heads[:, j] = position if p < 0 else heads[:, p] + world[:, p] @ character.offsets[j]
    return heads


def to_daz(character: Character, local: np.ndarray, position: np.ndarray, reference: BvhMotion
           ) -> BvhMotion:
    """The Daz reference skeleton driven by a DeepMimic clip (see the module docstring)."""
    dm_world = forward(character, local)
    ref_dm = character.reference_world()
    daz_ref_world, _ = bvh_forward(reference)
    daz_ref_world = daz_ref_world[0]
    num = len(local)
    world = np.empty((num, len(reference.names), 3, 3))
    for j, p in enumerate(reference.parents):
        name = reference.names[j]
        if name in DEEPMIMIC_DRIVERS:
            joint, share = DEEPMIMIC_DRIVERS[name]
            d = character.index(joint)
            target = dm_world[:, d]
            if share < 1.0:
                parent = dm_world[:, character.parents[d]]
                target = parent @ rotation_fraction(local[:, d], share)
            change = target @ ref_dm[d].T  # world change from the reference pose, DeepMimic axes
            change = DEEPMIMIC_TO_BVH @ change @ DEEPMIMIC_TO_BVH.T
            world[:, j] = change @ daz_ref_world[j]
        else:  # rigid with its parent, as in the T-pose
            world[:, j] = world[:, p] @ (daz_ref_world[p].T @ daz_ref_world[j])
    rotations = np.empty_like(world)
    for j, p in enumerate(reference.parents):
        rotations[:, j] = world[:, j] if p < 0 else np.swapaxes(world[:, p], 1, 2) @ world[:, j]
    scale = leg_length_cm(reference) / character.leg_length()  # cm per DeepMimic metre
    root = position @ DEEPMIMIC_TO_BVH.T * scale - reference.offsets[0]
    return BvhMotion(names=list(reference.names), parents=list(reference.parents), offsets=reference.offsets,
                     end_sites=reference.end_sites, rotations=rotations, root_position=root,
                     frame_time=1.0 / FPS)


def load_clip(path: str | Path) -> tuple[Character, np.ndarray, np.ndarray]:
    """A clip's character, local rotations (T, J, 3, 3) and root positions (T, 3) m at 30 fps."""
    path = Path(path)
    character = Character(path.parent / CHARACTER_FILE)
    return (character, *resample(*read_frames(path, character)))


def read_deepmimic(path: str | Path, reference: BvhMotion) -> BvhMotion:
    """A DeepMimic clip at 30 fps as Daz-skeleton motion (the retargeter's input)."""
    return to_daz(*load_clip(path), reference)


LINES = [("root", "chest"), ("chest", "neck")] + [
    pair for side in ("left", "right") for pair in (
        ("chest", f"{side}_shoulder"), (f"{side}_shoulder", f"{side}_elbow"), (f"{side}_elbow", f"{side}_wrist"),
        ("root", f"{side}_hip"), (f"{side}_hip", f"{side}_knee"), (f"{side}_knee", f"{side}_ankle"))]


def source_points(path: str | Path, reference: BvhMotion) -> dict[str, np.ndarray]:
    """DeepMimic's own joints (T, 3) at 30 fps by name, in BVH axes and the Daz figure's cm (as
    :func:`to_daz` scales the travel): what the retargeted clip is checked against by eye."""
    character, local, position = load_clip(path)
    scale = leg_length_cm(reference) / character.leg_length()
    heads = joint_positions(character, local, position) @ DEEPMIMIC_TO_BVH.T * scale
    return {name: heads[:, j] for j, name in enumerate(character.names)}
