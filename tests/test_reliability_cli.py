"""run_live.py as a user and an operator stop it: signals to a real process, inputs never
overwritten, bad values refused before the model loads, a run that finds nobody says so."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import decoded_frames, signal_after, writable

REPO = Path(__file__).resolve().parents[1]
NOISE = ("W0000", "I0000", "INFO:", "WARNING: All log messages", "Loading cached", "denoiser backend")


def run_live(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_live.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def problems(stderr: str) -> list[str]:
    """stderr without the libraries' start-up chatter."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(NOISE)]


def start_video_run(video: Path, out: Path, weights: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "run_live.py", "--video", str(video), "--every-frame", "--no-display", "--backend", "eager",
         "--weights", str(weights), "--steps", "2", "--warm-steps", "1",
         "--record", str(out / "run.mp4"), "--export", str(out / "run.npz"), "--export-glb", str(out / "run.glb")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_flushed_frames(process: subprocess.Popen, out: Path, timeout: float = 240) -> None:
    """Until the run has flushed two parts of its arrays (≥ 31 frames: well inside the video)."""
    deadline = time.monotonic() + timeout
    while not (out / "run.npz.parts" / "part_000001.npz").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no frames flowed"
        time.sleep(0.05)


def assert_complete_outputs(out: Path, stdout: str) -> None:
    """The three outputs, nothing else (no .parts, no temporary file), telling the same story."""
    assert sorted(p.name for p in out.iterdir()) == ["run.glb", "run.mp4", "run.npz"]
    frames = int(re.search(r"^(\d+) frames in", stdout, re.M).group(1))
    person = int(re.search(r"a person in (\d+)", stdout).group(1))
    data = np.load(out / "run.npz")
    assert len(data["frame_index"]) == frames and data["person"].sum() == person
    assert decoded_frames(out / "run.mp4") == cv2.VideoCapture(str(out / "run.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == frames
    import trimesh

    scene = trimesh.load(out / "run.glb")  # one mesh a frame, or one skinned body: either way complete
    assert (len(scene.geometry) > 0) == (person > 0)


@pytest.mark.slow
@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_finalises_every_output(shared_dir, tmp_path, untrained_weights, name, code):
    """kill / timeout / docker stop (SIGTERM), a closed terminal (SIGHUP), Ctrl+C: the same clean end.
    Ctrl+C is pressed twice, 0.25 s apart: the second one lands in the drain or the finalisation."""
    process = start_video_run(shared_dir / "data" / "videos" / "taiji.mp4", tmp_path, untrained_weights)
    try:
        wait_for_flushed_frames(process, tmp_path)
        process.send_signal(getattr(signal, name))
        if name == "SIGINT":
            time.sleep(0.25)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "stopped: interrupted" in stdout
    assert_complete_outputs(tmp_path, stdout)


# At 0.3 s the signal lands while torch (a pybind11 module) is being imported: before the libraries
# were imported with the signals held (realtime.app.import_libraries), the KeyboardInterrupt raised
# there aborted the process (rc -6, "terminate called after throwing ... error_already_set") in
# about one run of 5-10.

@pytest.mark.slow
@pytest.mark.parametrize("name, code, delay", [
    ("SIGINT", 130, 0.3), ("SIGINT", 130, 1.0), ("SIGINT", 130, 2.5),
    ("SIGTERM", 143, 0.3), ("SIGTERM", 143, 1.0), ("SIGTERM", 143, 2.5), ("SIGHUP", 129, 1.0),
])
def test_start_up_is_interruptible(tmp_path, name, code, delay):
    """A stop signal during the argument checks, the imports, the model load or the warm-up: the
    one-line stop and the usual exit code, no traceback, no output or .parts folder left."""
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((120, 160, 3), 90, np.uint8))
    process, stdout, stderr = signal_after(
        [sys.executable, "run_live.py", "--images", str(images), "--no-display", "--backend", "eager",
         "--export", str(tmp_path / "run.npz")], REPO, name, delay)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and problems(stderr)[-1:] == ["interrupted"], stderr
    assert all(line.startswith(("starting: please wait", "warming up", "finishing the outputs")) for line in problems(stderr)[:-1]), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]


@pytest.mark.slow
def test_recording_over_the_input_is_refused_and_the_input_kept(shared_dir, tmp_path):
    clip = tmp_path / "c.mp4"
    clip.write_bytes((shared_dir / "data" / "videos" / "taiji.mp4").read_bytes())
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    result = run_live("--video", str(clip), "--record", str(clip), "--no-display", "--max-frames", "5")
    assert result.returncode == 2 and problems(result.stderr) == [
        f"run_live.py: error: --record {clip} is the input (--video): refusing to overwrite it (see --help)"]
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == before and sorted(os.listdir(tmp_path)) == ["c.mp4"]


@pytest.mark.parametrize("args, text", [
    (["--focal", "nan"], "--focal: must be a finite number, got nan"),
    (["--focal", "inf"], "--focal: must be a finite number, got inf"),
    (["--focal", "1e-30"], "--focal must be between 1 and 1e+06 pixels, got 1e-30"),
    (["--fps", "inf"], "--fps: must be a finite number, got inf"),
    (["--fps", "nan", "--record", "{tmp}/r.mp4"], "--fps: must be a finite number, got nan"),
    (["--jump-threshold", "nan"], "--jump-threshold: must be a finite number"),
    (["--hypotheses", "1000"], "--hypotheses must be between 1 and 64"),
    (["--process-width", "5"], "--process-width must be between 32 and 8192"),
    (["--steps", "100000"], "--steps must be at most 1000 (the diffusion schedule's steps), got 100000"),
    (["--warm-steps", "5000"], "--warm-steps must be at most 600 (a warm start re-noises to step 600), got 5000"),
    (["--export", "/sys/hmdiff-run.npz"], "--export: cannot write in /sys"),
    (["--export", "{tmp}/run.npz", "--save-meshes", "{tmp}/run.npz"], "is also --save-meshes"),
])
@pytest.mark.slow
def test_bad_values_are_refused_before_the_model_loads(tmp_path, args, text):
    """One line, exit 2, in well under a model load's time; the missing --weights shows that the
    model was never reached (it would be the error otherwise)."""
    if "/sys/" in " ".join(args) and writable(Path("/sys")):
        pytest.skip("/sys is writable here")
    clip = tmp_path / "clip"
    clip.mkdir()
    cv2.imwrite(str(clip / "a.png"), np.zeros((32, 32, 3), np.uint8))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    started = time.monotonic()
    result = run_live("--images", str(clip), "--no-display", "--weights", str(tmp_path / "missing.pt"), *args)
    elapsed = time.monotonic() - started
    assert result.returncode == 2 and len(problems(result.stderr)) == 1 and text in result.stderr, result.stderr
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert sorted(os.listdir(tmp_path)) == ["clip"]  # nothing created, no .parts folder


@pytest.mark.slow
def test_a_run_that_finds_nobody_says_so(tmp_path, untrained_weights):
    images = tmp_path / "empty_room"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), np.full((120, 160, 3), 90, np.uint8))
    result = run_live("--images", str(images), "--no-display", "--backend", "eager", "--weights", str(untrained_weights),
                      "--export", str(tmp_path / "run.npz"))
    assert result.returncode == 0, result.stderr
    assert "3 frames in" in result.stdout and "a person in 0, a mesh in 0" in result.stdout
    assert "no person was found in any of the 3 frames" in problems(result.stderr)
    assert "Traceback" not in result.stderr
    assert np.load(tmp_path / "run.npz")["person"].tolist() == [False] * 3


@pytest.mark.slow
def test_a_skeleton_export_that_could_not_be_written_fails_the_run(tmp_path, untrained_weights):
    """--export-bvh / --export-glb asked for and not written (nobody to fit the rig to): exit 1,
    one line each saying why, the npz (written) kept."""
    images = tmp_path / "empty_room"
    images.mkdir()
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), np.full((120, 160, 3), 90, np.uint8))
    result = run_live("--images", str(images), "--no-display", "--backend", "eager", "--weights", str(untrained_weights),
                      "--export", str(tmp_path / "run.npz"), "--export-bvh", str(tmp_path / "run.bvh"),
                      "--export-glb", str(tmp_path / "run.glb"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = problems(result.stderr)
    assert "no person in any frame: run.bvh not written" in lines and "no person in any frame: run.glb not written" in lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_room", "run.npz"]


def test_early_imports_keep_anny_s_cache_in_the_repo():
    """run_live imports anny before loading a body (import_libraries); anny reads ANNY_CACHE_DIR
    once, at that import: it must already point into the repo (or a user's choice), else a second
    800 MB cache is built under ~/.cache."""
    code = ("from realtime.app import import_libraries; import_libraries(display=False); "
            "import anny.paths; print(anny.paths.get_anny_cache_path())")
    env = {k: v for k, v in os.environ.items() if k != "ANNY_CACHE_DIR"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == REPO / ".cache" / "anny"
