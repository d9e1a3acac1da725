"""Scene cuts, keypoint jumps and One Euro smoothing."""
from __future__ import annotations

import numpy as np

from models.stream import OneEuroFilter, is_jump
from realtime.temporal import SceneCutDetector


def test_scene_cut_detector():
    rng = np.random.default_rng(0)
    room = rng.integers(0, 120, (120, 160, 3), np.uint8)
    moved = np.roll(room, 6, axis=1)  # the camera pans a little
    beach = rng.integers(150, 255, (120, 160, 3), np.uint8)
    cuts = SceneCutDetector()
    assert [cuts(img) for img in (room, room, moved, beach, beach)] == [False, False, False, True, False]


def test_jump_is_relative_to_the_box():
    kp = np.stack([np.linspace(100, 200, 17), np.linspace(50, 450, 17)], 1)  # a 400 px tall person
    conf = np.ones(17)
    assert not is_jump(kp, kp + 20, conf)  # 28 px of 400
    assert is_jump(kp, kp + 80, conf)  # 113 px of 400
    low = np.zeros(17)
    low[:3] = 1
    assert is_jump(kp, kp, low)  # too few confident joints to trust


def test_one_euro_smooths_noise_and_follows_steps():
    rng = np.random.default_rng(0)
    f = OneEuroFilter()
    t = np.arange(200) / 30
    noisy = rng.normal(0, 0.01, (200, 3))
    out = np.array([f(ti, x) for ti, x in zip(t, noisy)])
    assert out[20:].std() < 0.5 * noisy[20:].std()
    f.reset()
    for ti in t[:60]:
        last = f(ti, np.ones(3))
    np.testing.assert_allclose(last, 1.0)
