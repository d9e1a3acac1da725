"""The compact LBS export of anny and the on-the-fly training stream (models/train/stream.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.body.anny_lbs import check_against_anny, load_anny_lbs
from models.body.coarse import load_coarse_mesh
from models.synth.poses import PoseBatch
from models.train.stream import TrainingStream


@pytest.fixture(scope="module")
def lbs():
    return load_anny_lbs()


@pytest.fixture(scope="module")
def stream(lbs):
    return TrainingStream(seed=5, lbs=lbs, val_size=48)


def test_lbs_export_matches_anny_forward(lbs, anny_body):
    """Coarse vertices and COCO-17 joints within 0.05 mm of anny's full forward on fresh bodies
    (sampler poses and shapes, and linear_fit's wide poses with uniform phenotypes)."""
    errors = check_against_anny(lbs, anny_body, num=96, seed=2027, batch=48)
    for name in ("coarse", "joints"):
        assert errors[name]["max"] < 0.05, (name, errors[name])
    assert lbs.num_coarse == 256 and lbs.num_bones == len(anny_body.joint_names)
    assert torch.equal(lbs.coarse_indices, load_coarse_mesh("anny", 256).indices)


def test_lbs_shape_coefficients_are_annys(lbs, anny_body):
    """The export's phenotype -> blend-shape map gives anny's rest offsets of the coarse vertices.
    Compared as offsets, not coefficients: anny's cache build may negate a blend shape together
    with its coefficient (columns 31 and 75 came out negated on one fresh machine, 2026-12-02)."""
    a = anny_body.anny
    shape = torch.rand(16, 6, generator=torch.Generator().manual_seed(0))
    shape[0] = 0.0
    shape[1] = 1.0
    phen = a._parse_parameter_kwargs(shape, a.phenotype_labels, 0.5, "phenotype_kwargs")
    ref = a._get_phenotype_blendshape_coefficients(phen, torch.zeros(16, 0), torch.zeros(16, 0))
    expected = torch.einsum("bk,kvc->bvc", ref.double(), a.blendshapes[:, lbs.coarse_indices].double())
    ours = (lbs.coefficients(shape).double() @ lbs.basis[1:].double())[:, slice(*lbs.slices["coarse"])]
    assert torch.allclose(ours.reshape(expected.shape), expected, atol=1e-6)
    assert torch.allclose(lbs.coefficients(shape).abs(), ref.abs(), atol=1e-6)


def test_lbs_skeleton_is_the_neutral_anny_skeleton(lbs):
    from models.synth.skeleton import anny_skeleton

    ref, ours = anny_skeleton(), lbs.skeleton()
    assert ours.names == ref.names and ours.parents == ref.parents
    assert np.abs(ours.rest - ref.rest).max() < 1e-5


@pytest.mark.parametrize("mocap_fraction", [0.0, 0.5])
def test_stream_reproduces_the_disk_generator(lbs, mocap_fraction):
    """Same random stream, same samples as models.synth's generator (anny's full forward): the
    stream's poses (hand-made and mocap), shapes, cameras and LBS bodies are the disk path's."""
    import inspect

    from models.synth.dataset import SampleGenerator

    extra = {}
    if mocap_fraction:
        if "mocap_fraction" not in inspect.signature(SampleGenerator.static_chunk).parameters:
            pytest.skip("models.synth.dataset has no mocap poses")
        extra = {"mocap_fraction": mocap_fraction, "split": "train"}
    try:
        stream = TrainingStream(seed=5, lbs=lbs, mocap_fraction=mocap_fraction)
    except ValueError as err:
        pytest.skip(str(err))
    key = (5, 0, 0, 3)
    batch = stream.sample(24, key)
    arrays, _ = SampleGenerator().static_chunk(24, np.random.default_rng(list(key)), np.random.default_rng(0), False,
                                               **extra)
    t = lambda k: torch.as_tensor(np.asarray(arrays[k], np.float32))  # noqa: E731
    assert (t("transl") - batch.transl).norm(dim=-1).max() < 1e-4
    assert (t("joints_coco17") - batch.joints).norm(dim=-1).max() < 1e-4
    # The disk set stores the coarse vertices in float16 (millimetre precision).
    assert (t("coarse_vertices_rel") - (batch.coarse - batch.transl[:, None])).norm(dim=-1).max() < 2e-3
    from models.camera import project

    clean = project(batch.joints, batch.prior.focal, batch.prior.principal)
    assert (t("keypoints_2d") - clean).norm(dim=-1).max() < 0.05
    assert torch.equal(t("focal"), batch.prior.focal) and torch.equal(t("image_size"), batch.prior.image_size)


def test_stream_is_seeded_resumable_and_sharded(lbs):
    a, b = TrainingStream(seed=1, lbs=lbs), TrainingStream(seed=1, lbs=lbs)
    first = [a.train_batch(8) for _ in range(2)]
    again = b.train_batch(8)
    assert torch.equal(first[0].coarse, again.coarse) and torch.equal(first[0].prior.keypoints, again.prior.keypoints)
    assert not torch.equal(first[0].coarse, first[1].coarse)
    # Resume: the state is the step count.
    c = TrainingStream(seed=1, lbs=lbs)
    c.set_state(a.get_state())
    a_next, c_next = a.train_batch(8), c.train_batch(8)
    assert torch.equal(a_next.joints, c_next.joints) and torch.equal(a_next.prior.confidence, c_next.prior.confidence)
    # Another rank or seed draws other samples.
    for other in (TrainingStream(seed=1, rank=1, lbs=lbs), TrainingStream(seed=2, lbs=lbs)):
        assert (other.train_batch(8).joints - first[0].joints).abs().max() > 0.05


def test_exact_2d_share_of_the_training_batches(lbs):
    from models.camera import project

    def exact_rows(batch):
        clean = project(batch.joints, batch.prior.focal, batch.prior.principal)
        clean = torch.minimum(clean.clamp_min(0), batch.prior.image_size[:, None] - 1)
        seen = batch.prior.confidence > 0  # the prior zeroes unseen joints
        return ((batch.prior.keypoints - clean).abs().amax(-1) < 1e-3).logical_or(~seen).all(1)

    exact = TrainingStream(seed=1, lbs=lbs, exact_2d=1.0, val_size=16)
    assert exact_rows(exact.train_batch(16)).all()
    assert not exact_rows(exact.validation_batches(16)[0]).any()  # the fixed validation set keeps its noise
    plain, none = TrainingStream(seed=1, lbs=lbs).train_batch(16), TrainingStream(seed=1, lbs=lbs, exact_2d=0.0).train_batch(16)
    assert not exact_rows(plain).any() and torch.equal(plain.prior.keypoints, none.prior.keypoints)
    with pytest.raises(ValueError, match="exact_2d"):
        TrainingStream(seed=1, lbs=lbs, exact_2d=-0.1)


def test_stream_batches_are_complete_and_valid(stream):
    from models.hmdiff.state import StateLayout

    layout = StateLayout(num_coarse=256, num_joints=17, data_scale=0.289, order=list(range(256)))
    stream.layout = layout
    step = int(stream.get_state()[0])
    try:
        batch = stream.train_batch(16)
    finally:
        stream.layout = None
    assert batch.h0.shape == (16, 273, 3) and torch.isfinite(batch.h0).all()
    coarse, joints = layout.unpack(batch.h0)
    assert torch.allclose(joints, batch.joints - batch.transl[:, None], atol=1e-6)
    assert (batch.joints[..., 2] > 0.3).all()  # in front of the camera
    assert batch.prior.heatmaps.shape == (16, 17, 64, 64) and batch.prior.world is None
    assert batch.occluded.dtype == torch.bool and batch.index.tolist() == list(range(16 * step, 16 * step + 16))
    # Pelvis (the root) at the origin of the canonical body: the coarse mesh straddles it.
    rel = batch.coarse - batch.transl[:, None]
    assert (rel.norm(dim=-1).min(1).values < 0.2).all()


def test_stream_workers_give_the_same_batches(lbs):
    """Host stages in a worker process ahead of the step: identical batches, in order, and resumable."""
    a, b = TrainingStream(seed=6, lbs=lbs), TrainingStream(seed=6, lbs=lbs, workers=1)
    for _ in range(2):
        x, y = a.train_batch(8), b.train_batch(8)
        assert torch.equal(x.coarse, y.coarse) and torch.equal(x.prior.keypoints, y.prior.keypoints)
    a.set_state(torch.tensor([7]))
    b.set_state(torch.tensor([7]))
    assert torch.equal(a.train_batch(8).joints, b.train_batch(8).joints)


@pytest.mark.slow
def test_validation_set_is_fixed(lbs):
    a = TrainingStream(seed=3, lbs=lbs, val_size=40)
    b = TrainingStream(seed=9, rank=1, lbs=lbs, val_size=40)
    va, vb = a.validation_batches(16), b.validation_batches(40)
    assert [len(x.transl) for x in va] == [16, 16, 8] and len(vb) == 1
    assert torch.equal(torch.cat([x.joints for x in va]), vb[0].joints)
    assert torch.equal(torch.cat([x.prior.keypoints for x in va]), vb[0].prior.keypoints)


def test_world_fn_hook_gets_root_relative_joints(lbs):
    seen = {}

    def world_fn(joints_rel, generator):
        seen["joints_rel"] = joints_rel.clone()
        noise = torch.randn(joints_rel.shape, generator=generator, device=joints_rel.device)
        return joints_rel + 0.01 * noise, torch.full(joints_rel.shape[:2], 0.7)

    s = TrainingStream(seed=4, lbs=lbs, world_fn=world_fn)
    batch = s.train_batch(8)
    assert torch.allclose(seen["joints_rel"] + batch.transl[:, None], batch.joints, atol=1e-6)
    seen_2d = batch.prior.confidence > 0  # build_prior zeroes the 3D prior of unseen joints
    assert batch.prior.world.shape == (8, 17, 3) and seen_2d.any()
    assert (batch.prior.world - seen["joints_rel"])[seen_2d].abs().max() < 0.1
    assert torch.equal(batch.prior.world_weights, torch.minimum(torch.full((8, 17), 0.7), batch.prior.confidence))


def test_mocap_fraction_mixes_the_mocap_sampler(lbs, monkeypatch):
    import models.train.stream as ts

    calls, swaps = [], []

    def fake_mocap(n, rng, split="train", space=None, arm_swap=0.0):
        calls.append((n, split))
        swaps.append(arm_swap)
        pose = torch.zeros(n, lbs.num_bones - 1, 3)
        return PoseBatch(pose=pose, body_orient=torch.zeros(n, 3), category=np.zeros(n, np.int64),
                         dofs=np.zeros((n, 1), np.float32))

    monkeypatch.setattr(ts, "_mocap_sampler", lambda: fake_mocap)
    pose, _ = TrainingStream(seed=0, lbs=lbs, mocap_fraction=1.0).poses(12, np.random.default_rng(0))
    assert calls == [(12, "train")] and torch.equal(pose, torch.zeros_like(pose))
    calls.clear()
    half = TrainingStream(seed=0, lbs=lbs, mocap_fraction=0.5)
    counts = [half.poses(20, np.random.default_rng(i))[0].abs().sum((1, 2)).eq(0).sum().item() for i in range(6)]
    assert [c[0] for c in calls] == counts and 20 < sum(counts) < 100
    swaps.clear()
    mixing = TrainingStream(seed=0, lbs=lbs, mocap_fraction=1.0, arm_swap=0.3, val_size=8)
    mixing.train_batch(4), mixing.validation_batches(8)
    assert swaps == [0.3, 0.0]  # the training batches swap arms, the fixed validation set does not
    with pytest.raises(ValueError, match="arm_swap"):
        TrainingStream(seed=0, lbs=lbs, mocap_fraction=1.0, arm_swap=1.5)
    monkeypatch.setattr(ts, "_mocap_sampler", lambda: None)
    with pytest.raises(ValueError, match="mocap"):
        TrainingStream(seed=0, lbs=lbs, mocap_fraction=0.5)


@pytest.mark.slow
def test_train_cli_with_the_stream(tmp_path):
    from models.train import cli as train
    from models.hmdiff import load_hmdiff

    out = tmp_path / "run"
    args = ["--stream", "--out", str(out), "--preset", "tiny", "--iterations", "4", "--val-every", "2",
            "--val-size", "16", "--seed", "3", "--exact-2d", "0.2"]
    assert train.main(args) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4] and all(h["mpjpe_mm"] > 0 and h["loss_avg"] > 0 for h in history)
    model = load_hmdiff(out / "model.pt")
    assert model.extra["data"]["stream"] is True and abs(model.layout.data_scale - 0.289) < 0.01
    assert model.extra["data"]["exact_2d"] == 0.2
    assert train.main(args[:6] + ["6"] + args[7:] + ["--resume"]) == 0
    assert json.loads((out / "history.json").read_text())[-1]["step"] == 6


@pytest.mark.slow
def test_train_cli_stream_validates_on_a_disk_set(tmp_path):
    from models.train import cli as train
    from models.hmdiff import load_hmdiff
    from models.synth.dataset import DatasetSpec, write_dataset

    write_dataset(tmp_path / "set", DatasetSpec(num=40, seed=8), progress=False)
    out = tmp_path / "run"
    assert train.main(["--stream", "--data", str(tmp_path / "set"), "--out", str(out), "--preset", "tiny",
                       "--iterations", "2", "--val-every", "2", "--val-size", "16"]) == 0
    assert load_hmdiff(out / "model.pt").extra["data"]["val_data"] == str(tmp_path / "set")
    with pytest.raises(SystemExit):  # neither --data nor --stream
        train.main(["--out", str(tmp_path / "x"), "--preset", "tiny"])
