"""The stream's recovery (models.stream) and the tracking evaluation's figures (models.evaluate.track)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.evaluate.track import best_lag, lag_curve, load_sequences, motion_scores
from models.stream import OneEuroFilter, StreamRecovery, StreamSettings


def run(stream: StreamRecovery, prior, keypoints, confidence, frames: int = 3) -> list[np.ndarray]:
    return [stream(prior, keypoints, confidence, t=i / 25).vertices for i in range(frames)]


def test_fixed_noise_is_deterministic_and_fresh_noise_is_not(tiny_model, standing_prior):
    cold = StreamSettings(warm_start=False, smooth=False, steps=2)
    fixed = run(StreamRecovery(tiny_model, replace(cold, fixed_noise=True)), *standing_prior)
    np.testing.assert_array_equal(fixed[0], fixed[1])
    np.testing.assert_array_equal(fixed[1], fixed[2])
    fresh = run(StreamRecovery(tiny_model, replace(cold, fixed_noise=False)), *standing_prior)
    assert np.abs(fresh[0] - fresh[1]).max() > 1e-4  # a new draw each frame: what made the stream tremble


def test_mirrored_stream_frame_and_track_logic(tiny_model, standing_prior):
    prior, keypoints, confidence = standing_prior
    stream = StreamRecovery(tiny_model, StreamSettings(warm_start=True, fixed_noise=True, hypotheses=2, mirror=True))
    first = stream(prior, keypoints, confidence, t=0.0)
    second = stream(prior, keypoints, confidence, t=0.04)
    assert not first.continues and not first.warm and first.steps_used == 2
    assert not first.spread.any()  # a sample and its mirror image: no uncertainty to colour
    four = StreamRecovery(tiny_model, StreamSettings(hypotheses=4, mirror=True))(prior, keypoints, confidence)
    assert four.spread.any()
    assert second.continues and second.warm and second.steps_used == 1  # warm: mirroring is for cold frames
    assert stream(None, None, None) is None  # no person: the track ends
    assert not stream(prior, keypoints, confidence, t=0.08).continues
    assert not stream(prior, keypoints + 200.0, confidence, t=0.12).continues  # a jump
    assert not stream(prior, keypoints + 200.0, confidence, cut=True, t=0.16).continues


def test_one_euro_filter_restarts_on_time_that_does_not_advance():
    f = OneEuroFilter()
    f(0.0, np.zeros(3))
    f(0.04, np.ones(3))
    for t in (float("nan"), float("inf"), 0.04):  # not finite, or not later: restart at the value
        np.testing.assert_array_equal(f(t, np.full(3, 2.0)), np.full(3, 2.0))
    assert np.isfinite(f(0.08, np.full(3, 3.0))).all()


def walking(frames: int = 60) -> np.ndarray:
    """Human3.6M-17-like joints (T, 17, 3) swinging smoothly, metres."""
    t = np.arange(frames)[:, None, None] / 25.0
    rest = np.random.default_rng(0).normal(0, 0.3, (1, 17, 3))
    return rest + 0.1 * np.sin(2 * np.pi * 1.2 * t + np.arange(17)[None, :, None])


def test_motion_scores_see_lag_jitter_and_accuracy():
    truth = walking()
    pa = [np.zeros(len(truth))]
    exact = motion_scores([truth], [truth], pa)
    assert exact["accel_error_mm"] == 0 and exact["jitter_mm"] == exact["gt_jitter_mm"] > 0
    assert exact["lag_frames"] == pytest.approx(0, abs=0.05)
    late = np.concatenate([truth[:2], truth[:-2]])  # two frames late
    assert best_lag(lag_curve([late], [truth])) == pytest.approx(2, abs=0.1)
    shaky = truth + np.random.default_rng(1).normal(0, 0.005, truth.shape)
    assert motion_scores([shaky], [truth], pa)["jitter_mm"] > 2 * exact["jitter_mm"]


def test_tracking_sequences_load_by_subject(shared_dir):
    sequences = load_sequences(shared_dir / "data/real/h36m_lift_seq", ("S8",), limit=2)
    assert len(sequences) == 2
    assert all(set(s["subject"]) == {"S8"} and len(s["S"]) == len(s["kp2d"]) > 2 for s in sequences)
    with pytest.raises(ValueError, match="not a tracking set"):
        load_sequences(shared_dir / "data/real/h36m_lift")
