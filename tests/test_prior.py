"""The heatmap prior: crop, heatmaps (normalisation, peak, width), weights and camera mappings."""
from __future__ import annotations

import torch

from models.prior import CROP_MARGIN, SIGMA_A, SIGMA_B, Prior, build_prior


def _camera(batch: int, size=(640.0, 480.0), f: float = 600.0):
    focal = torch.full((batch, 2), f)
    principal = torch.tensor([[(size[0] - 1) / 2 + 7, (size[1] - 1) / 2 - 4]]).expand(batch, 2)
    return focal, principal, torch.tensor([size]).expand(batch, 2)


def _points(batch: int, seed: int = 0) -> torch.Tensor:
    """Camera-frame points (B, 17, 3): a body-sized cloud 2.5-5 m away."""
    g = torch.Generator().manual_seed(seed)
    cloud = (torch.rand(batch, 17, 3, generator=g) - 0.5) * torch.tensor([0.8, 1.6, 0.4])
    return cloud + torch.tensor([0.0, 0.0, 2.5]) + torch.rand(batch, 1, 3, generator=g) * torch.tensor([0.4, 0.3, 2.5])


def _prior(batch: int = 8, conf: torch.Tensor | None = None) -> tuple[Prior, torch.Tensor]:
    points = _points(batch)
    focal, principal, size = _camera(batch)
    keypoints = points[..., :2] / points[..., 2:] * focal[:, None] + principal[:, None]
    conf = torch.rand(batch, 17, generator=torch.Generator().manual_seed(1)) * 0.7 + 0.3 if conf is None else conf
    return build_prior(keypoints, conf, focal, principal, size), points


def test_heatmaps_sum_to_one_zero_when_missed_and_peak_at_keypoint():
    conf = torch.full((8, 17), 0.9)
    conf[:, 4] = 0.0  # missed
    prior, _ = _prior(8, conf)
    assert prior.heatmaps.shape == (8, 17, 64, 64) and prior.heatmaps.dtype == torch.float32
    sums = prior.heatmaps.sum((-1, -2))
    visible = prior.weights > 0
    assert torch.allclose(sums[visible], torch.ones(int(visible.sum())), atol=1e-5)
    assert (prior.heatmaps[:, 4] == 0).all() and (prior.weights[:, 4] == 0).all()
    flat = prior.heatmaps.flatten(2).argmax(-1)
    peak = torch.stack([flat % 64, flat // 64], -1).float() + 0.5  # pixel centres
    assert ((peak - prior.keypoints_hm).abs()[visible] <= 0.5 + 1e-4).all()
    assert torch.allclose(prior.weights[visible], conf[visible])


def test_width_grows_as_confidence_falls():
    conf = torch.linspace(1.0, 0.05, 17).expand(4, 17).clone()
    prior, _ = _prior(4, conf)
    torch.testing.assert_close(prior.sigma, SIGMA_A + SIGMA_B * (1 - conf))
    grid = torch.arange(64.0) + 0.5
    mean_x = (prior.heatmaps.sum(-2) * grid).sum(-1)
    spread = ((prior.heatmaps.sum(-2) * (grid - mean_x[..., None]) ** 2).sum(-1)).sqrt()  # std along x
    inner = (prior.keypoints_hm - 32).abs().amax(-1) < 11  # >= 4 sigma from the border (no clipping)
    assert inner.sum() >= 5
    for b in range(4):
        s = spread[b][inner[b]]
        assert (s[1:] > s[:-1]).all()
    assert torch.allclose(spread[inner], prior.sigma[inner], rtol=0.03)


def test_crop_square_around_confident_keypoints():
    prior, _ = _prior(8)
    sure = prior.confidence >= 0.3
    lo = torch.where(sure[..., None], prior.keypoints, torch.inf).amin(1)
    hi = torch.where(sure[..., None], prior.keypoints, -torch.inf).amax(1)
    torch.testing.assert_close(prior.crop_center, (lo + hi) / 2)
    torch.testing.assert_close(prior.crop_side, (hi - lo).amax(1) * CROP_MARGIN)
    assert (prior.keypoints_norm[sure].abs() <= 1 / CROP_MARGIN + 1e-5).all()
    no_one = build_prior(torch.zeros(1, 17, 2), torch.zeros(1, 17), *(t[:1] for t in _camera(1)))
    assert torch.allclose(no_one.crop_side, torch.tensor([640.0])) and (no_one.weights == 0).all()


def test_outside_the_crop_weight_zero():
    conf = torch.full((2, 17), 0.9)
    conf[:, 0] = 0.1  # unsure, not used for the crop ...
    prior, _ = _prior(2, conf)
    keypoints = prior.keypoints.clone()
    keypoints[:, 0] = prior.crop_center + prior.crop_side[:, None]  # ... and far outside it
    moved = build_prior(keypoints, conf, prior.focal, prior.principal, prior.image_size)
    assert (moved.weights[:, 0] == 0).all() and (moved.heatmaps[:, 0] == 0).all()


def test_projection_consistent_with_crop_and_bbox_info():
    prior, points = _prior(8)
    torch.testing.assert_close(prior.project_to_heatmap(points), prior.keypoints_hm, atol=1e-3, rtol=0)
    torch.testing.assert_close(prior.heatmap_to_image(prior.keypoints_hm), prior.keypoints, atol=1e-3, rtol=0)
    many = points[:, None].expand(8, 3, 17, 3)  # extra batch dims (hypotheses)
    assert prior.project_to_heatmap(many).shape == (8, 3, 17, 2)
    norm = prior.keypoints_hm / 64 * 2 - 1
    torch.testing.assert_close(norm, prior.keypoints_norm, atol=1e-5, rtol=0)
    info = prior.bbox_info()
    torch.testing.assert_close(info[:, :2], (prior.crop_center - prior.principal) / prior.focal)
    torch.testing.assert_close(info[:, 2], prior.crop_side / prior.focal[:, 0])


def test_batching_helpers():
    prior, _ = _prior(6)
    one = prior.index(2)
    assert len(one) == 1 and torch.equal(one.heatmaps[0], prior.heatmaps[2])
    both = Prior.cat([prior.index(slice(0, 3)), prior.index(slice(3, 6))])
    assert torch.equal(both.heatmaps, prior.heatmaps) and torch.equal(both.crop_side, prior.crop_side)
    assert prior.to("cpu").keypoints.device.type == "cpu"
    assert build_prior(torch.rand(256, 17, 2) * 400, torch.rand(256, 17), *_camera(256)).heatmaps.shape == (256, 17, 64, 64)
