"""Plausible, varied anny poses: a mixture of activity categories in anatomical joint-angle space.

Each category draws anatomical DOFs (degrees, see :mod:`models.synth.anatomy`) from its own
distributions; every sample then gets a small jitter, a random left/right mirror (so the overall
distribution is left/right symmetric while single poses are not), the biomechanical clip, and a
gross self-penetration check on the joints-only skeleton (hands, elbows, knees and feet inside the
torso or head, legs or forearms through each other); rejected samples are redrawn. Fingers, toes,
twist bones and eyes stay near rest (a mild finger curl plus ~2 degree noise).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from models.synth.anatomy import DOF_INDEX, DOF_NAMES, PoseSpace, clip_dofs, mirror_dofs
from models.synth.skeleton import Skeleton, anny_skeleton, forward_kinematics

Dofs = dict[str, np.ndarray]
# reclining: 0.20 since v7 (0.10 in v6), people on the floor were still lifted at 107-131 mm
# sitting: 0.20 since v18 (0.09 before), Human3.6M's Sitting and SittingDown were the worst actions
# lifted (70.5 and 100.8 mm with v17) and the clips hold little sitting
CATEGORY_WEIGHTS: dict[str, float] = {
    "standing": 0.13, "walking": 0.12, "running": 0.07, "reaching": 0.09, "crouching": 0.08,
    "sitting": 0.20, "kneeling": 0.06, "arms_overhead": 0.07, "t_pose": 0.05, "crossing": 0.08,
    "bending": 0.08, "twisting": 0.08, "reclining": 0.20,
}
# Still poses only: keyframed motion (models.synth.motion) would swing the body through the air
# into and out of them, which no one does.
STILL_CATEGORIES = ("reclining",)
CATEGORIES = list(CATEGORY_WEIGHTS)
JITTER_DEG = 3.0  # isotropic noise on every joint DOF
SMALL_BONE_NOISE_DEG = 2.0  # fingers, toes, eyes, twist and pelvis bones
MAX_REDRAWS = 8


@dataclass
class PoseBatch:
    pose: torch.Tensor  # (n, P, 3) float32 anny axis-angles
    body_orient: torch.Tensor  # (n, 3) float32 pelvis orientation w.r.t. upright (canonical frame)
    category: np.ndarray  # (n,) int64 index into CATEGORIES
    dofs: np.ndarray  # (n, D) float32 anatomical DOFs in degrees (DOF_NAMES)


# ---------------------------------------------------------------------------------------------
# Gait (also used by models.synth.motion for cyclic sequences)


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic Gaussian bump on the unit gait cycle."""
    d = (phase - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def gait_dofs(phase: np.ndarray, amplitude: np.ndarray, run: bool) -> Dofs:
    """Walking or running DOFs at gait phase (0 = left heel strike), amplitude ~1 = normal speed.

    Sagittal curves approximate normative gait data (Winter 1991 for walking, Novacheck 1998 for
    running); the arms swing opposite to the same-side leg and the thorax counter-rotates.
    """
    d: Dofs = {}
    a = amplitude
    for side, p in (("l", phase), ("r", (phase + 0.5) % 1.0)):
        c = np.cos(2 * np.pi * p)
        if run:
            d[f"hip_flex_{side}"] = 18 + 28 * a * np.cos(2 * np.pi * (p - 0.92))
            d[f"knee_flex_{side}"] = 10 + a * (30 * _bump(p, 0.15, 0.08) + 95 * _bump(p, 0.68, 0.13))
            d[f"ankle_flex_{side}"] = a * (-15 * _bump(p, 0.2, 0.08) + 22 * _bump(p, 0.42, 0.06))
            swing, elbow = 5 - 35 * a * c, 90 + 10 * c
        else:
            d[f"hip_flex_{side}"] = 10 + 20 * a * np.cos(2 * np.pi * (p - 0.03))
            d[f"knee_flex_{side}"] = 4 + a * (15 * _bump(p, 0.15, 0.07) + 58 * _bump(p, 0.72, 0.11))
            d[f"ankle_flex_{side}"] = a * (5 * _bump(p, 0.07, 0.04) - 10 * _bump(p, 0.42, 0.12)
                                           + 18 * _bump(p, 0.62, 0.05))
            swing, elbow = 5 - 18 * a * c, 18 - 8 * c
        d[f"hip_abd_{side}"] = 3 + 3 * np.sin(2 * np.pi * p)
        d[f"hip_rot_{side}"] = -5 + 4 * c
        abduction = 10.0 if run else 8.0
        d[f"sh_elev_{side}"] = np.hypot(swing, abduction)
        d[f"sh_plane_{side}"] = np.degrees(np.arctan2(swing, abduction))
        d[f"sh_rot_{side}"] = np.full_like(p, 20.0 if run else 10.0)
        d[f"elbow_flex_{side}"] = elbow
    d["spine_rot"] = (8 if run else 4) * a * np.cos(2 * np.pi * phase)
    d["spine_flex"] = np.full_like(phase, 10.0 if run else 3.0)
    d["body_pitch"] = np.full_like(phase, 8.0 if run else 3.0)
    d["body_roll"] = 3 * np.sin(2 * np.pi * phase)
    return d


# ---------------------------------------------------------------------------------------------
# Building blocks. Asymmetric parts are put on the left; the random mirror balances the sides.


def _legs_standing(rng: np.random.Generator, n: int, d: Dofs) -> None:
    for s in "lr":
        d[f"hip_flex_{s}"] = rng.normal(0, 5, n)
        d[f"hip_abd_{s}"] = rng.normal(4, 4, n)
        d[f"hip_rot_{s}"] = rng.normal(-5, 8, n)
        d[f"knee_flex_{s}"] = rng.uniform(0, 12, n)
        d[f"ankle_flex_{s}"] = rng.normal(0, 5, n)
        d[f"ankle_inv_{s}"] = rng.normal(0, 4, n)
    relaxed = rng.random(n) < 0.4  # weight on the right leg, left knee relaxed
    d["knee_flex_l"] += relaxed * rng.uniform(5, 25, n)
    d["hip_flex_l"] += relaxed * rng.uniform(0, 12, n)
    d["body_roll"] = relaxed * rng.uniform(-6, 0, n) + rng.normal(0, 2, n)


def _arm(rng: np.random.Generator, n: int, mode: str) -> Dofs:
    """One arm's DOFs (without side suffix) for a named arm mode."""
    u, g = rng.uniform, rng.normal
    table: dict[str, Callable[[], Dofs]] = {
        "relaxed": lambda: dict(sh_plane=g(20, 30, n), sh_elev=u(5, 30, n), sh_rot=g(10, 15, n),
                                elbow_flex=u(5, 45, n), forearm_pron=g(0, 20, n)),
        "gesture": lambda: dict(sh_plane=u(40, 120, n), sh_elev=u(20, 75, n), sh_rot=g(10, 20, n),
                                elbow_flex=u(40, 120, n), forearm_pron=g(-10, 30, n)),
        "hip": lambda: dict(sh_plane=g(-15, 10, n), sh_elev=g(42, 6, n), sh_rot=g(35, 10, n),
                            elbow_flex=g(105, 10, n), wrist_flex=g(-20, 10, n)),
        "face": lambda: dict(sh_plane=g(80, 15, n), sh_elev=g(35, 10, n), sh_rot=g(20, 15, n),
                             elbow_flex=g(130, 8, n), forearm_pron=g(30, 20, n)),
        "behind_back": lambda: dict(sh_plane=g(-80, 8, n), sh_elev=g(35, 8, n), sh_rot=g(60, 8, n),
                                    elbow_flex=g(85, 12, n)),
        "forward": lambda: dict(sh_plane=u(70, 110, n), sh_elev=u(40, 95, n), sh_rot=g(0, 15, n),
                                elbow_flex=u(5, 60, n), forearm_pron=g(20, 25, n)),
        "on_thigh": lambda: dict(sh_plane=u(75, 95, n), sh_elev=u(25, 45, n), sh_rot=g(15, 10, n),
                                 elbow_flex=u(60, 95, n), forearm_pron=g(60, 15, n)),
        "overhead": lambda: dict(sh_plane=u(0, 100, n), sh_elev=u(140, 180, n), sh_rot=g(-20, 20, n),
                                 elbow_flex=u(0, 40, n)),
        "hands_behind_head": lambda: dict(sh_plane=u(-10, 20, n), sh_elev=u(125, 150, n),
                                          sh_rot=u(-70, -40, n), elbow_flex=u(120, 145, n)),
        "reach": lambda: dict(sh_plane=u(-30, 135, n), sh_elev=u(40, 175, n), sh_rot=g(0, 25, n),
                              elbow_flex=u(0, 35, n), forearm_pron=g(0, 30, n), wrist_flex=g(-10, 15, n)),
        "cross_chest": lambda: dict(sh_plane=u(60, 100, n), sh_elev=u(15, 35, n), sh_rot=u(55, 70, n),
                                    elbow_flex=u(95, 125, n), forearm_pron=g(40, 20, n)),
        "across": lambda: dict(sh_plane=u(115, 135, n), sh_elev=u(70, 100, n), sh_rot=g(10, 15, n),
                               elbow_flex=u(40, 120, n)),
        "back_swing": lambda: dict(sh_plane=u(-30, 20, n), sh_elev=u(40, 90, n), sh_rot=g(-10, 20, n),
                                   elbow_flex=u(20, 90, n)),
        "t": lambda: dict(sh_plane=g(0, 12, n), sh_elev=u(70, 110, n), sh_rot=g(0, 20, n),
                          elbow_flex=u(0, 25, n), forearm_pron=g(0, 40, n)),
        "a": lambda: dict(sh_plane=g(10, 15, n), sh_elev=u(35, 65, n), sh_rot=g(0, 20, n),
                          elbow_flex=u(0, 25, n), forearm_pron=g(0, 40, n)),
        "prop_behind": lambda: dict(sh_plane=g(-75, 10, n), sh_elev=u(30, 55, n), sh_rot=g(0, 15, n),
                                    elbow_flex=u(0, 25, n), wrist_flex=u(-60, -20, n)),
        "elbows_behind": lambda: dict(sh_plane=g(-80, 10, n), sh_elev=u(35, 60, n), sh_rot=g(10, 15, n),
                                      elbow_flex=u(70, 110, n), forearm_pron=g(40, 20, n)),
        "on_elbows": lambda: dict(sh_plane=g(90, 10, n), sh_elev=u(60, 100, n), sh_rot=g(20, 15, n),
                                  elbow_flex=u(70, 115, n), forearm_pron=g(60, 20, n)),
    }
    return table[mode]()


def _arms(rng: np.random.Generator, n: int, modes: dict[str, float], sym: float = 0.4,
          sides: str = "lr") -> Dofs:
    """Arm DOFs with a mode per arm drawn from ``modes`` (probabilities); with probability ``sym``
    the right arm copies the left (plus 5 degree noise)."""
    names, probs = list(modes), np.array(list(modes.values()))
    arms: dict[str, Dofs] = {}
    for s in sides:
        choice = rng.choice(len(names), size=n, p=probs / probs.sum())
        arm: Dofs = {}
        for k, name in enumerate(names):
            _override(arm, _arm(rng, n, name), choice == k)
        arms[s] = arm
    if sides == "lr":
        copy = rng.random(n) < sym
        for key, left in arms["l"].items():
            arms["r"][key] = np.where(copy, left + rng.normal(0, 5, n), arms["r"].get(key, 0.0))
    return {f"{key}_{s}": val for s, arm in arms.items() for key, val in arm.items()}


def _override(d: Dofs, src: Dofs, mask: np.ndarray) -> None:
    """Where ``mask``, replace the DOFs of ``d`` by those of ``src`` (missing DOFs count as 0)."""
    for key, val in src.items():
        d[key] = np.where(mask, val, d.get(key, 0.0))


FREE_ARMS = {"relaxed": 0.45, "gesture": 0.25, "hip": 0.12, "face": 0.08, "behind_back": 0.10}


# ---------------------------------------------------------------------------------------------
# Categories


def _standing(rng: np.random.Generator, n: int) -> Dofs:
    d: Dofs = {}
    _legs_standing(rng, n, d)
    d.update(_arms(rng, n, FREE_ARMS))
    d["spine_flex"], d["spine_bend"], d["spine_rot"] = rng.normal(0, 6, n), rng.normal(0, 4, n), rng.normal(0, 6, n)
    return d


def _gait(rng: np.random.Generator, n: int, run: bool) -> Dofs:
    amp = rng.uniform(0.8, 1.25, n) if run else rng.uniform(0.6, 1.3, n)
    d = gait_dofs(rng.random(n), amp, run)
    if not run:  # a quarter of walkers use one hand for something else
        busy = _arms(rng, n, {"face": 0.4, "forward": 0.3, "relaxed": 0.3}, sides="l")
        _override(d, busy, rng.random(n) < 0.25)
    return d


def _reaching(rng: np.random.Generator, n: int) -> Dofs:
    d: Dofs = {}
    _legs_standing(rng, n, d)
    d.update(_arms(rng, n, {"reach": 1.0}, sides="l"))
    d.update(_arms(rng, n, {"relaxed": 0.6, "gesture": 0.25, "hip": 0.15}, sides="r"))
    both = {f"{k}_r": d[f"{k}_l"] + rng.normal(0, 8, n) for k in ("sh_plane", "sh_elev", "sh_rot", "elbow_flex")}
    _override(d, both, rng.random(n) < 0.3)
    plane, elev = d["sh_plane_l"], d["sh_elev_l"]
    low = elev < 70  # reaching down: bend the trunk and knees
    d["spine_flex"] = np.where(low, rng.uniform(15, 55, n), rng.normal(0, 8, n))
    d["body_pitch"] = np.where(low, rng.uniform(5, 30, n), 0.0)
    for s in "lr":
        d[f"hip_flex_{s}"] += d["body_pitch"]
        d[f"knee_flex_{s}"] += low * rng.uniform(0, 40, n)
    d["spine_bend"] = np.where(plane < 45, rng.uniform(0, 20, n), rng.normal(0, 5, n))
    d["spine_rot"] = -0.2 * (plane - 45) + rng.normal(0, 8, n)
    step = rng.random(n) < 0.35
    d["hip_flex_l"] += step * rng.uniform(10, 35, n)
    d["knee_flex_l"] += step * rng.uniform(10, 35, n)
    tiptoe = (elev > 120) & (rng.random(n) < 0.4)
    for s in "lr":
        d[f"ankle_flex_{s}"] += tiptoe * rng.uniform(15, 40, n)
    return d


def _crouching(rng: np.random.Generator, n: int) -> Dofs:
    u, g = rng.uniform, rng.normal
    d: Dofs = {}
    for s in "lr":  # squat
        d[f"hip_flex_{s}"] = u(80, 120, n)
        d[f"knee_flex_{s}"] = u(90, 140, n)
        d[f"hip_abd_{s}"] = u(10, 35, n)
        d[f"hip_rot_{s}"] = g(-10, 10, n)
        d[f"ankle_flex_{s}"] = u(-20, 25, n)
    d["body_pitch"] = u(10, 40, n)
    d["spine_flex"] = u(0, 40, n)
    lunge = dict(hip_flex_l=u(60, 100, n), knee_flex_l=u(60, 110, n), ankle_flex_l=u(-20, 0, n),
                 hip_abd_l=g(5, 4, n), hip_flex_r=u(-25, 0, n), knee_flex_r=u(0, 90, n),
                 ankle_flex_r=u(10, 40, n), hip_abd_r=g(3, 3, n), body_pitch=u(-5, 15, n),
                 spine_flex=u(-10, 15, n))
    _override(d, lunge, rng.random(n) < 0.4)
    d.update(_arms(rng, n, {"forward": 0.45, "on_thigh": 0.3, "relaxed": 0.1, "gesture": 0.15}))
    return d


def _sitting(rng: np.random.Generator, n: int) -> Dofs:
    u, g = rng.uniform, rng.normal
    kind = rng.choice(4, size=n, p=[0.55, 0.2, 0.15, 0.1])  # chair, cross-legged, legs out, knees up
    chair, cross, out = kind == 0, kind == 1, kind == 2
    d: Dofs = {}
    for s in "lr":
        d[f"hip_flex_{s}"] = np.select([chair, cross, out], [g(90, 10, n), u(70, 100, n), u(80, 100, n)], u(100, 120, n))
        d[f"knee_flex_{s}"] = np.select([chair, cross, out], [g(90, 18, n), u(125, 140, n), u(0, 30, n)], u(110, 140, n))
        d[f"hip_abd_{s}"] = np.where(cross, u(30, 45, n), u(0, 25, n))
        d[f"hip_rot_{s}"] = np.where(cross, u(-45, -30, n), g(-5, 10, n))
        d[f"ankle_flex_{s}"] = g(5, 10, n)
    _override(d, dict(knee_flex_l=u(20, 60, n), hip_flex_l=u(60, 80, n)), chair & (rng.random(n) < 0.4))
    d["body_pitch"] = np.where(out, u(-15, 5, n), u(-20, 10, n))
    d["spine_flex"], d["spine_rot"], d["spine_bend"] = u(-5, 30, n), g(0, 8, n), g(0, 5, n)
    d.update(_arms(rng, n, {"on_thigh": 0.35, "relaxed": 0.2, "gesture": 0.25, "face": 0.1, "forward": 0.1}))
    return d


def _kneeling(rng: np.random.Generator, n: int) -> Dofs:
    u, g = rng.uniform, rng.normal
    kind = rng.choice(3, size=n, p=[0.4, 0.25, 0.35])  # upright, on the heels, on one knee
    heels = kind == 1
    d: Dofs = {}
    for s in "lr":
        d[f"hip_flex_{s}"] = np.where(heels, u(60, 100, n), u(-10, 20, n))
        d[f"knee_flex_{s}"] = np.where(heels, u(128, 140, n), u(80, 100, n))
        d[f"ankle_flex_{s}"] = np.where(rng.random(n) < 0.6, u(20, 50, n), u(-20, 0, n))
        d[f"hip_abd_{s}"] = g(5, 4, n)
    one_knee = dict(hip_flex_l=u(70, 100, n), knee_flex_l=u(70, 100, n), ankle_flex_l=u(-20, 0, n),
                    hip_flex_r=u(-15, 10, n))
    _override(d, one_knee, kind == 2)
    d["body_pitch"] = np.where(heels, u(0, 20, n), g(3, 6, n))
    d["spine_flex"] = g(5, 10, n)
    d.update(_arms(rng, n, {"relaxed": 0.35, "on_thigh": 0.25, "gesture": 0.2, "forward": 0.1, "hip": 0.1}))
    return d


def _arms_overhead(rng: np.random.Generator, n: int) -> Dofs:
    d: Dofs = {}
    _legs_standing(rng, n, d)
    d.update(_arms(rng, n, {"overhead": 0.8, "hands_behind_head": 0.2}, sym=0.6))
    _override(d, _arms(rng, n, FREE_ARMS, sides="r"), rng.random(n) < 0.3)  # one arm only
    d["spine_flex"], d["neck_flex"] = rng.normal(-5, 6, n), rng.normal(-10, 10, n)
    tiptoe = rng.random(n) < 0.2
    for s in "lr":
        d[f"ankle_flex_{s}"] += tiptoe * rng.uniform(20, 45, n)
    return d


def _t_pose(rng: np.random.Generator, n: int) -> Dofs:
    d: Dofs = {}
    _legs_standing(rng, n, d)
    for s in "lr":
        d[f"hip_abd_{s}"] = rng.uniform(0, 20, n)
    d.update(_arms(rng, n, {"t": 0.65, "a": 0.35}, sym=0.75))
    return d


def _crossing(rng: np.random.Generator, n: int) -> Dofs:
    """Deliberate self-occluding crossings of arms or legs."""
    u, g = rng.uniform, rng.normal
    kind = rng.choice(5, size=n, p=[0.3, 0.15, 0.2, 0.2, 0.15])
    d = _standing(rng, n)
    _override(d, _sitting(rng, n), kind == 3)
    _override(d, _arms(rng, n, {"cross_chest": 1.0}, sym=0.0), kind == 0)
    _override(d, _arms(rng, n, {"behind_back": 0.6, "hands_behind_head": 0.4}, sym=0.8), kind == 1)
    _override(d, dict(hip_abd_l=u(-25, -12, n), hip_flex_l=u(0, 15, n), knee_flex_l=u(0, 15, n),
                      hip_abd_r=u(0, 5, n), knee_flex_r=u(0, 8, n)), kind == 2)
    _override(d, dict(hip_flex_l=u(90, 110, n), hip_abd_l=u(-25, -12, n), hip_rot_l=g(0, 10, n),
                      knee_flex_l=u(60, 100, n)), kind == 3)
    _override(d, _arms(rng, n, {"across": 1.0}, sides="l"), kind == 4)
    return d


def _bending(rng: np.random.Generator, n: int) -> Dofs:
    u, g = rng.uniform, rng.normal
    kind = rng.choice(3, size=n, p=[0.5, 0.25, 0.25])  # forward, sideways, backward
    fwd, side, back = kind == 0, kind == 1, kind == 2
    d: Dofs = {}
    _legs_standing(rng, n, d)
    tilt = u(30, 130, n)  # forward: total trunk tilt, shared by the pelvis and the spine
    pitch = np.where(fwd, tilt * u(0.3, 0.6, n), np.where(back, u(-15, 0, n), 0.0))
    d["body_pitch"] = pitch
    d["spine_flex"] = np.select([fwd, back], [tilt - pitch, u(-25, -10, n)], g(0, 5, n))
    knees = fwd * u(0, 40, n)
    for s in "lr":  # the legs stay roughly vertical while the pelvis pitches
        d[f"hip_flex_{s}"] += pitch + knees / 2
        d[f"knee_flex_{s}"] += knees
    d["spine_bend"] = np.where(side, u(15, 35, n), g(0, 4, n))
    d["neck_flex"] = np.select([fwd, back], [g(-15, 15, n), u(-45, -10, n)], g(0, 8, n))
    d.update(_arms(rng, n, {"relaxed": 0.5, "on_thigh": 0.3, "gesture": 0.2}))
    hang = fwd & (rng.random(n) < 0.6)  # arms hang towards the ground
    for s in "lr":
        _override(d, {f"sh_plane_{s}": g(90, 12, n), f"sh_elev_{s}": np.minimum(tilt, 160) * u(0.7, 1.0, n),
                      f"elbow_flex_{s}": u(0, 50, n)}, hang)
    _override(d, dict(sh_plane_r=u(-10, 30, n), sh_elev_r=u(140, 180, n), elbow_flex_r=u(0, 40, n),
                      sh_elev_l=u(5, 20, n)), side)  # far arm over the head
    return d


def _twisting(rng: np.random.Generator, n: int) -> Dofs:
    u, g = rng.uniform, rng.normal
    d: Dofs = {}
    _legs_standing(rng, n, d)
    d["spine_rot"] = u(20, 45, n)  # to the left
    d["neck_rot"] = d["spine_rot"] * u(0, 1, n)
    d["spine_bend"], d["spine_flex"] = g(0, 6, n), g(5, 8, n)
    d["hip_rot_l"], d["hip_rot_r"] = -u(0, 20, n), u(0, 20, n)
    for s in "lr":
        d[f"knee_flex_{s}"] += u(5, 30, n)
    d["ankle_flex_r"] += (rng.random(n) < 0.5) * u(10, 35, n)
    d.update(_arms(rng, n, {"gesture": 0.5, "forward": 0.3, "relaxed": 0.2}, sym=0.6))
    swing = rng.random(n) < 0.6  # throw / golf: right arm across the front, left arm back
    _override(d, _arms(rng, n, {"across": 1.0}, sides="r"), swing)
    _override(d, _arms(rng, n, {"back_swing": 1.0}, sides="l"), swing)
    return d


def _reclining(rng: np.random.Generator, n: int) -> Dofs:
    """On the floor with the trunk far from upright: sitting back on the hands or elbows, lying on
    the back, on the side, or face down propped on the elbows; on the back, sometimes a leg lifted."""
    u, g = rng.uniform, rng.normal
    kind = rng.choice(4, size=n, p=[0.35, 0.3, 0.15, 0.2])  # leaning back, on the back, on the side, face down
    back, lying, side = kind == 0, kind == 1, kind == 2
    pitch = np.select([back, lying, side], [-u(25, 65, n), -u(75, 95, n), g(0, 10, n)], u(60, 85, n))
    knees_up = rng.random(n) < 0.5
    d: Dofs = {}
    for s in "lr":  # thighs along the floor (hip flexion makes up for the pelvis pitch) or knees up
        flat = np.where(kind == 3, pitch - 90, np.clip(90 + pitch, 0, 90)) + g(0, 6, n)
        d[f"hip_flex_{s}"] = np.where(knees_up & (kind != 3), flat + u(25, 60, n), flat)
        d[f"knee_flex_{s}"] = np.where(kind == 3, u(0, 30, n), np.where(knees_up, u(60, 125, n), u(0, 25, n)))
        d[f"hip_abd_{s}"] = u(0, 20, n)
        d[f"hip_rot_{s}"] = g(-5, 10, n)
        d[f"ankle_flex_{s}"] = g(10, 12, n)
    _override(d, dict(hip_flex_l=u(30, 90, n), knee_flex_l=u(40, 120, n), hip_flex_r=u(10, 60, n),
                      knee_flex_r=u(20, 90, n)), side)  # on the side: legs drawn up a little
    raise_leg = (back | lying) & (rng.random(n) < 0.25)  # one leg lifted, the knee nearly straight
    _override(d, dict(hip_flex_l=d["hip_flex_l"] + u(40, 80, n), knee_flex_l=u(0, 30, n)), raise_leg)
    d["body_pitch"] = pitch
    d["body_roll"] = np.where(side, u(70, 95, n), g(0, 5, n))
    d["spine_flex"] = np.select([back, kind == 3], [u(-5, 25, n), -u(10, 25, n)], g(0, 8, n))
    d["spine_rot"], d["spine_bend"] = g(0, 8, n), g(0, 6, n)
    d["neck_flex"] = np.select([lying, kind == 3], [u(0, 40, n), -u(20, 45, n)], g(0, 12, n))
    d.update(_arms(rng, n, {"relaxed": 0.3, "gesture": 0.2, "face": 0.1, "hands_behind_head": 0.15,
                            "overhead": 0.1, "on_thigh": 0.15}))
    _override(d, _arms(rng, n, {"prop_behind": 0.6, "elbows_behind": 0.4}, sym=0.8), back & (rng.random(n) < 0.8))
    _override(d, _arms(rng, n, {"on_elbows": 1.0}, sym=0.8), kind == 3)
    return d


SAMPLERS: dict[str, Callable[[np.random.Generator, int], Dofs]] = {
    "standing": _standing, "walking": lambda r, n: _gait(r, n, False), "running": lambda r, n: _gait(r, n, True),
    "reaching": _reaching, "crouching": _crouching, "sitting": _sitting, "kneeling": _kneeling,
    "arms_overhead": _arms_overhead, "t_pose": _t_pose, "crossing": _crossing, "bending": _bending,
    "twisting": _twisting, "reclining": _reclining,
}


# ---------------------------------------------------------------------------------------------
# Assembly, plausibility and the public sampler


def _finish(rng: np.random.Generator, d: Dofs, n: int) -> np.ndarray:
    """Dict -> (n, D) array with shoulder girdle, neck, grip, jitter, random mirror and clip."""
    out = np.zeros((n, len(DOF_NAMES)))
    for key, val in d.items():
        if key in DOF_INDEX:
            out[:, DOF_INDEX[key]] = val
    for s in "lr":  # scapulohumeral rhythm: the clavicle follows the arm's elevation and plane
        elev, plane = out[:, DOF_INDEX[f"sh_elev_{s}"]], out[:, DOF_INDEX[f"sh_plane_{s}"]]
        out[:, DOF_INDEX[f"clav_elev_{s}"]] += 0.2 * np.maximum(elev - 40, 0) + rng.normal(0, 3, n)
        out[:, DOF_INDEX[f"clav_prot_{s}"]] += 0.15 * (plane - 45) * np.sin(np.radians(elev)) + rng.normal(0, 3, n)
        out[:, DOF_INDEX[f"grip_{s}"]] += np.where(rng.random(n) < 0.2, rng.uniform(25, 35, n), rng.uniform(0, 25, n))
    for key, sd in (("neck_flex", 10), ("neck_bend", 6), ("neck_rot", 15)):
        out[:, DOF_INDEX[key]] += rng.normal(0, sd, n)
    joint = np.array([not k.startswith("body_") for k in DOF_NAMES])
    out[:, joint] += rng.normal(0, JITTER_DEG, (n, int(joint.sum())))
    flip = rng.random(n) < 0.5
    out[flip] = mirror_dofs(out[flip])
    return clip_dofs(out)


def _segment_points(joints: np.ndarray, sk: Skeleton, a: str, b: str, k: int = 5) -> np.ndarray:
    """(n, k, 3) points evenly spaced on the segment between two bone heads."""
    t = np.linspace(0, 1, k)[None, :, None]
    pa, pb = joints[:, sk.index(a)][:, None], joints[:, sk.index(b)][:, None]
    return pa + t * (pb - pa)


def _min_dist(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Minimum distance (n,) between point sets (n, a, 3) and (n, b, 3)."""
    return np.linalg.norm(p[:, :, None] - q[:, None], axis=-1).min(axis=(1, 2))


def plausible(joints: np.ndarray, sk: Skeleton) -> np.ndarray:
    """Gross self-penetration check on skeleton joints (n, J, 3), canonical frame: (n,) bool.

    Rejects hands/forearms/elbows/knees/feet within 9 cm of the torso's axis (pelvis to neck) or
    7 cm of the head centre, thigh or shin axes of both legs closer than 7-9 cm, forearm axes
    closer than 5 cm, and hands within 5 cm of a thigh axis (radii of the neutral body, minus slack).
    """
    seg = lambda a, b, k=5: _segment_points(joints, sk, a, b, k)  # noqa: E731
    torso = np.concatenate([seg("spine05", "spine03"), seg("spine03", "spine01"), seg("spine01", "neck01")], 1)
    head = seg("head", "head", 1) + np.array([0.0, -0.09, -0.02])  # head bone head -> skull centre
    ok = np.ones(len(joints), dtype=bool)
    for s in "LR":
        limbs = np.concatenate([seg(f"lowerarm01.{s}", f"wrist.{s}"), seg(f"wrist.{s}", f"finger3-3.{s}", 3),
                                seg(f"lowerleg01.{s}", f"foot.{s}", 3), seg(f"foot.{s}", f"toe3-3.{s}", 2)], 1)
        hand = seg(f"wrist.{s}", f"finger3-3.{s}", 3)
        ok &= _min_dist(limbs, torso) > 0.09
        ok &= _min_dist(hand, head) > 0.07
        for leg in "LR":
            ok &= _min_dist(hand, seg(f"upperleg02.{leg}", f"lowerleg01.{leg}")) > 0.05
    thigh = {s: seg(f"upperleg02.{s}", f"lowerleg01.{s}") for s in "LR"}
    shin = {s: seg(f"lowerleg01.{s}", f"foot.{s}") for s in "LR"}
    ok &= _min_dist(thigh["L"], thigh["R"]) > 0.09
    ok &= _min_dist(shin["L"], shin["R"]) > 0.07
    ok &= _min_dist(thigh["L"], shin["R"]) > 0.07
    ok &= _min_dist(thigh["R"], shin["L"]) > 0.07
    ok &= _min_dist(seg("lowerarm01.L", "wrist.L"), seg("lowerarm01.R", "wrist.R")) > 0.05
    return ok


@lru_cache(maxsize=1)
def default_space() -> PoseSpace:
    """The pose space of the neutral anny skeleton."""
    return PoseSpace(anny_skeleton())


def small_bone_mask(space: PoseSpace) -> np.ndarray:
    """(P,) bool: bones no anatomical DOF drives except the finger curl (fingers, toes, twists, eyes)."""
    driven = ("upperleg01", "lowerleg01", "foot", "clavicle", "upperarm01", "lowerarm01", "lowerarm02",
              "wrist", "spine0", "neck0", "head")
    return np.array([not name.startswith(driven) for name in space.skeleton.names[1:]])


def _sample(n: int, rng: np.random.Generator, space: PoseSpace, categories: list[str] | None,
            small_noise: bool) -> PoseBatch:
    """Draw, check and redraw (up to MAX_REDRAWS times) the implausible samples."""
    names = categories or CATEGORIES
    probs = np.array([CATEGORY_WEIGHTS[c] for c in names])
    category = np.array([CATEGORIES.index(c) for c in names])[rng.choice(len(names), size=n, p=probs / probs.sum())]
    dofs = np.zeros((n, len(DOF_NAMES)))
    pose = torch.zeros(n, space.num_pose, 3)
    body = torch.zeros(n, 3)
    small = torch.as_tensor(small_bone_mask(space))
    todo = np.arange(n)
    for _ in range(MAX_REDRAWS + 1):
        for c in np.unique(category[todo]):
            idx = todo[category[todo] == c]
            dofs[idx] = _finish(rng, SAMPLERS[CATEGORIES[c]](rng, len(idx)), len(idx))
        pose[todo], body[todo] = space.to_pose(dofs[todo])
        if small_noise:
            noise = rng.normal(0, np.radians(SMALL_BONE_NOISE_DEG), (len(todo), int(small.sum()), 3))
            pose[torch.as_tensor(todo)[:, None], torch.nonzero(small)[:, 0]] += torch.as_tensor(noise, dtype=torch.float32)
        todo = todo[~plausible(forward_kinematics(pose[todo], space.skeleton).numpy(), space.skeleton)]
        if len(todo) == 0:
            break
    return PoseBatch(pose=pose, body_orient=body, category=category, dofs=dofs.astype(np.float32))


def sample_dofs(n: int, rng: np.random.Generator, space: PoseSpace | None = None,
                categories: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plausible anatomical DOFs (n, D) in degrees and their category indices (n,).

    ``categories`` restricts the mixture (renormalised weights); default: all of CATEGORIES.
    """
    batch = _sample(n, rng, space or default_space(), categories, small_noise=False)
    return batch.dofs, batch.category


def sample_poses(n: int, rng: np.random.Generator, space: PoseSpace | None = None,
                 categories: list[str] | None = None) -> PoseBatch:
    """``n`` plausible anny poses with their categories (see the module docstring)."""
    return _sample(n, rng, space or default_space(), categories, small_noise=True)
