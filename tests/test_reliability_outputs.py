"""Outputs that survive: .parts folders a SIGKILL leaves readable, finalisation a second Ctrl+C
cannot break, targets replaced only by complete files, paths that would destroy refused up front.

Fast: no model, no detector; records are made by hand, the killed writer is a tiny subprocess.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import trimesh

from realtime.mp4mux import avi_chunks, avi_to_mp4
from realtime.outputs import FLUSH_ROWS, Outputs, finish, parts_folder
from realtime.record import FrameRecord, MeshResult
from realtime.sources import Frame
from realtime.targets import OutputError, check_targets
from tests.helpers import decoded_frames, writable

REPO = Path(__file__).resolve().parents[1]
V = 40
FACES = np.array([[i, i + 1, i + 2] for i in range(V - 2)], np.int64)


def make_record(i: int, person: bool = True, size: tuple[int, int] = (64, 48), noise: bool = False) -> FrameRecord:
    width, height = size
    image = np.full((height, width, 3), 30, np.uint8)
    if noise:  # hard to compress: a few kB a frame, like a real overlay
        image[:] = np.random.default_rng(i).integers(0, 255, image.shape, dtype=np.uint8)
    cv2.putText(image, str(i % 10), (8, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    record = FrameRecord(Frame(i, 100.0 + i / 30, i / 30, image, 1.0, 0.0))
    record.focal, record.principal = np.full(2, 60.0, np.float32), np.array([31.5, 23.5], np.float32)
    record.overlay = image
    if person:
        record.landmarks = SimpleNamespace()  # any detection: FrameRecord.person is "landmarks is not None"
        vertices = np.zeros((V, 3), np.float32)
        vertices[:, 0], vertices[:, 2] = np.linspace(-0.5, 0.5, V), 3.0 + 0.01 * i
        record.mesh = MeshResult(vertices, vertices[:17].copy(), np.zeros(V, np.float32), 2, 1, i > 0)
    return record


def outputs_in(folder: Path, **only) -> Outputs:
    paths = {"record": folder / "run.mp4", "export": folder / "run.npz", "export_glb": folder / "run.glb"}
    return Outputs(FACES, V, 30.0, **{k: v for k, v in paths.items() if not only or k in only})


def test_a_completed_run_leaves_the_outputs_and_nothing_else(tmp_path):
    outputs = outputs_in(tmp_path)
    for i in range(45):
        outputs.write(make_record(i, person=i % 9 != 4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb.parts", "run.mp4.parts", "run.npz.parts"]
    outputs.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb", "run.mp4", "run.npz"]
    data = np.load(tmp_path / "run.npz")
    assert data["frame_index"].tolist() == list(range(45)) and data["person"].sum() == 40
    assert decoded_frames(tmp_path / "run.mp4") == 45
    assert cv2.VideoCapture(str(tmp_path / "run.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 45
    assert len(trimesh.load(tmp_path / "run.glb").geometry) == 40
    assert (outputs.frames, outputs.with_person, outputs.with_mesh) == (45, 40, 40)


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
from pathlib import Path
from test_reliability_outputs import make_record, outputs_in
outputs = outputs_in(Path({folder!r}))
for i in range({frames}):
    outputs.write(make_record(i, size=(160, 120), noise=True))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_sigkill_leaves_readable_parts_that_finish_completes(tmp_path):
    script = KILLED_WRITER.format(repo=str(REPO), tests=str(REPO / "tests"), folder=str(tmp_path), frames=95)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb.parts", "run.mp4.parts", "run.npz.parts"]
    parts = sorted((tmp_path / "run.npz.parts").glob("part_*.npz"))
    rows = [np.load(p)["frame_index"] for p in parts]  # every part loads as it is
    flushed = int(sum(len(r) for r in rows))
    assert np.concatenate(rows).tolist() == list(range(flushed))
    assert flushed >= 95 - (FLUSH_ROWS - 1), flushed  # a part at least every FLUSH_ROWS frames
    playable = sum(decoded_frames(avi) for avi in sorted((tmp_path / "run.mp4.parts").glob("video_*.avi")))
    assert playable >= 95 - FLUSH_ROWS, playable  # every closed segment, and what reached the disk of the last
    finished = subprocess.run([sys.executable, "-m", "realtime.outputs", *map(str, sorted(tmp_path.glob("*.parts")))],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb", "run.mp4", "run.npz"]
    assert np.load(tmp_path / "run.npz")["frame_index"].tolist() == list(range(flushed))
    assert decoded_frames(tmp_path / "run.mp4") >= playable - 1  # the one cut short is left out
    assert len(trimesh.load(tmp_path / "run.glb").geometry) >= 95 - FLUSH_ROWS


class SlowWriter:
    """A writer whose close waits for ``event`` (then ``seconds`` more): signals sent meanwhile
    arrive during finalisation. A SIGINT acted on at once would cut the wait short."""

    def __init__(self, seconds: float, event: threading.Event | None = None) -> None:
        self.seconds, self.event, self.closed = seconds, event, False

    def write(self, record) -> None:
        pass

    def close(self) -> None:
        if self.event is not None:
            assert self.event.wait(30)
        time.sleep(self.seconds)
        self.closed = True


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raising KeyboardInterrupt, as under a terminal, also when the suite was started as a
    background job (the shell then starts it with SIGINT ignored, and Python keeps ignoring it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_during_finalisation_breaks_nothing(tmp_path, ctrl_c_raises):
    outputs = outputs_in(tmp_path)
    for i in range(40):
        outputs.write(make_record(i))
    both_sent = threading.Event()
    slow = SlowWriter(0.2, both_sent)
    outputs.writers.insert(0, slow)  # finalised first: the SIGINTs below land while it runs

    def interrupt_twice():
        time.sleep(0.2)  # finalisation has begun
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
        both_sent.set()

    threading.Thread(target=interrupt_twice, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):  # delivered once every output is complete
        outputs.close()
    assert slow.closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb", "run.mp4", "run.npz"]
    assert len(np.load(tmp_path / "run.npz")["frame_index"]) == 40
    assert decoded_frames(tmp_path / "run.mp4") == 40
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_an_interrupt_inside_one_writer_still_closes_the_others(tmp_path):
    class Interrupted(SlowWriter):
        def close(self) -> None:
            raise KeyboardInterrupt

    outputs = outputs_in(tmp_path)
    for i in range(5):
        outputs.write(make_record(i))
    outputs.writers.insert(0, Interrupted(0))
    with pytest.raises(KeyboardInterrupt):
        outputs.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb", "run.mp4", "run.npz"]


def test_a_run_that_reached_no_frame_leaves_earlier_outputs_untouched(tmp_path):
    for name in ("run.mp4", "run.npz", "run.glb"):
        (tmp_path / name).write_bytes(b"an earlier run's output")
    outputs_in(tmp_path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.glb", "run.mp4", "run.npz"]
    assert all((tmp_path / n).read_bytes() == b"an earlier run's output" for n in ("run.mp4", "run.npz", "run.glb"))


def test_a_run_that_found_nobody_replaces_the_glb_with_the_camera_only(tmp_path):
    (tmp_path / "run.glb").write_bytes(b"an earlier run's output")
    outputs = outputs_in(tmp_path, export_glb=True, export=True)
    for i in range(6):
        outputs.write(make_record(i, person=False))
    outputs.close()
    assert len(trimesh.load(tmp_path / "run.glb").geometry) == 0
    gltf = glb_json(tmp_path / "run.glb")
    assert "meshes" not in gltf and gltf["cameras"][0]["perspective"]["aspectRatio"] == pytest.approx(64 / 48)
    assert not np.load(tmp_path / "run.npz")["person"].any()
    assert (outputs.frames, outputs.with_person) == (6, 0)


def glb_json(path: Path) -> dict:
    """The JSON chunk of a .glb."""
    import json
    import struct

    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert (magic, version, total, kind) == (b"glTF", 2, len(data), b"JSON")
    return json.loads(data[20 : 20 + length])


def test_a_leftover_parts_folder_is_never_overwritten(tmp_path):
    (tmp_path / "run.npz.parts").mkdir()
    (tmp_path / "run.npz.parts" / "part_000000.npz").write_bytes(b"a killed run's frames")
    with pytest.raises(OutputError, match="run.npz.parts already exists.*python -m realtime.outputs"):
        outputs_in(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz.parts"]  # the others' folders removed again
    assert (tmp_path / "run.npz.parts" / "part_000000.npz").read_bytes() == b"a killed run's frames"


def test_finish_refuses_a_folder_that_is_not_an_outputs_parts_folder(tmp_path):
    with pytest.raises(OutputError, match="not an output's .parts folder"):
        finish(tmp_path)


# -- paths refused up front ----------------------------------------------------------------------


def test_check_targets_refuses_inputs_other_outputs_and_leftovers(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"video")
    os.link(video, tmp_path / "hardlink.mp4")
    (tmp_path / "symlink.mp4").symlink_to(video)
    for record in (video, tmp_path / "hardlink.mp4", tmp_path / "symlink.mp4", tmp_path / "." / "clip.mp4"):
        with pytest.raises(OutputError, match=r"is the input \(--video\): refusing to overwrite it"):
            check_targets({"--record": record}, {"--video": video})
    with pytest.raises(OutputError, match=r"--export .*run.npz is also --save-meshes"):
        check_targets({"--export": tmp_path / "run.npz", "--save-meshes": tmp_path / "run.npz"}, {},
                      folders=("--save-meshes",))
    with pytest.raises(OutputError, match="is a folder, not a file"):
        check_targets({"--export": tmp_path}, {})
    parts_folder(tmp_path / "run.glb").mkdir()
    with pytest.raises(OutputError, match="run.glb.parts is left from a run that was killed"):
        check_targets({"--export-glb": tmp_path / "run.glb"}, {})
    check_targets({"--record": tmp_path / "new.mp4", "--save-meshes": tmp_path / "a" / "b"}, {"--video": video},
                  folders=("--save-meshes",))
    assert video.read_bytes() == b"video" and not (tmp_path / "a").exists()


def test_check_targets_tries_writing(tmp_path):
    readonly = Path("/sys")
    if writable(readonly):
        pytest.skip("/sys is writable here")
    with pytest.raises(OutputError, match="--export: cannot write in /sys"):
        check_targets({"--export": readonly / "run.npz"}, {})
    assert not list(tmp_path.iterdir())


# -- the video's containers -----------------------------------------------------------------------


def write_avi(path: Path, frames: int, size=(96, 64), fps=30.0) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    images = [make_record(i, size=size).overlay for i in range(frames)]
    for image in images:
        writer.write(image)
    writer.release()
    return images


@pytest.mark.parametrize("fps", [30.0, 29.97, 7.5])
def test_avi_to_mp4_copies_every_frame_unchanged(tmp_path, fps):
    write_avi(tmp_path / "a.avi", 50, fps=fps)
    assert avi_to_mp4(tmp_path / "a.avi", tmp_path / "a.mp4", fps) == 50
    mp4, avi = cv2.VideoCapture(str(tmp_path / "a.mp4")), cv2.VideoCapture(str(tmp_path / "a.avi"))
    assert mp4.get(cv2.CAP_PROP_FRAME_COUNT) == 50 and mp4.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, abs=1e-3)
    assert (mp4.get(cv2.CAP_PROP_FRAME_WIDTH), mp4.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 64)
    for _ in range(50):
        (ok1, a), (ok2, b) = mp4.read(), avi.read()
        assert ok1 and ok2 and np.array_equal(a, b)  # the same encoded frames, not re-encoded


def test_a_truncated_avi_gives_its_complete_frames(tmp_path):
    write_avi(tmp_path / "a.avi", 40)
    data = (tmp_path / "a.avi").read_bytes()
    with open(tmp_path / "a.avi", "rb") as f:
        chunks = list(avi_chunks(f))
    offset, size = chunks[30]
    (tmp_path / "cut.avi").write_bytes(data[: offset + size // 2])  # killed in the middle of frame 30
    assert avi_to_mp4(tmp_path / "cut.avi", tmp_path / "cut.mp4", 30.0) == 30
    assert decoded_frames(tmp_path / "cut.mp4") == 30


def test_mesh_files_are_written_whole(tmp_path):
    outputs = Outputs(FACES, V, 30.0, save_meshes=tmp_path / "meshes")
    for i in range(3):
        outputs.write(make_record(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshes.parts"]  # nothing in place until complete
    outputs.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshes"]
    assert sorted(p.name for p in (tmp_path / "meshes").iterdir()) == [f"frame_{i:06d}.ply" for i in range(3)]
    assert trimesh.load(tmp_path / "meshes" / "frame_000002.ply").vertices.shape == (V, 3)


def earlier_meshes(folder: Path, frames: int = 30) -> dict[str, bytes]:
    """An earlier completed --save-meshes run of ``frames`` frames; returns its files' bytes."""
    outputs = Outputs(FACES, V, 30.0, save_meshes=folder)
    for i in range(frames):
        outputs.write(make_record(i))
    outputs.close()
    return {p.name: p.read_bytes() for p in folder.iterdir()}


KILLED_MESH_WRITER = """
import os, signal, sys
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
from pathlib import Path
from test_reliability_outputs import FACES, V, Outputs, make_record
outputs = Outputs(FACES, V, 30.0, save_meshes=Path({folder!r}))
for i in range({frames}):
    record = make_record(i)
    record.mesh.vertices[:, 1] += 1.0  # not the earlier run's meshes
    outputs.write(record)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_mesh_run_never_touches_the_earlier_meshes_and_finish_replaces_them(tmp_path):
    meshes = tmp_path / "meshes"
    before = earlier_meshes(meshes, 30)
    script = KILLED_MESH_WRITER.format(repo=str(REPO), tests=str(REPO / "tests"), folder=str(meshes), frames=10)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert {p.name: p.read_bytes() for p in meshes.iterdir()} == before  # all 30, none overwritten
    assert len(list((tmp_path / "meshes.parts").glob("frame_*.ply"))) == 10
    finished = subprocess.run([sys.executable, "-m", "realtime.outputs", str(tmp_path / "meshes.parts")],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and f"wrote {meshes} (10 frames)" in finished.stdout, finished.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshes"]
    assert sorted(p.name for p in meshes.iterdir()) == [f"frame_{i:06d}.ply" for i in range(10)]  # no stale 10-29
    assert all(p.read_bytes() != before[p.name] for p in meshes.iterdir())


def test_a_shorter_run_replaces_the_meshes_whole_and_one_without_a_mesh_keeps_them(tmp_path):
    meshes = tmp_path / "meshes"
    before = earlier_meshes(meshes, 30)
    nobody = Outputs(FACES, V, 30.0, save_meshes=meshes)
    for i in range(4):
        nobody.write(make_record(i, person=False))
    nobody.close()
    assert {p.name: p.read_bytes() for p in meshes.iterdir()} == before
    earlier_meshes(meshes, 5)
    assert sorted(p.name for p in meshes.iterdir()) == [f"frame_{i:06d}.ply" for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshes"]


def test_a_mesh_folder_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "frame_000000.ply").write_bytes(b"ply")
    for make in (lambda: Outputs(FACES, V, 30.0, save_meshes=tmp_path),
                 lambda: check_targets({"--save-meshes": tmp_path}, {}, folders=("--save-meshes",))):
        with pytest.raises(OutputError, match=r"holds files that are not an earlier run's meshes \(notes.txt\)"):
            make()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_000000.ply", "notes.txt"]
    parts_folder(tmp_path / "m").mkdir()
    with pytest.raises(OutputError, match="m.parts is left from a run that was killed"):
        check_targets({"--save-meshes": tmp_path / "m"}, {}, folders=("--save-meshes",))


def test_a_mesh_finish_cut_short_between_its_renames_completes(tmp_path):
    """Killed after the earlier folder was moved aside and before the new one took its place."""
    meshes = tmp_path / "meshes"
    earlier_meshes(meshes, 3)
    outputs = Outputs(FACES, V, 30.0, save_meshes=meshes)
    for i in range(2):
        outputs.write(make_record(i))
    folder = tmp_path / "meshes.parts"
    (folder / "finishing").mkdir()
    os.replace(folder / "frame_000000.ply", folder / "finishing" / "frame_000000.ply")
    os.replace(meshes, folder / "replaced")
    target, frames = finish(folder)
    assert (target, frames) == (meshes, 2) and sorted(p.name for p in tmp_path.iterdir()) == ["meshes"]
    assert sorted(p.name for p in meshes.iterdir()) == ["frame_000000.ply", "frame_000001.ply"]


def test_finish_names_a_corrupt_part_without_telling_to_run_itself(tmp_path):
    outputs = outputs_in(tmp_path, export=True)
    for i in range(2 * FLUSH_ROWS):
        outputs.write(make_record(i))
    outputs.writers[0]._flush()  # never closed, as after a kill: the parts stay
    folder = tmp_path / "run.npz.parts"
    part = sorted(folder.glob("part_*.npz"))[1]
    part.write_bytes(part.read_bytes()[:200])  # cut short
    result = subprocess.run([sys.executable, "-m", "realtime.outputs", str(folder)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'run.npz'} not written ({part.name} is corrupt (")
    assert f"move it out of run.npz.parts to finish without its frames); its frames are kept in {folder}" in result.stderr
    assert "python -m realtime.outputs" not in result.stderr
    part.unlink()  # as told
    again = subprocess.run([sys.executable, "-m", "realtime.outputs", str(folder)], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and np.load(tmp_path / "run.npz")["frame_index"].tolist() == list(range(FLUSH_ROWS))


def test_finish_warns_about_a_corrupt_video_segment_it_leaves_out(tmp_path):
    folder = tmp_path / "run.mp4.parts"
    outputs = outputs_in(tmp_path, record=True)
    for i in range(3):
        outputs.write(make_record(i))
        outputs.writers[0]._flush()  # a segment a frame
    (folder / "video_000001.avi").write_bytes(b"\0" * 500)  # damaged
    result = subprocess.run([sys.executable, "-m", "realtime.outputs", str(folder)], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "wrote" in result.stdout and "(2 frames)" in result.stdout, result.stderr
    assert result.stderr.strip().splitlines() == [
        "warning: run.mp4: left out video_000001.avi, it is corrupt (not an AVI file)"]
