"""HMDiff core: schedule, DDIM, DAT, activation, hypotheses, warm start, checkpoints, metrics."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.hmdiff import CheckpointError, DATConfig, HMDiff, HMDiffConfig, load_hmdiff
from models.hmdiff.dat import (AlignmentGradient, alignment_gap, estimate_translation, spread_to_vertices,
                               world_move)
from models.hmdiff.denoiser import DenoiserConfig
from models.hmdiff.sampler import Sampler
from models.hmdiff.schedule import NoiseSchedule
from models.hmdiff.state import StateLayout, spatial_token_order
from models.metrics import accel_error, mpjpe, pa_mpjpe, procrustes_align
from models.prior import Prior, build_prior

NUM_COARSE, NUM_JOINTS = 256, 17


def small_config(dim: int = 32) -> HMDiffConfig:
    layout = StateLayout(NUM_COARSE, NUM_JOINTS, 0.35, list(range(NUM_COARSE)))
    return HMDiffConfig(DenoiserConfig(num_points=layout.num_points, dim=dim, depth=1, heads=2), layout)


class Oracle(nn.Module):
    """A 'network' that always predicts the same clean state (to test the sampler's algebra)."""

    def __init__(self, x0: torch.Tensor) -> None:
        super().__init__()
        self.x0 = x0

    def forward(self, h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.x0.expand(h.shape[0], -1, -1) + 0 * h


def camera_scene(batch: int = 2, seed: int = 0):
    """Random root-relative joints in front of a camera, and their exact 2D projections."""
    gen = torch.Generator().manual_seed(seed)
    joints = torch.randn(batch, NUM_JOINTS, 3, generator=gen) * 0.3
    transl = torch.tensor([[0.2, -0.1, 3.5]]).repeat(batch, 1)
    focal = torch.full((batch, 2), 600.0)
    principal = torch.tensor([[320.0, 240.0]]).repeat(batch, 1)
    cam = joints + transl[:, None]
    kp = cam[..., :2] / cam[..., 2:] * focal[:, None] + principal[:, None]
    return joints, transl, kp, focal, principal


def test_schedule_is_monotone_and_noises_to_unit_variance():
    s = NoiseSchedule(1000)
    assert s.alpha_bar[0] == 1 and torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1])
    assert s.alpha_bar[-1] < 1e-3
    h0 = torch.ones(4096, 3)
    x = s.q_sample(h0, 1000, torch.randn(4096, 3, generator=torch.Generator().manual_seed(0)))
    assert abs(float(x.std()) - 1) < 0.05 and abs(float(x.mean())) < 0.05
    assert s.timesteps(5) == [1000, 800, 600, 400, 200]
    assert s.timesteps(2, start=200) == [200, 100]
    with pytest.raises(ValueError):
        s.timesteps(0)


@pytest.mark.parametrize("steps", [1, 2, 5, 25])
def test_ddim_with_exact_prediction_lands_on_h0(steps):
    """If the network predicts h_0 exactly, deterministic DDIM ends exactly there from any noise."""
    layout = small_config().layout
    x0 = torch.randn(1, layout.num_points, 3)
    sampler = Sampler(Oracle(x0), NoiseSchedule(), layout)
    out = sampler.sample(torch.zeros(3, 18, 8), None, steps=steps)
    assert out.steps_used == steps and out.dat_steps == 0
    assert torch.allclose(out.h0, x0.expand(3, -1, -1), atol=1e-5)


def test_ddim_step_is_deterministic_and_stochastic_when_asked():
    s = NoiseSchedule()
    h, x0 = torch.randn(2, 10, 3), torch.randn(2, 10, 3)
    a = s.ddim_step(h, 600, 400, x0)
    assert torch.equal(a, s.ddim_step(h, 600, 400, x0))
    b = s.ddim_step(h, 600, 400, x0, eta=1.0, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(a, b)


def test_translation_estimate_is_exact_on_clean_projections():
    joints, transl, kp, focal, principal = camera_scene()
    est = estimate_translation(joints, kp, torch.ones(2, NUM_JOINTS), focal, principal)
    assert torch.allclose(est, transl, atol=1e-3)


class IdealDenoiser(nn.Module):
    """The exact denoiser for a single clean state x0 along the DDIM path of a known noise eps.

    Its prediction follows its input like dh_0/dh_k = I/sqrt(ab_k), so moves of h_k made by DAT
    carry into later predictions, as with a trained network.
    """

    def __init__(self, x0: torch.Tensor, eps: torch.Tensor, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.x0, self.eps, self.schedule = x0, eps, schedule

    def forward(self, h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        ab = self.schedule.alpha_bar[int(k)]
        return self.x0 + (h - ab.sqrt() * self.x0 - (1 - ab).sqrt() * self.eps) / ab.sqrt()


def test_dat_pulls_wrong_joints_toward_the_heatmaps_and_switches_off():
    """With a denoiser sure of a wrong pose, DAT moves the recovered joints toward the prior U."""
    joints, transl, kp, focal, principal = camera_scene(batch=1)
    prior = build_prior(kp, torch.full((1, NUM_JOINTS), 0.9), focal, principal, torch.tensor([[640.0, 480.0]]))
    layout = small_config().layout
    wrong = joints.clone()
    wrong[:, 9:11] += torch.tensor([0.25, -0.2, 0.0])  # wrists off by 32 cm
    x0 = torch.cat([torch.zeros(1, NUM_COARSE, 3), wrong], dim=1) / layout.data_scale
    schedule = NoiseSchedule()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))
    sampler = Sampler(IdealDenoiser(x0, eps, schedule), schedule, layout)
    run = lambda dat: sampler.sample(torch.zeros(1, 18, 8), prior, steps=10, warm_start=x0, warm_step=600,  # noqa: E731
                                     dat=dat, generator=torch.Generator().manual_seed(7))
    plain = run(DATConfig(enabled=False))
    guided = run(DATConfig(rho=0.5, converge_mm=10.0))
    always = run(DATConfig(rho=0.5, activation=False))
    err = lambda h: float((layout.unpack(h)[1] - joints).norm(dim=-1)[:, 9:11].mean())  # noqa: E731
    assert abs(err(plain.h0) - 0.32) < 1e-3  # no DAT: the denoiser's wrong wrists
    assert err(guided.h0) < 0.5 * err(plain.h0)
    assert 1 <= guided.dat_steps < 10  # the activation strategy switched DAT off before the end
    assert always.dat_steps == 10
    gap = lambda h: float(alignment_gap(layout.unpack(h)[1], prior, 1.0, 1)[0])  # noqa: E731
    assert gap(guided.h0) < gap(plain.h0)


def random_rotation(seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed)))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def test_world_move_ignores_the_3d_priors_orientation_and_closes_its_pose_gap():
    joints, transl, kp, focal, principal = camera_scene(batch=2)
    confidence = torch.full((2, NUM_JOINTS), 0.8)
    rotated = joints @ random_rotation(3).T + torch.tensor([0.1, -0.3, 0.2])  # the same pose, turned and shifted
    prior = build_prior(kp, confidence, focal, principal, torch.tensor([[640.0, 480.0]] * 2), world=rotated)
    assert world_move(joints, prior, 1).abs().max() < 1e-4
    bent = rotated.clone()
    bent[:, 9] += 0.2  # one wrist 20 cm away in the 3D prior
    move = world_move(joints[:1], prior.index(0), 1)
    assert move.abs().max() < 1e-4  # index keeps the 3D prior
    move = world_move(joints, build_prior(kp, confidence, focal, principal, torch.tensor([[640.0, 480.0]] * 2),
                                          world=bent), 1)
    assert move[:, 9].norm(dim=-1).min() > 0.1 and move.norm(dim=-1).median() < 0.03
    no_world = build_prior(kp, confidence, focal, principal, torch.tensor([[640.0, 480.0]] * 2))
    assert no_world.world is None and torch.equal(world_move(joints, no_world, 1), torch.zeros_like(joints))
    assert Prior.cat([prior, no_world]).world is None and Prior.cat([prior, prior]).world.shape == (4, NUM_JOINTS, 3)


def test_spread_carries_joint_moves_to_nearby_vertices():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    vertices = torch.tensor([[[0.05, 0.0, 0.0], [0.95, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    x0 = torch.cat([vertices, joints], dim=1)
    shift = torch.zeros_like(x0)
    shift[:, 3:] = torch.tensor([0.0, 0.1, 0.0])  # both joints move alike: the whole mesh follows
    assert torch.allclose(spread_to_vertices(shift, x0, 2, 0.2), torch.tensor([0.0, 0.1, 0.0]).expand(1, 5, 3))
    one = torch.zeros_like(x0)
    one[:, 4] = torch.tensor([0.0, 0.1, 0.0])  # only the second joint moves
    moved = spread_to_vertices(one, x0, 2, 0.2)[0, :3, 1]
    assert moved[1] > 0.099 and moved[0] < 0.001 and abs(float(moved[2]) - 0.05) < 1e-6


def test_dat_with_a_3d_prior_pulls_the_pose_toward_it():
    """With an ideal denoiser sure of a wrong pose, the 3D prior's term pulls the joints toward it,
    and the mesh vertices follow (spread); without a 3D prior nothing of this runs."""
    joints, transl, kp, focal, principal = camera_scene(batch=1)
    layout = small_config().layout
    wrong = joints.clone()
    wrong[:, 9:11] += torch.tensor([0.0, 0.0, 0.3])  # wrists 30 cm off in depth: invisible in 2D
    vertices = wrong[:, [9]].expand(1, NUM_COARSE, 3) + 0.01 * torch.randn(1, NUM_COARSE, 3)
    x0 = torch.cat([vertices, wrong], dim=1) / layout.data_scale
    schedule = NoiseSchedule()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))
    sampler = Sampler(IdealDenoiser(x0, eps, schedule), schedule, layout)
    size = torch.tensor([[640.0, 480.0]])
    with_world = build_prior(kp, torch.full((1, NUM_JOINTS), 0.9), focal, principal, size, world=joints)
    without = build_prior(kp, torch.full((1, NUM_JOINTS), 0.9), focal, principal, size)
    run = lambda prior, dat: sampler.sample(torch.zeros(1, 18, 8), prior, steps=5, warm_start=x0,  # noqa: E731
                                            warm_step=600, dat=dat, generator=torch.Generator().manual_seed(7))
    dat = DATConfig(rho=0.0, activation=False)
    err = lambda h: float((layout.unpack(h)[1] - joints).norm(dim=-1)[:, 9:11].mean())  # noqa: E731
    assert abs(err(run(without, dat).h0) - 0.3) < 1e-3
    pulled = run(with_world, dat).h0
    assert err(pulled) < 0.1
    coarse = layout.unpack(pulled)[0]
    assert float((coarse - vertices)[..., 2].mean()) < -0.15  # the mesh near the wrists came along


def test_network_jacobian_dat_runs_and_reduces_the_gap():
    joints, transl, kp, focal, principal = camera_scene(batch=1)
    prior = build_prior(kp, torch.full((1, NUM_JOINTS), 0.9), focal, principal, torch.tensor([[640.0, 480.0]]))
    torch.manual_seed(0)
    model = HMDiff(small_config()).eval()
    plain = model.recover(prior, steps=4, dat=False, generator=torch.Generator().manual_seed(0))
    exact = model.recover(prior, steps=4, dat=DATConfig(jacobian="network", activation=False),
                          generator=torch.Generator().manual_seed(0))
    assert exact.dat_steps == 4 and torch.isfinite(exact.vertices).all()
    gap = lambda r: float(alignment_gap(r.joints - r.transl[:, None], prior, 1.0, 1)[0])  # noqa: E731
    assert gap(exact) < gap(plain)


@pytest.mark.parametrize("hypotheses", [1, 3])
def test_closed_form_gradient_equals_autograd(hypotheses):
    """AlignmentGradient (no autograd) gives autograd's ∂D/∂X through the translation fit and the
    projection, and the same translations, on joints off their keypoints and with weak joints."""
    joints, transl, kp, focal, principal = camera_scene(batch=2, seed=3)
    confidence = torch.rand(2, NUM_JOINTS, generator=torch.Generator().manual_seed(1))
    confidence[:, 3] = 0.0  # an unseen joint
    prior = build_prior(kp, confidence, focal, principal, torch.tensor([[640.0, 480.0]] * 2))
    moved = joints.repeat_interleave(hypotheses, 0)
    moved = moved + 0.05 * torch.randn(moved.shape, generator=torch.Generator().manual_seed(2))
    for s in (1.0, 3.0):
        x = moved.clone().requires_grad_(True)
        gap, t_ref = alignment_gap(x, prior, s, hypotheses)
        (expected,) = torch.autograd.grad(gap.sum(), x)
        grad, t = AlignmentGradient(prior, hypotheses)(moved, s)
        assert expected.abs().max() > 1.0  # a real pull, not zeros on both sides
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
        torch.testing.assert_close(t, t_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("world", [False, True])
def test_fused_dat_step_matches_the_torch_paths(world, monkeypatch):
    """One guided step gives the same h_k and h_0 (to 5e-5 units, 0.02 mm: float32 against float64 sums)
    with DAT's move fused into one Numba call, with the closed-form gradient in torch and with
    autograd (the reference), for 1 and 3 hypotheses; whole recoveries agree within the 1 mm the
    latency issue allows (an untrained network amplifies rounding), for 1 and 3 hypotheses."""
    import models.hmdiff.dat as dat_module

    joints, transl, kp, focal, principal = camera_scene(batch=2, seed=5)
    size = torch.tensor([[640.0, 480.0]] * 2)
    prior = build_prior(kp, torch.full((2, NUM_JOINTS), 0.8), focal, principal, size,
                        world=joints @ random_rotation(4).T if world else None)
    torch.manual_seed(0)
    model = HMDiff(small_config()).eval()
    sampler, dat = model.sampler, DATConfig(activation=False)
    cond = model.condition(prior)

    def step(hypotheses: int, gradient):
        return sampler._guided(noisy(hypotheses), 600, torch.tensor([600]), cond.repeat_interleave(hypotheses, 0),
                               prior, hypotheses, dat, gradient)

    def noisy(hypotheses: int) -> torch.Tensor:
        return torch.randn(2 * hypotheses, NUM_COARSE + NUM_JOINTS, 3, generator=torch.Generator().manual_seed(3))

    def recovery(dat: DATConfig, hypotheses: int):
        return model.recover(prior, steps=3, hypotheses=hypotheses, dat=dat,
                             generator=torch.Generator().manual_seed(1)).vertices

    for hypotheses in (1, 3):
        fused = AlignmentGradient(prior, hypotheses)
        assert fused.fused
        h_ref, x0_ref = step(hypotheses, None)
        h_fused, x0_fused = step(hypotheses, fused)
        fused.fused = False  # the same object on the torch closed form
        h_torch, x0_torch = step(hypotheses, fused)
        plain = sampler.infer(noisy(hypotheses), torch.tensor([600]), cond.repeat_interleave(hypotheses, 0))
        assert (x0_ref - plain).abs().max() > 1e-2  # DAT moved h_0
        for h, x0 in ((h_fused, x0_fused), (h_torch, x0_torch)):
            torch.testing.assert_close(h, h_ref, rtol=0, atol=5e-5)
            torch.testing.assert_close(x0, x0_ref, rtol=0, atol=5e-5)
    for hypotheses in (1, 3):  # one: placed by DAT's cached camera fit, no averaging copies
        reference = recovery(DATConfig(activation=False, closed_form=False), hypotheses)
        assert (recovery(dat, hypotheses) - reference).abs().max() < 1e-3
    monkeypatch.setattr(dat_module, "dat_step_kernels", lambda: None)  # no Numba: the torch closed form runs
    assert not AlignmentGradient(prior, 1).fused


def test_recover_shapes_hypotheses_spread_and_warm_start():
    joints, transl, kp, focal, principal = camera_scene(batch=2)
    prior = build_prior(kp, torch.full((2, NUM_JOINTS), 0.8), focal, principal, torch.tensor([[640.0, 480.0]] * 2))
    torch.manual_seed(0)
    model = HMDiff(small_config()).eval()
    one = model.recover(prior, steps=3, hypotheses=1)
    many = model.recover(prior, steps=3, hypotheses=4, eta=1.0)
    v = model.coarse_mesh.weights.shape[0]
    assert one.vertices.shape == (2, v, 3) and one.joints.shape == (2, NUM_JOINTS, 3)
    assert one.h0.shape == (2, NUM_COARSE + NUM_JOINTS, 3) and torch.all(one.spread == 0)
    assert many.hypotheses_vertices.shape == (2, 4, v, 3) and torch.all(many.spread > 0)
    assert torch.allclose(many.vertices, many.hypotheses_vertices.mean(1), atol=1e-5)
    warm = model.recover(prior, steps=2, warm_start=one.h0)
    assert warm.steps_used == 2 and torch.isfinite(warm.vertices).all()
    # The mesh is placed in the camera: in front of it, near the keypoints' depth.
    assert torch.all(one.transl[:, 2] > 0)


def test_spatial_token_order_is_a_permutation_of_local_groups():
    pts = torch.randn(64, 3)
    order = spatial_token_order(pts, 4)
    assert sorted(order) == list(range(64))
    groups = pts[order].reshape(16, 4, 3)
    spread_grouped = (groups - groups.mean(1, keepdim=True)).norm(dim=-1).mean()
    spread_random = (pts.reshape(16, 4, 3) - pts.reshape(16, 4, 3).mean(1, keepdim=True)).norm(dim=-1).mean()
    assert spread_grouped < spread_random
    layout = StateLayout(64, 2, 0.5, order)
    coarse, joints = torch.randn(3, 64, 3), torch.randn(3, 2, 3)
    back = layout.unpack(layout.pack(coarse, joints))
    assert torch.allclose(back[0], coarse, atol=1e-6) and torch.allclose(back[1], joints, atol=1e-6)


def test_checkpoint_roundtrip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    model = HMDiff(small_config()).eval()
    path = tmp_path / "m.pt"
    model.save(path, extra={"note": "test"})
    loaded = load_hmdiff(path)
    for a, b in zip(model.net.state_dict().values(), loaded.net.state_dict().values()):
        assert torch.equal(a, b)
    assert loaded.extra["note"] == "test"
    with pytest.raises(CheckpointError, match="not found"):
        load_hmdiff(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_hmdiff(tmp_path / "junk.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["denoiser"]["dim"] = 64
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_hmdiff(tmp_path / "mismatch.pt")


def test_metrics_procrustes_and_root_alignment():
    gen = torch.Generator().manual_seed(0)
    gt = torch.randn(3, 17, 3, generator=gen)
    angle = 0.7
    rot = torch.tensor([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1.0]])
    pred = 1.3 * gt @ rot.T + torch.tensor([0.5, -0.2, 1.0])
    assert torch.allclose(procrustes_align(pred, gt), gt, atol=1e-4)
    assert float(pa_mpjpe(pred, gt).max()) < 0.1
    assert float(mpjpe(gt + 2.0, gt).max()) < 1e-3  # translation removed by the root
    assert abs(float(mpjpe(gt + torch.tensor([0.01, 0, 0]) * (torch.arange(17) == 3)[None, :, None], gt, 0).mean()) - 10 / 17) < 1e-3


def test_accel_error_sees_jitter_not_motion():
    t = torch.arange(10.0)[:, None, None]
    gt = torch.zeros(10, 17, 3) + 0.01 * t**2 * (torch.arange(17) > 0)[None, :, None]  # steady acceleration
    assert float(accel_error(gt + 5.0, gt).max()) < 1e-3  # the same motion, elsewhere: no error
    jitter = gt.clone()
    jitter[4, 1:] += 0.002  # one joint set 2 mm off on frame 4: frames 3, 4, 5 see it
    error = accel_error(jitter, gt)
    assert error.shape == (8,) and torch.allclose(error[[2, 3, 4]], torch.tensor([2.0, 4.0, 2.0]) * 3**0.5 * 16 / 17, atol=1e-3)
    valid = torch.ones(10, dtype=torch.bool)
    valid[4] = False  # a frame without a person: the three accelerations that use it are dropped
    assert accel_error(jitter, gt, valid).shape == (5,) and float(accel_error(jitter, gt, valid).max()) < 1e-3


@pytest.mark.parametrize("fill", ["nose", "zeros", "far", "nan"])
def test_unseen_joints_do_not_change_the_result(fill):
    """Joints with confidence 0 (eyes and ears here, as a lifting source gives them) change nothing,
    whatever their 2D and 3D coordinates: condition, heatmaps, crop, translation and DAT."""
    joints, transl, kp, focal, principal = camera_scene(batch=2, seed=3)
    conf = torch.full((2, NUM_JOINTS), 0.9)
    unseen = [1, 2, 3, 4]
    conf[:, unseen] = 0.0
    world = joints - joints[:, [11, 12]].mean(1, keepdim=True)
    size = torch.tensor([[640.0, 480.0]] * 2)
    config = small_config()
    config.denoiser.world_condition = True
    torch.manual_seed(0)
    model = HMDiff(config).eval()
    torch.nn.init.normal_(model.net.world_in.weight, std=0.2)  # a trained-like, non-zero 3D input

    def run(kp_unseen: torch.Tensor, world_unseen: torch.Tensor) -> torch.Tensor:
        k, w = kp.clone(), world.clone()
        k[:, unseen], w[:, unseen] = kp_unseen, world_unseen
        prior = build_prior(k, conf, focal, principal, size, world=w)
        return model.recover(prior, steps=3, generator=torch.Generator().manual_seed(1)).vertices

    reference = run(kp[:, [0]].expand(-1, 4, -1), world[:, [0]].expand(-1, 4, -1))
    other = {"nose": (kp[:, [0]].expand(-1, 4, -1), world[:, [0]].expand(-1, 4, -1)),
             "zeros": (torch.zeros(2, 4, 2), torch.zeros(2, 4, 3)),
             "far": (torch.full((2, 4, 2), 5000.0), torch.full((2, 4, 3), -30.0)),
             "nan": (torch.full((2, 4, 2), float("nan")), torch.full((2, 4, 3), float("nan")))}[fill]
    assert torch.equal(run(*other), reference)
    # ... while a seen joint's coordinates do matter (the test can fail).
    conf[:, unseen] = 0.5
    assert not torch.allclose(run(torch.zeros(2, 4, 2), torch.zeros(2, 4, 3)), reference, atol=1e-4)


def test_mirrored_prior_is_the_mirror_image():
    """Mirroring a prior twice gives it back; once, each keypoint sits at its twin's mirrored place."""
    from models.skeletons import COCO17_TWINS

    _, _, kp, focal, principal = camera_scene(batch=2, seed=4)
    kp, conf = kp[:, :17], torch.rand(2, 17, generator=torch.Generator().manual_seed(1)).clamp(min=0.2)
    conf[0, 3] = 0.0  # an unseen joint stays unseen
    world = torch.randn(2, 17, 3)
    prior = build_prior(kp, conf, focal, principal, torch.tensor([[640.0, 480.0]] * 2), world=world)
    once, twice = prior.mirrored(COCO17_TWINS), prior.mirrored(COCO17_TWINS).mirrored(COCO17_TWINS)
    for name in ("keypoints", "weights", "heatmap_x", "heatmap_y", "world", "world_weights"):
        assert torch.allclose(getattr(twice, name), getattr(prior, name), atol=1e-4), name
    left, right = 5, 6  # left_shoulder, right_shoulder
    assert torch.allclose(once.keypoints[1, right, 0], 2 * principal[1, 0] - prior.keypoints[1, left, 0])
    assert torch.allclose(once.world[1, right], prior.world[1, left] * torch.tensor([-1.0, 1.0, 1.0]))
    assert once.confidence[0, 4] == 0 and once.weights[0, 4] == 0  # left_ear's twin


def test_mirrored_recovery_averages_both_halves(untrained_weights):
    """recover(mirror=True): half the samples on the mirrored prior, mirrored back; the same as one
    plain run over [prior, mirrored prior] with the second half mirrored by hand."""
    from models.body.mirror import mirror_points, vertex_twins
    from models.skeletons import COCO17_TWINS

    model = load_hmdiff(untrained_weights)
    _, _, kp, focal, principal = camera_scene(batch=1, seed=6)
    prior = build_prior(kp[:, :17], torch.full((1, 17), 0.9), focal, principal, torch.tensor([[640.0, 480.0]]))
    mirrored = model.recover(prior, steps=2, hypotheses=2, mirror=True, generator=torch.Generator().manual_seed(3))
    plain = model.recover(Prior.cat([prior, prior.mirrored(COCO17_TWINS)]), steps=2, hypotheses=1,
                          generator=torch.Generator().manual_seed(3))
    twins = vertex_twins("anny")
    expected = torch.stack([plain.vertices[0], mirror_points(plain.vertices[1], twins)])
    assert torch.allclose(mirrored.hypotheses_vertices[0], expected, atol=1e-5)
    assert torch.allclose(mirrored.vertices[0], expected.mean(0), atol=1e-5)
    assert torch.allclose(mirrored.joints[0], (plain.joints[0] + mirror_points(plain.joints[1], COCO17_TWINS)) / 2, atol=1e-5)
    assert torch.allclose(mirrored.h0, plain.h0[:1])
    with pytest.raises(ValueError, match="even number"):
        model.recover(prior, hypotheses=3, mirror=True)
