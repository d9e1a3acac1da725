"""Pipeline machinery with in-test fakes (no MediaPipe, no HMDiff weights): stops, outputs, drops, memory."""
from __future__ import annotations

import _thread
import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import trimesh

from realtime.options import DEFAULTS
from realtime.outputs import Outputs
from realtime.pipeline import END, Pipeline, PipelineError, StageQueue
from realtime.recovery import RecoverStage
from realtime.render import RenderStage
from realtime.sources import Source, SourceError
from tests.helpers import decoded_frames

V = 40  # fake mesh: a strip of triangles
FACES = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], 1)
STAGE_NAMES = ("capture", "detect", "prior", "diffusion")


class FakeSource(Source):
    """``n`` tiny frames from memory (``n=None``: endless); optionally fails at a frame."""

    name = "fake"

    def __init__(self, n: int | None, size=(48, 32), live=False, fail_at=None, delay_s=0.0, **kwargs):
        super().__init__(every_frame=not live, **kwargs)
        self.live, self.n, self.size, self.fail_at, self.delay_s = live, n, size, fail_at, delay_s
        self.i, self.closed = 0, False

    def _open(self) -> None:
        pass

    def _read(self):
        if self.n is not None and self.i >= self.n:
            return None
        if self.i == self.fail_at:
            raise SourceError("fake camera unplugged")
        self.i += 1
        time.sleep(self.delay_s)
        return np.full((self.size[1], self.size[0], 3), self.i % 255, np.uint8)

    def close(self) -> None:
        self.closed = True


KEYPOINTS = np.random.default_rng(0).uniform(0.2, 0.8, (17, 2)).astype(np.float32)


def fake_detect_prior(absent=()):
    """A detect+prior stage: a person (moving slowly) except on frames in ``absent``."""

    def stage(record) -> None:
        h, w = record.frame.image.shape[:2]
        record.focal, record.principal = np.array([w, w], np.float32), np.array([w / 2, h / 2], np.float32)
        if record.frame.index in absent:
            return
        record.landmarks = SimpleNamespace(world=None)
        record.keypoints = KEYPOINTS * [w, h] + record.frame.index * 0.01
        record.confidence = np.ones(17, np.float32)
        record.prior = SimpleNamespace(index=record.frame.index)

    return stage


_X = torch.linspace(-0.3, 0.3, V)
STRIP = torch.stack([_X, _X.abs() - 0.5, torch.full_like(_X, 3.0)], -1)[None]  # (1, V, 3), 3 m ahead


class FakeModel:
    """Stands in for HMDiff.recover: a strip mesh 3 m ahead; cold starts run more steps."""

    def __init__(self, fail_at: int | None = None, delay_s: float = 0.0):
        self.fail_at, self.delay_s = fail_at, delay_s

    def recover(self, prior, steps=5, hypotheses=1, warm_start=None, dat=True, timings=None, mirror=False,
                generator=None, shape=None):
        if prior.index == self.fail_at:
            raise RuntimeError("boom")
        time.sleep(self.delay_s)
        return SimpleNamespace(
            vertices=STRIP, joints=STRIP[:, :17], spread=torch.zeros(1, V), h0=torch.zeros(1, 4, 3),
            steps_used=2 if warm_start is not None else steps, dat_steps=1,
        )


def make_pipeline(source, model=None, absent=(), outputs=None, sink=None, warm_start=False, **kwargs):
    model = model or FakeModel()
    stages = [("detect", fake_detect_prior(absent)), ("prior", lambda r: None),
              ("diffusion", RecoverStage(model, steps=4, warm_start=warm_start))]
    render = RenderStage(outputs)
    return Pipeline(source, stages, sink or render, **kwargs), render


def outputs_in(tmp_path, fps=30.0):
    return Outputs(FACES, V, fps, record=tmp_path / "run.mp4", save_meshes=tmp_path / "meshes",
                   export=tmp_path / "run.npz", export_glb=tmp_path / "run.glb")


def no_stage_threads_left() -> bool:
    time.sleep(0.05)
    return not [t for t in threading.enumerate() if t.name in STAGE_NAMES and t.is_alive()]


def test_end_of_source_finalises_every_output(tmp_path):
    source, outputs = FakeSource(30), outputs_in(tmp_path)
    pipeline, _ = make_pipeline(source, absent={10, 11, 12}, outputs=outputs, warm_start=True)
    try:
        summary = pipeline.run()
    finally:
        outputs.close()
    assert (summary.frames, summary.captured, summary.dropped, summary.reason) == (30, 30, 0, "end")
    assert source.closed and no_stage_threads_left()
    data = np.load(tmp_path / "run.npz")
    assert data["vertices"].shape == (30, V, 3) and data["vertices"].dtype == np.float16
    assert data["frame_index"].tolist() == list(range(30))
    assert data["person"].sum() == 27 and not data["person"][10:13].any()
    assert np.isnan(data["vertices"][11]).all() and np.isfinite(data["vertices"][13]).all()
    # warm start: cold on the first frame and when the person comes back, warm otherwise
    assert data["warm"][[0, 13]].tolist() == [False, False] and data["warm"][[1, 9, 14, 29]].all()
    assert data["steps_used"][0] == 4 and data["steps_used"][1] == 2
    assert np.all(np.diff(data["timestamp"]) >= 0) and data["faces"].shape == FACES.shape
    assert decoded_frames(tmp_path / "run.mp4") == 30
    assert len(list((tmp_path / "meshes").glob("frame_*.ply"))) == 27
    ply = trimesh.load(tmp_path / "meshes" / "frame_000013.ply")
    assert ply.vertices.shape == (V, 3) and len(ply.faces) == len(FACES)
    scene = trimesh.load(tmp_path / "run.glb")
    assert len(scene.geometry) == 27
    first = next(iter(scene.geometry.values()))
    assert first.vertices.shape == (V, 3)
    np.testing.assert_allclose(first.vertices[:, 2], -3.0, atol=1e-5)  # camera z forward → glTF −z
    assert not list(tmp_path.glob(".run*")), "temporary spools must be removed"


def test_exception_in_a_stage_stops_cleanly_and_keeps_outputs(tmp_path):
    source, outputs = FakeSource(None), outputs_in(tmp_path)
    pipeline, _ = make_pipeline(source, model=FakeModel(fail_at=8), outputs=outputs)
    with pytest.raises(PipelineError, match=r"^diffusion stage failed: RuntimeError: boom$"):
        try:
            pipeline.run()
        finally:
            outputs.close()
    assert source.closed and no_stage_threads_left()
    data = np.load(tmp_path / "run.npz")
    assert data["frame_index"].tolist() == list(range(8))  # everything rendered before the failure
    assert decoded_frames(tmp_path / "run.mp4") == 8
    assert len(trimesh.load(tmp_path / "run.glb").geometry) == 8


def test_source_failure_mid_run_is_one_line():
    pipeline, _ = make_pipeline(FakeSource(None, fail_at=5))
    with pytest.raises(PipelineError, match=r"^fake camera unplugged$"):
        pipeline.run()
    assert no_stage_threads_left()


def test_exception_in_render_stage():
    def sink(record):
        raise ValueError("bad overlay")

    pipeline, _ = make_pipeline(FakeSource(None), sink=sink)
    with pytest.raises(PipelineError, match="render stage failed: ValueError: bad overlay"):
        pipeline.run()
    assert no_stage_threads_left()


def test_sigint_is_a_clean_stop(tmp_path):
    outputs = outputs_in(tmp_path)
    pipeline, _ = make_pipeline(FakeSource(None), model=FakeModel(delay_s=0.005), outputs=outputs)
    timer = threading.Timer(0.5, _thread.interrupt_main)  # delivers SIGINT to the main thread
    timer.start()
    try:
        summary = pipeline.run()
    finally:
        timer.cancel()
        outputs.close()
    assert summary.reason == "interrupted" and summary.frames > 0
    assert no_stage_threads_left()
    assert len(np.load(tmp_path / "run.npz")["frame_index"]) == summary.frames
    assert decoded_frames(tmp_path / "run.mp4") == summary.frames


def test_stop_event_and_quit_key():
    pipeline, _ = make_pipeline(FakeSource(None))
    threading.Timer(0.3, pipeline.stop).start()
    assert pipeline.run().reason == "stopped"
    quit_after = lambda record: record.frame.index < 5  # noqa: E731 - the sink's "q pressed"
    pipeline, _ = make_pipeline(FakeSource(None), sink=quit_after)
    summary = pipeline.run()
    assert summary.reason == "stopped" and 6 <= summary.frames < 20
    assert no_stage_threads_left()


def test_live_source_drops_stale_frames():
    source = FakeSource(120, live=True, delay_s=0.002)
    lags = []

    pipeline, render = make_pipeline(source, model=FakeModel(delay_s=0.02))

    def sink(record):
        lags.append(record.frame.index)
        return render(record)

    pipeline.sink = sink
    summary = pipeline.run()
    assert summary.captured == 120 and summary.dropped > 30
    assert summary.frames + summary.dropped == summary.captured
    assert lags == sorted(lags) and lags[-1] == 119  # latest wins, the last frame is shown
    assert render.stats.missed == summary.dropped


def test_stage_queue_latest_wins_keeps_end_marker():
    stop = threading.Event()
    q = StageQueue(1, stop, latest_wins=True)
    for item in ("a", "b", "c"):
        assert q.put(item)
    assert q.dropped == 2 and q.get() == "c"
    q.put("d")
    stop_timer = threading.Timer(0.2, stop.set)
    stop_timer.start()
    assert q.put(END) is False  # END waits for room instead of replacing a frame; gives up on stop
    stop_timer.join()
    assert q.get() is None


@pytest.mark.slow
def test_long_run_memory_stays_flat(tmp_path):
    """2000 tiny frames through every stage and the spooled outputs: traced memory must not grow."""
    n, marks = 2000, {}
    outputs = Outputs(FACES, V, 30.0, record=tmp_path / "run.mp4", export=tmp_path / "run.npz",
                      export_glb=tmp_path / "run.glb")
    pipeline, render = make_pipeline(FakeSource(n), outputs=outputs, absent=set(range(100, n, 97)))

    def sink(record):
        if record.frame.index in (300, n - 1):
            marks[record.frame.index] = tracemalloc.get_traced_memory()[0]
        return render(record)

    pipeline.sink = sink
    tracemalloc.start()
    try:
        summary = pipeline.run()
    finally:
        tracemalloc.stop()
        outputs.close()
    assert summary.frames == n
    growth = marks[n - 1] - marks[300]
    assert growth < 200 * 1024, f"memory grew by {growth / 1024:.0f} KiB over {n - 300} frames"
    assert len(np.load(tmp_path / "run.npz")["person"]) == n


class RecordingModel(FakeModel):
    """FakeModel that remembers whether each call was warm-started."""

    def __init__(self):
        super().__init__()
        self.warm = []

    def recover(self, prior, steps=5, hypotheses=1, warm_start=None, dat=True, timings=None, mirror=False,
                generator=None, shape=None):
        self.warm.append(warm_start is not None)
        return super().recover(prior, steps, hypotheses, warm_start, dat)


def stage_records(n, jump_at=None, cut_at=None):
    from realtime.record import FrameRecord
    from realtime.sources import Frame

    records = []
    for i in range(n):
        record = FrameRecord(Frame(i, i / 30, i / 30, np.zeros((32, 48, 3), np.uint8), 1.0, 0.0))
        fake_detect_prior()(record)
        if jump_at is not None and i >= jump_at:
            record.keypoints = record.keypoints + 30.0  # more than 20% of the ~25 px box
        record.cut = i == cut_at
        records.append(record)
    return records


def test_warm_start_restarts_on_jump_cut_and_can_be_disabled():
    model = RecordingModel()
    stage = RecoverStage(model, warm_start=True)
    for record in stage_records(8, jump_at=3, cut_at=6):
        stage(record)
    assert model.warm == [False, True, True, False, True, True, False, True]
    model = RecordingModel()
    stage = RecoverStage(model, warm_start=False)
    for record in stage_records(4):
        stage(record)
    assert model.warm == [False] * 4


def test_smoothing_follows_and_restarts():
    stage = RecoverStage(FakeModel(), smooth=True, warm_start=True)
    records = stage_records(5, cut_at=3)
    for record in records:
        stage(record)
    np.testing.assert_allclose(records[-1].mesh.vertices, STRIP[0].numpy(), atol=1e-6)  # constant input
    assert records[3].mesh.warm is False and records[4].mesh.warm is True


def test_benchmark_report_and_table(tmp_path):
    import json

    from realtime.benchmark import Collector, compare, format_table

    stages = [("detect", fake_detect_prior()), ("diffusion", RecoverStage(FakeModel(delay_s=0.002)))]
    full, detector = Collector(RenderStage()), Collector(lambda record: True)
    full.run(FakeSource(20), stages, None)
    detector.run(FakeSource(20), [("detect", fake_detect_prior())], None)
    full, detector = full.report(), detector.report()
    result = compare(full, detector)
    steps = DEFAULTS.steps if not DEFAULTS.warm_start else (DEFAULTS.steps + 19 * 2) / 20  # fake warm frames: 2
    assert full["frames"] == 20 and full["mesh_frames"] == 20 and full["steps_mean"] == pytest.approx(steps)
    assert set(full["stages_ms"]) == {"capture", "detect", "diffusion", "diffusion/output", "render", "waits"}
    assert full["latency_ms"]["p95"] >= full["latency_ms"]["p50"] > 0
    # latency = detect + diffusion + render + waits (capture's read comes before the timestamp)
    stages = sum(full["stages_ms"][name]["p50"] for name in ("detect", "diffusion", "render"))
    assert 0 <= full["stages_ms"]["waits"]["p50"] < full["latency_ms"]["p50"] - 0.5 * stages
    assert 0 < result["fps_ratio"] < 1.5
    table = format_table(result)
    for text in ("throughput FPS", "latency p50 / p95 ms", "diffusion p50 / p95 ms", "      output p50 / p95 ms",
                 "waits p50 / p95 ms", "frames dropped", "DDIM steps", "FPS ratio"):
        assert text in table
    assert full["jitter"]["frames"] == 0 and full["jitter"]["ratio"] is None  # no 3D landmarks to compare with
    json.dumps(result)  # JSON-serialisable for --benchmark-json


def test_benchmark_jitter_beside_mediapipe_world():
    """The stream's jitter and MediaPipe's on the same consecutive frames, and their ratio."""
    from realtime.benchmark import Collector
    from realtime.record import FrameRecord, MeshResult
    from realtime.sources import Frame

    collector = Collector(lambda record: True)
    collector.motion.append({})
    rng = np.random.default_rng(0)
    for i in [*range(10), *range(12, 20)]:  # frames 10 and 11 missing: no triple spans them
        record = FrameRecord(Frame(i, 0.0, i / 30, np.zeros((4, 4, 3), np.uint8), 1.0, 0.0))
        world = np.zeros((33, 3), np.float32) + rng.normal(0, 0.002, (33, 3))  # MediaPipe shakes by 2 mm
        joints = np.zeros((17, 3), np.float32) + rng.normal(0, 0.004, (17, 3))  # the mesh by 4 mm
        record.landmarks = SimpleNamespace(world=world.astype(np.float32))
        record.mesh = MeshResult(joints, joints, np.zeros(17), 2, 0, False)
        collector(record)
    jitter = collector.jitter()
    assert jitter["frames"] == 8 + 6
    assert jitter["ratio"] == pytest.approx(2.0, rel=0.35)
