"""python -m realtime.batch: many videos on Ray, resumable, one line per failed video.

Short clips cut from ../shared/data/videos/taiji.mp4 (skipped when absent), a broken file and a
clip with nobody in it; one Ray worker (the suite runs on 2 cores)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.batch import BatchError, BatchOptions, find_videos, output_names, process_video
from tests.helpers import signal_after

REPO = Path(__file__).resolve().parents[1]
CLIP_FRAMES = 8


def batch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime.batch", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def videos(shared_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    cap = cv2.VideoCapture(str(shared_dir / "data" / "videos" / "taiji.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < 220:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, (480, 270), interpolation=cv2.INTER_AREA))
    cap.release()
    for name, start in (("clip_a", 0), ("clip_b", 200)):
        writer = cv2.VideoWriter(str(folder / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (480, 270))
        for image in frames[start:start + CLIP_FRAMES]:
            writer.write(image)
        writer.release()
    writer = cv2.VideoWriter(str(folder / "empty_room.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (480, 270))
    for k in range(4):
        writer.write(np.full((270, 480, 3), 60 + 10 * k, np.uint8))
    writer.release()
    (folder / "broken.mp4").write_bytes(b"\0" * 64)
    (folder / "notes.txt").write_text("not a video")
    return folder


def test_videos_are_found_in_name_order_and_named_uniquely(tmp_path):
    for name in ("b.mp4", "a.MOV", "a.mp4", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    videos = find_videos(tmp_path)
    assert [v.name for v in videos] == ["a.MOV", "a.mp4", "b.mp4"]
    assert sorted(output_names(videos).values()) == ["a_MOV", "a_mp4", "b"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no videos"):
        find_videos(tmp_path / "empty")
    with pytest.raises(BatchError, match="not a folder"):
        find_videos(tmp_path / "missing")


@pytest.mark.slow
def test_batch_completes_the_good_videos_reports_the_bad_and_resumes(videos, tmp_path):
    out = tmp_path / "out"
    first = batch(str(videos), str(out), "--workers", "1")
    assert first.returncode == 1, first.stderr[-3000:]
    assert "Traceback" not in first.stderr and "Traceback" not in first.stdout
    failures = [line for line in first.stderr.splitlines() if line.startswith("failed ")]
    assert sorted(failures) == [
        f"failed broken.mp4: cannot read video {videos / 'broken.mp4'}: not a video, corrupt, or an unsupported codec",
        "failed empty_room.mp4: no person in any frame of empty_room.mp4",
    ], first.stderr[-3000:]
    assert "2 of 4 videos done, 2 failed" in first.stdout
    for name in ("clip_a", "clip_b"):
        folder = out / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(["done.json", f"{name}.bvh", f"{name}.glb", f"{name}.npz"])
        done = json.loads((folder / "done.json").read_text())
        assert done["frames"] == CLIP_FRAMES and done["with_person"] == CLIP_FRAMES and done["fit"]["error_mm"] < 60
        assert np.load(folder / f"{name}.npz")["person"].all()
        bvh = (folder / f"{name}.bvh").read_text()
        assert f"Frames: {CLIP_FRAMES}" in bvh and "Frame Time: 0.04170" in bvh  # the clip's 23.98 fps
        assert f"done {name}.mp4: {CLIP_FRAMES} frames" in first.stdout
    assert not (out / "empty_room" / "done.json").exists() and not list(out.rglob("*.parts"))
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    # stopped and started again: the finished videos are skipped and untouched, the failed retried
    (out / "clip_b" / "done.json").unlink()  # as if clip_b had been cut short
    (out / "clip_b" / "clip_b.bvh.parts").mkdir()  # ... leaving a killed writer's folder
    again = batch(str(videos), str(out), "--workers", "1")
    assert again.returncode == 1 and "1 of 4 videos already done: skipped" in again.stdout
    assert f"done clip_b.mp4: {CLIP_FRAMES} frames" in again.stdout and "done clip_a.mp4" not in again.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p.parent.name == "clip_a")
    assert (out / "clip_b" / "done.json").exists() and not (out / "clip_b" / "clip_b.bvh.parts").exists()


def _read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    return Path("/sys")  # root ignores permission bits; sysfs refuses new files to root too


def test_bad_arguments_are_one_line(videos, tmp_path):
    read_only = _read_only_folder(tmp_path)
    result = batch(str(videos), str(read_only / "out" if os.geteuid() != 0 else read_only))
    assert result.returncode == 1 and result.stderr.startswith("error: cannot write in"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = batch(str(tmp_path / "missing"), str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.strip() == f"error: not a folder: {tmp_path / 'missing'}"
    result = batch(str(videos), str(tmp_path / "out"), "--workers", "0")
    assert result.returncode == 2 and "--workers must be positive" in result.stderr


@pytest.mark.slow
def test_process_video_in_process_with_overlay(videos, tmp_path):
    """The per-video function alone (no Ray): the overlay video too, and a stop after --max-frames."""
    from models.hmdiff import load_hmdiff
    from realtime.live import LiveOptions, LiveRecovery

    options = LiveOptions(warmup=False)
    model = load_hmdiff(device="cpu")
    summary = process_video(videos / "clip_a.mp4", tmp_path / "clip_a", BatchOptions(overlay=True, max_frames=5),
                            lambda: LiveRecovery(options, model=model))
    assert summary["frames"] == 5
    names = sorted(p.name for p in (tmp_path / "clip_a").iterdir())
    assert names == ["clip_a.bvh", "clip_a.glb", "clip_a.mp4", "clip_a.npz", "done.json"]
    cap = cv2.VideoCapture(str(tmp_path / "clip_a" / "clip_a.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 5


class NobodyLive:
    """LiveRecovery's surface for process_video, finding nobody in any frame."""

    faces, num_vertices = np.zeros((1, 3), np.int64), 14000

    def process_record(self, record):
        return record

    def close(self):
        pass


def test_a_failed_video_leaves_no_outputs_behind(tmp_path):
    """No person in any frame: the video fails in one line and its folder is left empty (removed),
    not holding a noperson.npz of NaNs that looks like a result."""
    video = tmp_path / "noperson.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (160, 120))
    for k in range(4):
        writer.write(np.full((120, 160, 3), 60 + 10 * k, np.uint8))
    writer.release()
    out = tmp_path / "out" / "noperson"
    with pytest.raises(Exception, match="^no person in any frame of noperson.mp4$"):
        process_video(video, out, BatchOptions(), NobodyLive)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []


def ray_processes() -> dict[int, str]:
    """Ray's processes on this machine (pid -> command) by ps: workers and agents (``ray::``) and
    the services run from Ray's package (GCS, raylet, dashboard, monitors)."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    found = {}
    for line in listing.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::") or "/site-packages/ray/" in args:
            found[int(pid)] = args[:100]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name, code, delay", [
    ("SIGTERM", 143, 1.5), ("SIGTERM", 143, 6.0), ("SIGINT", 130, 3.0), ("SIGHUP", 129, 6.0), ("SIGKILL", -9, 3.0),
    ("SIGKILL", -9, 6.0),
])
def test_a_stopped_batch_stops_cleanly_and_leaves_no_ray_process(videos, tmp_path, name, code, delay):
    """kill / Ctrl+C / a closed terminal: one line and 128 + N, no Ray stack dump; whatever the
    stop (a SIGKILL of the batch too), no Ray process it started outlives it."""
    before = ray_processes()
    process, stdout, stderr = signal_after(
        [sys.executable, "-m", "realtime.batch", str(videos), str(tmp_path / "out"), "--workers", "1"], REPO, name, delay)
    assert process.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr and "***" not in stderr and "SIGTERM received" not in stderr, stderr[-2000:]
    if name != "SIGKILL":
        assert stderr.strip().splitlines()[-1] == "interrupted: finished videos are kept (done.json); run again to resume"
    deadline = time.monotonic() + 20
    while (left := {p: c for p, c in ray_processes().items() if p not in before}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, left
