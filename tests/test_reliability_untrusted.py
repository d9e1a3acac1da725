"""Untrusted files are read without running code, broken weights are refused at load, setup.sh fails loudly.

Each malicious file would create a file (``PWNED``) when unpickled by ``pickle``; the tests assert
the load is refused with a clear message and that the file was never created.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.body import BodyModelError, load_body_model
from models.hmdiff import CheckpointError, HMDiff, HMDiffConfig, load_hmdiff
from models.hmdiff.denoiser import DenoiserConfig
from models.hmdiff.state import StateLayout
from models.safe_pickle import UnsafePickleError, load_npz, load_pickle

REPO = Path(__file__).resolve().parents[1]


class WritesAFile:
    """Unpickling this object with ``pickle`` creates ``path`` (open(path, "w"))."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_payload_really_runs_under_plain_pickle(tmp_path):
    """The control: plain pickle does create the file, so the refusals below mean something."""
    pickle.loads(pickle.dumps(WritesAFile(tmp_path / "PWNED"))).close()
    assert (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_restricted_unpickler_refuses_code_and_keeps_arrays(tmp_path, protocol):
    import scipy.sparse

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "x": WritesAFile(tmp_path / "PWNED")}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match="open"):
        load_pickle(evil)
    assert not (tmp_path / "PWNED").exists()
    good = {"a": np.arange(6.0).reshape(2, 3), "J": scipy.sparse.csc_matrix(np.eye(3)), "n": ("x", 1, 2.5)}
    loaded = load_pickle(__import__("io").BytesIO(pickle.dumps(good, protocol=protocol)))
    assert np.array_equal(loaded["a"], good["a"]) and np.array_equal(loaded["J"].toarray(), np.eye(3))
    assert loaded["n"] == ("x", 1, 2.5)


def test_smpl_pickle_that_would_write_a_file_is_refused(tmp_path):
    evil = tmp_path / "SMPL_NEUTRAL.pkl"
    evil.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3)), "f": WritesAFile(tmp_path / "PWNED")}))
    with pytest.raises(BodyModelError, match=r"not a valid SMPL model file.*open.*refused without running it"):
        load_body_model("smpl", model_path=evil)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("suffix", [".npz", ".pkl"])
def test_smplx_file_that_would_write_a_file_is_refused(tmp_path, suffix):
    evil = tmp_path / f"SMPLX_NEUTRAL{suffix}"
    payload = WritesAFile(tmp_path / "PWNED")
    if suffix == ".npz":  # an object array: np.load(allow_pickle=True), as smplx does, would run it
        np.savez(evil, v_template=np.zeros((10, 3)), joint2num=np.array([payload], dtype=object))
    else:
        evil.write_bytes(pickle.dumps({"v_template": np.zeros((10, 3)), "x": payload}))
    with pytest.raises(BodyModelError, match=r"not a valid SMPLX model file.*refused without running it"):
        load_body_model("smplx", model_path=evil)
    assert not (tmp_path / "PWNED").exists()


def test_chumpy_model_files_keep_their_hint(tmp_path, monkeypatch):
    import types

    chumpy = types.ModuleType("chumpy.ch")  # stands in for chumpy, which SMPLify-era pickles name
    chumpy.Ch = type("Ch", (), {"__module__": "chumpy.ch"})
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", chumpy)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": chumpy.Ch()}))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    with pytest.raises(BodyModelError, match="chumpy objects: convert it"):
        load_body_model("smpl", model_path=path)


def test_npz_object_arrays_go_through_the_restricted_unpickler(tmp_path):
    np.savez(tmp_path / "names.npz", imgname=np.array(["S1/a.jpg", {"k": 1}], dtype=object), S=np.ones((2, 17, 3)))
    data = load_npz(tmp_path / "names.npz")
    assert data["imgname"][0] == "S1/a.jpg" and data["S"].shape == (2, 17, 3)


def test_cameras_pkl_that_would_write_a_file_is_refused(tmp_path):
    from tools.convert_realset import main as realsets_main

    src = tmp_path / "h36m"
    src.mkdir()
    np.savez(src / "test_h36m_body3d.npz", imgname=np.array(["S1/x.54138969_000001.jpg"]), S=np.zeros((1, 17, 4)))
    (src / "cameras.pkl").write_bytes(pickle.dumps({("S1", "54138969"): WritesAFile(tmp_path / "PWNED")}))
    assert realsets_main(["h36m", str(src), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "PWNED").exists()


def test_shared_h36m_cameras_still_convert(shared_dir, tmp_path):
    from models.evaluate.realsets import convert_h36m

    real = convert_h36m(shared_dir / "data" / "real" / "h36m", tmp_path / "h36m")
    assert len(real.imgname) == 4 and real.focal.shape == (4, 2) and np.all(real.focal > 500)


def test_train_resume_refuses_a_last_pt_that_would_write_a_file(tmp_path, capsys):
    from models.train import cli as train
    from models.synth.dataset import DatasetSpec, write_dataset

    write_dataset(tmp_path / "data", DatasetSpec(num=16, seed=3), progress=False)
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"net": WritesAFile(tmp_path / "PWNED")}, out / "last.pt")
    code = train.main(["--data", str(tmp_path / "data"), "--out", str(out), "--preset", "tiny", "--iterations", "2",
                       "--val-size", "4", "--resume"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: cannot resume from") and len(err.splitlines()) == 1
    assert not (tmp_path / "PWNED").exists()


# -- weights validated at load ---------------------------------------------------------------


def tiny_checkpoint(path: Path, **change) -> Path:
    layout = StateLayout(num_coarse=256, num_joints=17, data_scale=0.35, order=list(range(256)))
    model = HMDiff(HMDiffConfig(denoiser=DenoiserConfig(num_points=273, dim=32, depth=1, heads=2), layout=layout))
    model.save(path)
    payload = torch.load(path, weights_only=True)
    for key, value in change.items():
        if key == "state_dict":
            payload["state_dict"] = value(payload["state_dict"])
        else:
            payload["config"]["layout" if key == "order" else key] = (
                {**payload["config"]["layout"], "order": value} if key == "order" else value)
    torch.save(payload, path)
    return path


def test_weights_with_nan_or_inf_are_refused_at_load(tmp_path):
    nan = tiny_checkpoint(tmp_path / "nan.pt", state_dict=lambda sd: {k: torch.full_like(v, float("nan"))
                                                                      if v.is_floating_point() else v for k, v in sd.items()})
    with pytest.raises(CheckpointError, match=r"^\S+nan.pt is not a usable HMDiff checkpoint: \d+ of \d+ tensors hold NaN"):
        load_hmdiff(nan)

    def one_inf(sd):
        key = next(k for k, v in sd.items() if v.is_floating_point())
        sd[key] = sd[key].clone()
        sd[key].view(-1)[0] = float("inf")
        return sd

    with pytest.raises(CheckpointError, match=r"1 of \d+ tensors hold NaN or infinite values"):
        load_hmdiff(tiny_checkpoint(tmp_path / "inf.pt", state_dict=one_inf))
    assert load_hmdiff(tiny_checkpoint(tmp_path / "good.pt")).layout.num_coarse == 256


@pytest.mark.parametrize("order, text", [
    (list(range(255)) + [0], "1 repeated"),
    (list(range(200)), "200 entries"),
    (list(range(1, 257)), "1 out of range"),
])
def test_a_corrupt_layout_order_is_refused_at_load(tmp_path, order, text):
    with pytest.raises(CheckpointError, match=f"layout.order is not a permutation of the 256 coarse vertices.*{text}"):
        load_hmdiff(tiny_checkpoint(tmp_path / "order.pt", order=order))


def test_a_shape_mismatch_gives_every_detail_on_one_line(tmp_path):
    path = tiny_checkpoint(tmp_path / "shape.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["denoiser"]["dim"] = 64
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_hmdiff(path)
    message = str(caught.value)
    assert "\n" not in message and "does not match" in message
    assert "size mismatch for" in message and "torch.Size([64" in message and "torch.Size([32" in message


# -- setup.sh ----------------------------------------------------------------------------


def _setup_env(tmp_path: Path, fake_anny_fails: bool) -> dict:
    fake = tmp_path / "fake"
    (fake / "anny").mkdir(parents=True)
    (fake / "anny" / "__init__.py").write_text('raise ImportError("fake anny: the cache build fails")\n'
                                               if fake_anny_fails else "")
    return {**os.environ, "ANNY_CACHE_DIR": str(tmp_path / "anny cache"), "PYTHONPATH": str(fake)}


@pytest.fixture
def setup_sh_ready():
    stamp = REPO / ".venv" / ".installed"
    if not stamp.is_file() or (REPO / "pyproject.toml").stat().st_mtime > stamp.stat().st_mtime:
        pytest.skip("setup.sh would (re)install packages here")
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg")


def test_setup_sh_fails_when_the_cache_build_fails_and_writes_no_marker(tmp_path, setup_sh_ready):
    result = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=_setup_env(tmp_path, True),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "fake anny: the cache build fails" in result.stdout + result.stderr
    assert "building anny's model cache" in result.stderr and "failed" in result.stderr
    assert not (tmp_path / "anny cache" / ".built").exists()


def test_setup_sh_marker_lives_in_anny_cache_dir(tmp_path, setup_sh_ready):
    env = _setup_env(tmp_path, True)
    (tmp_path / "anny cache").mkdir()
    (tmp_path / "anny cache" / ".built").touch()  # built there: no build is tried, so nothing fails
    result = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "building anny's model cache" not in result.stdout + result.stderr
