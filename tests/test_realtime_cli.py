"""run_live.py's command line: every problem is one line on stderr and a non-zero exit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run_live(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "run_live.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=environ)


def assert_one_line(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr


@pytest.mark.parametrize(
    "args, text",
    [
        (["--steps", "0"], "--steps: must be positive"),
        (["--hypotheses", "two"], "expected a number"),
        (["--video", "a.mp4", "--images", "b"], "not allowed with argument"),
        (["--record", "out.avi"], "--record must end in .mp4"),
        (["--export", "nowhere/run.npz"], "folder does not exist"),
        (["--benchmark-json", "b.json"], "--benchmark-json needs --benchmark"),
        (["--benchmark", "--benchmark-rounds", "0"], "--benchmark-rounds must be at least 1"),
        (["--fov", "500"], "--fov must be between"),
        (["--backend", "tpu"], "invalid choice"),
        (["--device", "quantum"], "--device must be auto, cpu or cuda"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
@pytest.mark.slow
def test_bad_arguments(args, text):
    assert_one_line(run_live(*args), 2, text)


@pytest.mark.slow
def test_bad_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 64)
    assert_one_line(run_live("--video", str(tmp_path / "missing.mp4"), "--no-display"), 1, "video not found")
    assert_one_line(run_live("--video", str(tmp_path / "broken.mp4"), "--no-display"), 1, "cannot read video")
    assert_one_line(run_live("--images", str(tmp_path / "empty"), "--no-display"), 1, "no images in")
    assert_one_line(run_live("--camera", "97", "--no-display"), 1, "camera 97 could not be opened")


@pytest.mark.slow
def test_no_display_is_one_line(tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    assert_one_line(run_live("--images", str(tmp_path), env=env), 1, "run with --no-display")


@pytest.mark.slow
def test_missing_weights_is_one_line(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    result = run_live("--images", str(tmp_path), "--no-display", "--weights", str(tmp_path / "none.pt"))
    assert_one_line(result, 1, "HMDiff weights not found")


@pytest.mark.slow
def test_end_to_end_on_real_video(shared_dir, tmp_path, untrained_weights):
    video = shared_dir / "data" / "videos" / "taiji.mp4"
    result = run_live("--video", str(video), "--every-frame", "--no-display", "--max-frames", "4", "--steps", "3", "--warm-steps", "1", "--warm-start",
                      "--weights", str(untrained_weights), "--record", str(tmp_path / "run.mp4"),
                      "--export", str(tmp_path / "run.npz"), "--export-glb", str(tmp_path / "run.glb"),
                      "--save-meshes", str(tmp_path / "meshes"), timeout=300)  # includes the skeleton fit
    assert result.returncode == 0, result.stderr
    assert "4 frames in" in result.stdout and "Traceback" not in result.stderr
    data = np.load(tmp_path / "run.npz")
    assert data["person"].all() and data["vertices"].shape == (4, 13718, 3)
    assert data["warm"].tolist() == [False, True, True, True]
    assert data["steps_used"].tolist() == [3, 1, 1, 1]  # cold start, then warm frames
    cap = cv2.VideoCapture(str(tmp_path / "run.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 4 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
    assert len(list((tmp_path / "meshes").glob("*.ply"))) == 4
    import trimesh

    assert len(trimesh.load(tmp_path / "run.glb").geometry) == 1  # anny's skinned body, animated by its skeleton


@pytest.mark.slow
def test_benchmark_on_real_video(shared_dir, tmp_path, untrained_weights):
    import json

    video = shared_dir / "data" / "videos" / "taiji.mp4"
    result = run_live("--benchmark", "--video", str(video), "--every-frame", "--max-frames", "3", "--steps", "1",
                      "--hypotheses", "2", "--smooth",
                      "--weights", str(untrained_weights), "--benchmark-json", str(tmp_path / "bench.json"))
    assert result.returncode == 0, result.stderr
    assert "throughput FPS" in result.stdout and "FPS ratio" in result.stdout
    bench = json.loads((tmp_path / "bench.json").read_text())  # two rounds by default, interleaved
    assert bench["full"]["rounds"] == bench["detector_only"]["rounds"] == 2
    assert bench["full"]["frames"] == bench["detector_only"]["frames"] == 6
    assert bench["full"]["mesh_frames"] == 6 and bench["fps_ratio"] > 0 and bench["latency_p95_ratio"] > 0
    assert bench["full"]["startup"]["first"]["frames"] == 6  # each round's first frames count as first
