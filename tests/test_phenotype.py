"""Phenotype estimate, shape pooling along a track, and the shaped upsampler (no anny needed: its LBS export)."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from models.body.anny_lbs import load_anny_lbs
from models.body.coarse import load_coarse_mesh
from models.body.phenotype import PHENOTYPE_PATH, ShapeTrack, load_phenotype_estimator
from models.body.shaped import ShapedUpsampler
from models.synth.anatomy import PoseSpace
from models.synth.poses import sample_poses


@pytest.fixture(scope="module")
def lbs():
    return load_anny_lbs()


@pytest.fixture(scope="module")
def coarse_mesh():
    return load_coarse_mesh("anny", 256)


def posed(lbs, shape: torch.Tensor, seed: int):
    pose = sample_poses(len(shape), np.random.default_rng(seed), PoseSpace(lbs.skeleton())).pose.float()
    with torch.no_grad():
        return lbs(pose, shape)


def test_asset_loads():
    assert PHENOTYPE_PATH.is_file() and PHENOTYPE_PATH.stat().st_size < 100_000
    est = load_phenotype_estimator()
    assert est.shape_names == ["gender", "age", "muscle", "weight", "height", "proportions"]
    assert est.weight.shape == (len(est.mean), 6) and torch.isfinite(est.weight).all()


def test_recovers_gender_and_height_of_known_bodies(lbs):
    """Adult men and women of every height, in random poses never seen in training (seed 99)."""
    gen = torch.Generator().manual_seed(99)
    n = 48
    shape = torch.rand(n, 6, generator=gen) * 0.6 + 0.2
    shape[:, 0] = torch.where(torch.arange(n) % 2 == 0, 0.05, 0.95)  # men, women
    shape[:, 1] = 0.5 + 0.3 * torch.rand(n, generator=gen)  # adults
    body = posed(lbs, shape, seed=99)
    est = load_phenotype_estimator()(body.coarse, body.joints)
    assert est.shape == (n, 6) and (est >= 0).all() and (est <= 1).all()
    assert (est[:, 0] - shape[:, 0]).abs().mean() < 0.15
    assert ((est[:, 0] > 0.5) == (shape[:, 0] > 0.5)).float().mean() >= 0.9  # the sex, per frame
    assert (est[:, 4] - shape[:, 4]).abs().mean() < 0.06
    # Invariant to where the body is and how it is turned (camera frame input).
    rot = roma.rotvec_to_rotmat(torch.tensor([[0.3, 2.0, -0.4]]))
    moved = load_phenotype_estimator()(body.coarse @ rot.mT + torch.tensor([0.2, -0.1, 3.0]),
                                       body.joints @ rot.mT + torch.tensor([0.2, -0.1, 3.0]))
    assert torch.allclose(moved, est, atol=1e-3)


def test_shaped_upsample_of_the_average_shape_stays_close_to_today(lbs, coarse_mesh):
    shape = torch.full((8, 6), 0.5)
    body = posed(lbs, shape, seed=5)
    today = coarse_mesh.upsample(body.coarse)
    with torch.no_grad():
        shaped = ShapedUpsampler(coarse_mesh, lbs)(body.coarse, shape[:1])
        kept = ShapedUpsampler(coarse_mesh, lbs, beta=1.0)(body.coarse, shape[:1])
    assert shaped.shape == today.shape
    assert (shaped - today).norm(dim=-1).mean() < 0.008  # metres
    assert torch.allclose(kept, today, atol=1e-5)  # beta = 1 without detail is today's upsample


def test_shaped_upsample_is_the_template_at_rest_and_follows_rigid_motion(lbs, coarse_mesh):
    shape = torch.tensor([[0.0, 0.6, 0.7, 0.3, 0.8, 0.4], [1.0, 0.9, 0.2, 0.8, 0.2, 0.6]])
    up = ShapedUpsampler(coarse_mesh, lbs)
    with torch.no_grad():
        template, _, rest = up.template(shape)
        at_rest = up(rest, shape)
        assert (at_rest - template).abs().max() < 1e-4
        rot = roma.rotvec_to_rotmat(torch.tensor([[0.0, 3.0, 0.5]]))
        move = torch.tensor([0.1, 0.2, 2.5])
        assert (up(rest @ rot.mT + move, shape) - (template @ rot.mT + move)).abs().max() < 1e-4
        # A different shape gives a different body on the same coarse vertices.
        assert (up(rest[:1], shape[1:]) - template[:1]).norm(dim=-1).mean() > 0.01


def test_shape_track_is_constant_along_a_track_and_resets_at_a_cut():
    rng = np.random.default_rng(0)
    first, second = np.full(6, 0.2), np.full(6, 0.8)
    track = ShapeTrack()
    pooled = [track.update(first + 0.08 * rng.standard_normal(6)) for _ in range(100)]
    steps = np.abs(np.diff(pooled, axis=0)).max(1)
    assert steps[50:].max() < 0.01  # per-frame noise 0.08, the pooled shape barely moves
    assert np.abs(pooled[-1] - first).max() < 0.05
    assert track.count == 100
    track.reset()
    estimate = second + 0.08 * rng.standard_normal(6)
    assert np.allclose(track.update(estimate), estimate, atol=1e-6)  # a new person starts afresh
    assert track.count == 1
