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
    assert est.logistic.tolist() == [True, False, False, False, False, False]


def test_proportions_ignore_where_the_body_is_how_it_is_turned_and_its_scale(lbs):
    body = posed(lbs, torch.full((4, 6), 0.5), seed=99)
    est = load_phenotype_estimator()
    rot = roma.rotvec_to_rotmat(torch.tensor([[0.3, 2.0, -0.4]]))
    move = lambda x: 1.3 * x @ rot.mT + torch.tensor([0.2, -0.1, 3.0])  # noqa: E731
    assert torch.allclose(est.features(move(body.coarse), move(body.joints)), est.features(body.coarse, body.joints),
                          atol=1e-5)


@pytest.mark.slow
def test_recovers_the_sex_of_synthetic_people_along_a_track(lbs):
    """HMDiff's own output on simulated detections of 32 people never seen in training (seed 4242),
    16 poses each, pooled by a ShapeTrack: the sex of the adults (measured: 0.13 off, 93 % right,
    after 32 frames of 48 people; guessing the mean: 0.40 off)."""
    from models.synth.shapes import years_to_anny_age
    from tools.build_phenotype import recovered_bodies

    frames = 16
    rec = recovered_bodies(lbs, 32, frames, 4242)
    track, last = ShapeTrack(load_phenotype_estimator()), []
    for i in range(len(rec["shape"])):
        if i % frames == 0:
            track.reset()
        shape = track.update(rec["rec_coarse"][i], rec["rec_joints"][i])
        if i % frames == frames - 1:
            last.append(shape)
    truth = rec["shape"][frames - 1::frames].numpy()
    last = np.stack(last)
    adult = truth[:, 1] >= years_to_anny_age(np.array(18.0))
    assert np.abs(last[adult, 0] - truth[adult, 0]).mean() < 0.25
    assert ((last[adult, 0] > 0.5) == (truth[adult, 0] > 0.5)).mean() >= 0.75


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


def test_shape_track_settles_along_a_track_and_resets_at_a_cut(lbs):
    """One person in 64 random poses (vertex noise 1 cm; each pose unlike the last, unlike a video):
    the track's shape moves less and less; a cut
    starts again from the population's shape; a frame that is not finite is skipped."""
    est = load_phenotype_estimator()
    shape = torch.tensor([[0.1, 0.8, 0.6, 0.4, 0.4, 0.5]]).repeat(64, 1)
    body = posed(lbs, shape, seed=7)
    gen = torch.Generator().manual_seed(0)
    coarse = body.coarse + 0.01 * torch.randn(body.coarse.shape, generator=gen)
    track = ShapeTrack(est)
    population = track.shape.copy()
    np.testing.assert_allclose(population, est(est.mean[None])[0].numpy(), atol=1e-6)
    pooled = np.stack([track.update(c, j) for c, j in zip(coarse, body.joints)])
    steps = np.abs(np.diff(pooled, axis=0)).max(1)
    assert steps[40:].mean() < 0.2 * steps[:8].mean() and steps[40:].max() < 0.05  # measured 0.017 / 0.139, 0.039
    assert track.count == 64
    kept = track.update(coarse[0] * np.nan, body.joints[0])
    np.testing.assert_array_equal(kept, pooled[-1])
    assert track.count == 64
    track.reset()
    assert track.count == 0 and np.array_equal(track.shape, population)
