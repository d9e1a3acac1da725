"""Training and evaluation CLIs end to end on a tiny synthetic dataset (seconds, not a real model)."""
from __future__ import annotations

import json

import pytest
import torch

from models.evaluate import cli as evaluate
from models.evaluate import judge, lift
from models.train import cli as train
from models.train import trainer
from models.train.losses import training_loss
from models.train.presets import PRESETS
from models.hmdiff import load_hmdiff
from models.synth.dataset import DatasetSpec, write_dataset


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_dataset(root / "train", DatasetSpec(num=96, seed=3), progress=False)
    write_dataset(root / "test", DatasetSpec(num=24, seed=4, split="test"), progress=False)
    return root


def test_train_writes_a_loadable_checkpoint_and_resumes(tiny_sets, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(tiny_sets / "train"), "--out", str(out), "--preset", "tiny", "--iterations", "6",
            "--val-every", "3", "--val-size", "32", "--seed", "1"]
    assert train.main(args) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history] == [3, 6]
    assert all(h["mpjpe_mm"] > 0 for h in history)
    model = load_hmdiff(out / "model.pt")
    assert model.extra["history"][-1]["step"] == 6
    # Resume continues from the saved step to the new end.
    assert train.main(args[:7] + ["8"] + args[8:] + ["--resume"]) == 0
    assert json.loads((out / "history.json").read_text())[-1]["step"] == 8


def test_train_fine_tunes_from_a_checkpoint(tiny_sets, tmp_path, capsys):
    base = ["--data", str(tiny_sets / "train"), "--preset", "tiny", "--val-every", "2", "--val-size", "32"]
    assert train.main(base + ["--out", str(tmp_path / "a"), "--iterations", "2"]) == 0
    first = load_hmdiff(tmp_path / "a" / "model.pt")
    assert train.main(base + ["--out", str(tmp_path / "b"), "--iterations", "2", "--lr", "1e-4",
                              "--init", str(tmp_path / "a" / "model.pt")]) == 0
    tuned = load_hmdiff(tmp_path / "b" / "model.pt")
    assert tuned.config.to_dict() == first.config.to_dict()
    assert tuned.extra["preset"]["lr"] == 1e-4
    changed = [not torch.equal(a, b) for a, b in zip(first.net.state_dict().values(), tuned.net.state_dict().values())]
    assert any(changed)
    # A broken starting checkpoint is refused in one line.
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    capsys.readouterr()
    assert train.main(base + ["--out", str(tmp_path / "c"), "--init", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_depth_grows_a_checkpoint_without_changing_its_outputs(tiny_sets, tmp_path, capsys):
    """``--init W --depth D``: the new blocks start as identity, then train; shrinking is refused."""
    base = ["--data", str(tiny_sets / "train"), "--preset", "tiny", "--val-every", "2", "--val-size", "32"]
    assert train.main(base + ["--out", str(tmp_path / "a"), "--iterations", "2"]) == 0
    small = load_hmdiff(tmp_path / "a" / "model.pt").eval()
    grown = trainer.with_depth(small, 3).eval()
    assert grown.config.denoiser.depth == 3 and len(grown.net.blocks) == 3
    h, k = torch.randn(2, small.net.config.num_points, 3), torch.tensor([200, 700])
    cond = torch.randn(2, 5, small.net.config.dim)
    with torch.no_grad():
        assert torch.allclose(grown.net(h, k, cond), small.net(h, k, cond), atol=1e-6)
    assert train.main(base + ["--out", str(tmp_path / "b"), "--iterations", "2", "--depth", "3",
                              "--init", str(tmp_path / "a" / "model.pt")]) == 0
    tuned = load_hmdiff(tmp_path / "b" / "model.pt")
    assert tuned.config.denoiser.depth == 3
    assert any(p.abs().sum() > 0 for p in tuned.net.blocks[2].mlp[-1].parameters())  # the new block trained
    capsys.readouterr()
    assert train.main(base + ["--out", str(tmp_path / "c"), "--iterations", "2", "--depth", "1",
                              "--init", str(tmp_path / "b" / "model.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: cannot shrink the network from 3 to 1 blocks"


def test_min_step_trains_only_on_the_steps_asked(tiny_sets, monkeypatch):
    """``--min-step K``: every training batch is noised at steps K..1000, never below."""
    from models.train.data import SyntheticBatches

    data = SyntheticBatches(str(tiny_sets / "train"), val_size=16, seed=0)
    model = trainer.build_model(data, PRESETS["tiny"])
    data.layout = model.layout
    drawn = []
    q_sample = model.schedule.q_sample
    monkeypatch.setattr(model.schedule, "q_sample", lambda h0, k, noise: (drawn.append(k), q_sample(h0, k, noise))[1])
    gen = torch.Generator().manual_seed(0)
    for min_step in (1, 900):
        drawn.clear()
        for _ in range(20):
            training_loss(model, data.train_batch(16), gen, min_step=min_step)
        k = torch.cat(drawn)
        assert int(k.min()) >= min_step and int(k.max()) <= 1000
        assert (int(k.min()) < 900) == (min_step == 1)
    with pytest.raises(SystemExit):
        train.main(["--data", str(tiny_sets / "train"), "--out", "unused", "--min-step", "0"])


def test_train_rejects_a_missing_dataset(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--preset", "tiny"]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_prints_and_writes_the_ablation(tiny_sets, tmp_path, capsys):
    out = tmp_path / "run"
    train.main(["--data", str(tiny_sets / "train"), "--out", str(out), "--preset", "tiny", "--iterations", "2",
                "--val-every", "2", "--val-size", "32"])
    result = tmp_path / "eval.json"
    assert evaluate.main(["--weights", str(out / "model.pt"), "--test", str(tiny_sets / "test"), "--ablation",
                          "--json", str(result)]) == 0
    data = json.loads(result.read_text())["synthetic"]
    names = list(data)
    assert names[0].startswith("regression") and any("no DAT" in n for n in names)
    assert any("no activation" in n for n in names) and sum("steps" in n for n in names) >= 5
    assert any("hypotheses" in n for n in names) and any("oracle" in n for n in names)
    assert all(data[n]["all"]["n"] == 24 for n in names)
    row = data[names[2]]
    assert row["easy"]["n"] + row["occluded"]["n"] == row["all"]["n"] == 24
    assert all(row["all"][k] > 0 for k in ("pa_mpjpe_h36m", "mpjpe_h36m", "pa_mpjpe_lsp", "mpve"))
    assert "| variant |" in capsys.readouterr().out


def test_evaluate_runs_what_run_live_runs_on_a_photo():
    from realtime.options import DEFAULTS

    assert (judge.PHOTO_STEPS, judge.PHOTO_HYPOTHESES, judge.PHOTO_MIRROR) == (
        DEFAULTS.steps, DEFAULTS.photo_hypotheses, DEFAULTS.photo_mirror)
    assert DEFAULTS.replace(static_image_mode=True).frame_hypotheses == DEFAULTS.photo_hypotheses
    assert DEFAULTS.frame_hypotheses == DEFAULTS.hypotheses == 2  # a stream: one sample and its mirror image


def test_evaluate_reports_a_broken_checkpoint_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert evaluate.main(["--weights", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_real_set_converter_and_evaluation(shared_dir, tmp_path):
    from models.evaluate.realsets import convert_h36m

    real = convert_h36m(shared_dir / "data/real/h36m", tmp_path / "h36m")
    assert len(real.imgname) == 4 and real.joints.shape == (4, 17, 3)
    # The converter's cameras reproject the 3D ground truth onto mmpose's 2D joints.
    import numpy as np

    src = np.load(shared_dir / "data/real/h36m/test_h36m_body3d.npz", allow_pickle=True)
    uv = real.joints[..., :2] / real.joints[..., 2:] * real.focal[:, None] + real.principal[:, None]
    assert float(np.abs(uv - src["part"][..., :2]).mean()) < 3.0


@pytest.mark.slow
def test_real_frames_through_mediapipe_with_and_without_the_3d_prior(shared_dir, tmp_path):
    """The 4 real Human3.6M frames, shipped weights: the three MediaPipe-fed variants run, and
    DAT with MediaPipe's world landmarks as 3D prior beats no DAT on them (BENCHMARKS.md)."""
    from models.evaluate.realsets import convert_h36m

    convert_h36m(shared_dir / "data/real/h36m", tmp_path / "h36m")
    result = tmp_path / "eval.json"
    assert evaluate.main(["--real", str(tmp_path / "h36m"), "--ablation", "--json", str(result)]) == 0
    rows = json.loads(result.read_text())["real"][str(tmp_path / "h36m")]
    no_dat, no_world, pull, full, five, mean, unmirrored = rows.values()
    names = list(rows)
    # the shipped weights' DAT has no 3D pull (rho_world 0), so the ablation adds it back
    assert "no DAT" in names[0] and "no 3D prior" in names[1] and "3D prior's pull" in names[2]
    assert "5 steps" in names[4] and "1 hypothesis" in names[5] and 0 < no_world["pa_mpjpe_limb12"]
    assert "half mirrored" in names[3] and "no mirroring" in names[6] and 0 < unmirrored["pa_mpjpe_limb12"]
    assert 0 < mean["pa_mpjpe_limb12"] and len(mean["per_frame_limb12"]) == 4
    assert full["no_person"] == 0 and len(full["per_frame_limb12"]) == 4
    assert 0 < full["pa_mpjpe_limb12"] < no_dat["pa_mpjpe_limb12"]
    assert 60 < full["mediapipe_world_pa_mpjpe_limb12"] < 120  # about 91 mm (../shared/README.md)


@pytest.mark.slow
def test_lift_section_reports_per_subject_and_per_action(shared_dir, tmp_path):
    """A 12-pose slice of h36m_lift (two subjects, two actions), shipped weights: the overall figure
    is the pose-weighted mean of the per-action and per-subject ones and the mean of the per-joint
    ones; each joint's error is at least its depth part and at most the depth and image-plane parts
    together."""
    import numpy as np

    data = np.load(shared_dir / "data/real/h36m_lift/gt.npz")
    pick = np.concatenate([np.flatnonzero((data["subject"] == s) & np.char.startswith(data["action"], a))[:3]
                           for s in ("S1", "S5") for a in ("Walking", "Sitting ")])
    (tmp_path / "lift").mkdir()
    np.savez(tmp_path / "lift/gt.npz", **{k: data[k][pick] for k in data.files})
    result = tmp_path / "eval.json"
    assert evaluate.main(["--lift", str(tmp_path / "lift"), "--hypotheses", "2", "--json", str(result)]) == 0
    (row,) = json.loads(result.read_text())["lift"].values()
    assert row["n"] == 12 and set(row["per_subject_limb12"]) == {"S1", "S5"}
    assert set(row["per_action_limb12"]) == {"Walking", "Sitting"}
    for groups in (row["per_subject_limb12"], row["per_action_limb12"]):
        assert abs(np.mean(list(groups.values())) - row["pa_mpjpe_limb12"]) < 0.1
    assert 0 < row["pa_mpjpe_limb12"] < 200
    per_joint = row["per_joint_limb12"]
    assert len(per_joint) == 12 and {"l_wrist", "r_knee"} <= set(per_joint)
    assert abs(np.mean(list(per_joint.values())) - row["pa_mpjpe_limb12"]) < 0.1
    offsets = row["per_joint_offset_limb12_mm"]  # a mean error vector is no longer than the mean error
    assert set(offsets) == set(per_joint) and all(len(o) == 3 for o in offsets.values())
    assert all(0 < np.linalg.norm(offsets[j]) <= per_joint[j] + 0.1 for j in per_joint)
    depth, plane = row["limb12_depth_mm"], row["limb12_image_plane_mm"]
    assert 0 < depth <= row["pa_mpjpe_limb12"] + 0.1 and 0 < plane <= row["pa_mpjpe_limb12"] + 0.1
    assert row["pa_mpjpe_limb12"] <= depth + plane + 0.1
    assert 0 < row["limb_reprojection_px"] < 30  # exact 2D, DAT: the mesh lies on the keypoints
    assert set(row["limb_length_ratio"]) == {"thigh", "shin", "upper_arm", "forearm"}
    assert all(0.6 < r < 1.4 for r in row["limb_length_ratio"].values())
    assert set(row["thigh_length_ratio_per_action"]) == {"Walking", "Sitting"}


@pytest.mark.slow
def test_synthetic_lifting_set_is_lifted_like_a_real_one(tiny_sets, tmp_path):
    """``realsets synthetic-lift`` writes our own bodies in h36m_lift's format: the 2D are the exact
    projections of the Human3.6M joints, actions are the pose categories, and the shipped weights
    lift them through ``--lift`` (about 60 mm on 512 such poses, BENCHMARKS.md); a wrong joint order
    or projection would not come near."""
    import numpy as np

    from tools.convert_realset import main as realsets_main
    from models.synth.dataset import load_dataset, load_index

    assert realsets_main(["synthetic-lift", str(tiny_sets / "test"), str(tmp_path / "lift")]) == 0
    data, gt = load_dataset(tiny_sets / "test"), np.load(tmp_path / "lift/gt.npz")
    assert np.allclose(gt["S"], data["joints_h36m17"]) and gt["kp2d"].shape == (24, 17, 2)
    uv = gt["S"][..., :2] / gt["S"][..., 2:] * gt["f"][:, None] + gt["c"][:, None]
    assert np.allclose(gt["kp2d"], uv) and set(gt["subject"]) == {"anny"}
    assert set(gt["action"]) <= set(load_index(tiny_sets / "test")["categories"])
    result = tmp_path / "eval.json"
    assert evaluate.main(["--lift", str(tmp_path / "lift"), "--hypotheses", "2", "--json", str(result)]) == 0
    (row,) = json.loads(result.read_text())["lift"].values()
    assert row["n"] == 24 and 20 < row["pa_mpjpe_limb12"] < 100
    assert realsets_main(["synthetic-lift", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2


def test_trunk_tilt_bins_from_the_cameras_up_axis():
    import numpy as np

    joints = np.zeros((4, 17, 3))
    for i, deg in enumerate((5, 30, 50, 90)):  # thorax 0.5 m from the pelvis, tilted towards the camera
        joints[i, 8] = 0.5 * np.array([0.0, -np.cos(np.radians(deg)), -np.sin(np.radians(deg))])
    assert lift.trunk_tilt_bins(joints).tolist() == ["0-20°", "20-40°", "40-60°", ">60°"]
