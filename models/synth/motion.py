"""Smooth motion sequences in the anatomical pose space, with a moving body in an upright world.

Two kinds:

- **gait** (walking or running): the cyclic curves of :func:`models.synth.poses.gait_dofs` at a
  cadence (walking 0.8-1.0 strides/s, running 1.3-1.6), a slowly varying stride amplitude,
  the body moving forward at cadence x stride length while slowly turning;
- **keyframes**: key poses from the pose sampler (a category often kept, else another or
  standing), joined by minimum-jerk interpolation of the DOFs, each transition lasting at least
  ``1.875 * max|delta DOF| / MAX_DOF_SPEED`` (the minimum-jerk peak speed) and sometimes held;
  the body turns and drifts slowly on the spot.

The world frame is the camera-like upright frame (y down); the pelvis height keeps the lowest
of the feet and knees on the floor (neutral skeleton), so crouching lowers the body and walking
bobs it. Whole sequences with a grossly self-penetrating frame are redrawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from models.synth.anatomy import DOF_INDEX, DOF_NAMES, PoseSpace, clip_dofs
from models.synth.poses import (CATEGORIES, CATEGORY_WEIGHTS, STILL_CATEGORIES, default_space, gait_dofs, plausible,
                                sample_dofs, small_bone_mask)
from models.synth.skeleton import forward_kinematics

MAX_DOF_SPEED = 150.0  # deg/s, peak speed of any DOF in keyframe transitions
MAX_TURN_SPEED = 40.0  # deg/s, peak yaw rate of the slow turning
GAIT_PROB = {"walk": 0.35, "run": 0.15}
CONTACT_BONES = ("foot", "toe1-2", "toe5-3", "lowerleg01")  # heel, toes, knee
FLOOR_OFFSET = 0.07  # metres from the ankle / toe bone heads to the sole
MAX_TRIES = 5


@dataclass
class Motion:
    pose: torch.Tensor  # (T, P, 3) float32 anny axis-angles
    global_orient: torch.Tensor  # (T, 3) world orientation of the body (upright world, y down)
    transl: torch.Tensor  # (T, 3) world pelvis position, floor at y = 0
    dofs: np.ndarray  # (T, D) float32 degrees
    category: np.ndarray  # (T,) int64 index into CATEGORIES
    kind: str  # "walk", "run" or "keyframes"


def _smooth_wave(t: np.ndarray, rng: np.random.Generator, max_speed: float, n_waves: int = 3) -> np.ndarray:
    """A smooth random signal (sum of slow sines, 0.05-0.3 Hz) whose speed is at most ``max_speed``."""
    freq = rng.uniform(0.05, 0.3, n_waves)
    amp = rng.dirichlet(np.ones(n_waves)) * max_speed / (2 * np.pi * freq)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    return (amp * np.sin(2 * np.pi * freq * t[:, None] + phase)).sum(1)


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk time warp of s in [0, 1] (zero velocity and acceleration at both ends)."""
    return s ** 3 * (10 - 15 * s + 6 * s ** 2)


def _keyframe_dofs(num: int, fps: float, rng: np.random.Generator, space: PoseSpace) -> tuple[np.ndarray, np.ndarray]:
    """DOFs (T, D) and categories (T,) of minimum-jerk transitions between sampled key poses."""
    probs = np.array([0.0 if c in STILL_CATEGORIES else CATEGORY_WEIGHTS[c] for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), p=probs / probs.sum())
    key, _ = sample_dofs(1, rng, space, [CATEGORIES[category]])
    frames, cats = [key[0]], [category]
    while len(frames) < num:
        if rng.random() < 0.3:  # hold the pose a moment
            hold = int(rng.uniform(0.2, 0.8) * fps)
            frames += [frames[-1]] * hold
            cats += [cats[-1]] * hold
        u = rng.random()
        if u < 0.5:
            nxt = category
        else:
            nxt = CATEGORIES.index("standing") if u < 0.75 else rng.choice(len(CATEGORIES), p=probs / probs.sum())
        new, _ = sample_dofs(1, rng, space, [CATEGORIES[nxt]])
        delta = np.abs(new[0] - key[0]).max()
        duration = max(rng.uniform(0.5, 1.5), 1.875 * delta / MAX_DOF_SPEED)
        steps = max(int(np.ceil(duration * fps)), 1)
        s = minimum_jerk(np.arange(1, steps + 1) / steps)[:, None]
        frames += list(key[0] + s * (new[0] - key[0]))
        cats += [category if i < steps / 2 else nxt for i in range(steps)]
        key, category = new, nxt
    return np.array(frames[:num]), np.array(cats[:num])


def _gait(num: int, fps: float, rng: np.random.Generator, run: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gait DOFs (T, D) and the pelvis' forward speed (T,) m/s."""
    t = np.arange(num) / fps
    freq = rng.uniform(1.3, 1.6) if run else rng.uniform(0.8, 1.0)
    amp = (rng.uniform(0.85, 1.2) if run else rng.uniform(0.7, 1.25)) + _smooth_wave(t, rng, 0.1)
    phase = (rng.random() + freq * t) % 1.0
    d = gait_dofs(phase, amp, run)
    dofs = np.zeros((num, len(DOF_NAMES)))
    for key, val in d.items():
        dofs[:, DOF_INDEX[key]] = val
    for key, sd in (("neck_rot", 15.0), ("neck_flex", 8.0), ("spine_bend", 3.0)):
        dofs[:, DOF_INDEX[key]] += rng.normal(0, sd) + _smooth_wave(t, rng, 20.0)
    stride = (2.4 if run else 1.4) * amp  # metres per gait cycle
    return clip_dofs(dofs), stride * freq


def _floor_height(pose: torch.Tensor, world_rot: torch.Tensor, space: PoseSpace) -> np.ndarray:
    """Pelvis height (T,) above the floor: the lowest heel, toe or knee touches it (y down)."""
    joints = forward_kinematics(pose, space.skeleton)  # canonical, pelvis at 0
    idx = [space.skeleton.index(f"{b}.{s}") for b in CONTACT_BONES for s in "LR"]
    lowest = (joints[:, idx] @ world_rot.transpose(1, 2).float())[..., 1].amax(1)
    return -(lowest.numpy() + FLOOR_OFFSET)


def sample_sequence(num_frames: int, fps: float, rng: np.random.Generator, space: PoseSpace | None = None,
                    kind: str | None = None) -> Motion:
    """A smooth motion of ``num_frames`` frames at ``fps`` (see the module docstring); ``kind``
    forces "walk", "run" or "keyframes" (default: drawn, 35 % / 15 % / 50 %)."""
    space = space or default_space()
    t = np.arange(num_frames) / fps
    forced = kind
    for _ in range(MAX_TRIES):
        u = rng.random()
        kind = forced or ("walk" if u < GAIT_PROB["walk"] else "run" if u < GAIT_PROB["walk"] + GAIT_PROB["run"]
                          else "keyframes")
        yaw = rng.uniform(-180, 180) + _smooth_wave(t, rng, MAX_TURN_SPEED if kind == "keyframes" else 20.0)
        if kind == "keyframes":
            dofs, category = _keyframe_dofs(num_frames, fps, rng, space)
            drift = np.stack([_smooth_wave(t, rng, 0.3), np.zeros_like(t), _smooth_wave(t, rng, 0.3)], 1)
        else:
            dofs, speed = _gait(num_frames, fps, rng, kind == "run")
            category = np.full(num_frames, CATEGORIES.index("walking" if kind == "walk" else "running"))
            heading = np.stack([-np.sin(np.radians(yaw)), np.zeros_like(t), -np.cos(np.radians(yaw))], 1)
            drift = np.cumsum(heading * (speed / fps)[:, None], axis=0)  # faces -z at yaw 0
        pose, body = space.to_pose(dofs)
        joints = forward_kinematics(pose, space.skeleton).numpy()
        if plausible(joints, space.skeleton).all():
            break
    small = torch.as_tensor(small_bone_mask(space))
    offsets = rng.normal(0, np.radians(2.0), (int(small.sum()), 3))  # constant: no jitter in time
    pose[:, small] += torch.as_tensor(offsets, dtype=torch.float32)
    yaw_rot = roma.euler_to_rotmat("y", torch.as_tensor(yaw, dtype=torch.float32)[:, None], degrees=True)
    world_rot = yaw_rot @ roma.rotvec_to_rotmat(body)
    height = _floor_height(pose, world_rot, space)
    transl = torch.as_tensor(drift, dtype=torch.float32)
    transl[:, 1] = torch.as_tensor(height, dtype=torch.float32)
    return Motion(pose=pose, global_orient=roma.rotmat_to_rotvec(world_rot), transl=transl,
                  dofs=dofs.astype(np.float32), category=category.astype(np.int64), kind=kind)
