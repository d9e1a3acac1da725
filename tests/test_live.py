"""The per-frame object (realtime.live), its options, photos in static mode, warm-up, the
start-up figures of the benchmark, the webcam framing of the synthetic source and the window
layout."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.options import DEFAULTS, LiveOptions

REPO = Path(__file__).resolve().parents[1]


def test_cli_defaults_are_the_options_defaults():
    from realtime import app as run_live

    args = run_live.build_parser().parse_args([])
    assert (args.steps, args.warm_steps, args.hypotheses) == (DEFAULTS.steps, DEFAULTS.warm_steps, None)
    assert (args.fov, args.jump_threshold, args.process_width) == (DEFAULTS.fov_deg, DEFAULTS.jump_threshold,
                                                                   DEFAULTS.process_width)
    with pytest.raises(TypeError):
        DEFAULTS.replace(no_such_option=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.steps = 3


def test_cli_help_is_the_options_help():
    from realtime import app as run_live

    helps = {a.dest: a.help for a in run_live.build_parser()._actions}
    flags = {"steps": "steps", "warm_steps": "warm_steps", "hypotheses": "hypotheses", "fov": "fov_deg",
             "focal": "focal_px", "no_dat": "dat", "no_mirror": "photo_mirror", "warm_start": "warm_start",
             "fixed_noise": "fixed_noise", "jump_threshold": "jump_threshold", "smooth": "smooth",
             "smooth_min_cutoff": "smooth_min_cutoff", "smooth_beta": "smooth_beta", "threads": "torch_threads", "no_warmup": "warmup",
             "weights": "weights", "model_path": "model_path", "backend": "backend", "process_width": "process_width"}
    for dest, name in flags.items():
        assert helps[dest] == LiveOptions.help(name), dest
    assert "(2)" in LiveOptions.help("steps") and "a stream 2, photos 8" in LiveOptions.help("hypotheses")


def test_options_follow_the_source():
    """Photos: every image on its own; a video, the camera or the synthetic world: tracking."""
    from realtime import app as run_live
    from realtime.sources import ImageFolderSource, SyntheticSource, VideoSource

    args = run_live.build_parser().parse_args(["--steps", "7", "--warm-start"])
    args.device = "cpu"
    photos = run_live.live_options(args, ImageFolderSource("unused"))
    assert photos.static_image_mode and photos.steps == 7 and not photos.stream.warm_start  # photos: never
    assert not run_live.live_options(args, VideoSource("unused.mp4")).static_image_mode
    assert not run_live.live_options(args, SyntheticSource()).static_image_mode
    assert not ImageFolderSource("unused", independent=False).independent  # a video's frames in a folder
    assert run_live.live_options(args, VideoSource("unused.mp4")).stream.warm_start  # asked for, and a stream
    # Hypotheses: the mode's default (a stream 2, a photo 8), or --hypotheses for both.
    assert photos.frame_hypotheses == DEFAULTS.photo_hypotheses > DEFAULTS.hypotheses == 2
    assert run_live.live_options(args, VideoSource("unused.mp4")).frame_hypotheses == DEFAULTS.hypotheses
    args = run_live.build_parser().parse_args(["--hypotheses", "3"])
    args.device = "cpu"
    assert {run_live.live_options(args, source).frame_hypotheses
            for source in (ImageFolderSource("unused"), VideoSource("unused.mp4"))} == {3}
    # Mirroring: an even number of samples only; --no-mirror turns it off for photos and streams.
    assert photos.frame_mirror and not run_live.live_options(args, ImageFolderSource("unused")).frame_mirror  # 3
    assert DEFAULTS.frame_mirror and DEFAULTS.stream.mirror  # a stream's cold frames, two samples
    args = run_live.build_parser().parse_args(["--no-mirror"])
    args.device = "cpu"
    assert not run_live.live_options(args, ImageFolderSource("unused")).frame_mirror
    assert not run_live.live_options(args, VideoSource("unused.mp4")).stream.mirror
    # torch threads: one for a stream of one sample a frame, torch's own for photos, or --threads.
    assert DEFAULTS.recovery_threads == 1 and photos.recovery_threads is None
    args = run_live.build_parser().parse_args(["--threads", "2"])
    args.device = "cpu"
    assert run_live.live_options(args, VideoSource("unused.mp4")).recovery_threads == 2


@pytest.mark.slow
def test_loading_the_model_sets_torchs_threads_for_the_mode(monkeypatch):
    import torch

    from realtime.live import load_model

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    load_model(DEFAULTS)
    load_model(DEFAULTS.replace(static_image_mode=True))
    load_model(DEFAULTS.replace(static_image_mode=True, torch_threads=2))
    assert calls == [1, 2]


@pytest.fixture(scope="module")
def photos(shared_dir):
    files = sorted((shared_dir / "data" / "images").glob("*.jpg"))
    if not files:
        pytest.skip("no photos in ../shared/data/images")
    return files


def static_mediapipe_count(files) -> int:
    from models.landmarks import PoseDetector
    from realtime.sources import resize_to_width

    detector = PoseDetector(static_image_mode=True)
    try:
        return sum(detector(resize_to_width(cv2.imread(str(f)), DEFAULTS.process_width)[0]) is not None for f in files)
    finally:
        detector.close()


@pytest.mark.slow
def test_process_photos_like_static_mediapipe(photos):
    """One call per photo; every photo detected on its own, each mesh a cold start."""
    from realtime.live import LiveRecovery

    expected = static_mediapipe_count(photos)
    assert expected >= 5  # MediaPipe's static mode finds 5 of these 6 photos
    with LiveRecovery(LiveOptions(static_image_mode=True)) as live:
        results = [live.process(cv2.imread(str(f))) for f in photos]
    assert sum(r.person for r in results) == expected
    for r in results:
        assert r.mesh == r.person and r.cut and not r.warm
        assert {name for name in r.timing_ms if "/" not in name} == {"detect", "prior", "diffusion", "total"}
        assert ({"diffusion/denoiser", "diffusion/DAT and DDIM", "diffusion/mesh"} <= set(r.timing_ms)) == r.mesh
        if r.mesh:
            assert r.vertices.shape == (13718, 3) and r.joints.shape == (17, 3) and r.steps_used == DEFAULTS.steps
            assert np.isfinite(r.vertices).all() and 0.5 < np.median(r.vertices[:, 2]) < 50  # in front of the camera
            assert r.faces.ndim == 2 and r.faces.shape[1] == 3 and r.faces.max() == len(r.vertices) - 1  # the mesh's own
        else:
            assert r.faces is None


@pytest.mark.slow
def test_images_command_finds_as_many_people_as_static_mediapipe(photos, tmp_path):
    """``run_live.py --images`` (the folder source, static mode) against MediaPipe's static mode."""
    result = subprocess.run([sys.executable, "run_live.py", "--images", str(photos[0].parent), "--no-display",
                             "--export", str(tmp_path / "photos.npz")], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    data = np.load(tmp_path / "photos.npz")
    assert len(data["person"]) == len(photos)
    assert int(data["person"].sum()) == static_mediapipe_count(photos)
    assert not data["warm"].any()  # photos never continue each other


def test_process_rejects_what_is_not_an_image():
    from realtime.live import LiveRecovery

    with LiveRecovery() as live:
        for bad in (None, "photo.jpg", np.zeros((4, 4), np.float32), np.zeros((0, 0, 3), np.uint8)):
            with pytest.raises(ValueError, match="not an image") as err:
                live.process(bad)
            assert "\n" not in str(err.value)
        empty = live.process(np.zeros((120, 160, 3), np.uint8))  # a valid frame without anyone
    assert not empty.person and not empty.mesh and empty.vertices is None and empty.steps_used == 0


class CountingModel:
    """HMDiff.recover's signature: counts calls, returns a strip mesh."""

    def __init__(self):
        self.calls = []

    def recover(self, prior, steps=5, hypotheses=1, warm_start=None, dat=True, timings=None, mirror=False,
                generator=None, shape=None):
        import torch
        from types import SimpleNamespace

        self.calls.append((steps, warm_start is not None))
        v = torch.zeros(1, 20, 3) + torch.tensor([0.0, 0.0, 3.0])
        return SimpleNamespace(vertices=v, joints=v[:, :17], spread=torch.zeros(1, 20), h0=torch.zeros(1, 4, 3),
                               steps_used=2 if warm_start is not None else steps, dat_steps=1)


def test_warmup_runs_every_stage_and_leaves_the_stream_cold():
    from realtime.live import LiveRecovery

    model = CountingModel()
    with LiveRecovery(LiveOptions(steps=4, warm_steps=1, warm_start=True), model=model) as live:
        parts = live.warmup((320, 240))
        assert set(parts) == {"detect", "model", "prior", "diffusion_cold", "diffusion_next"}
        assert model.calls == [(4, False), (1, True), (1, True)]  # a cold start, then warm ones
        assert live.recover.stream._h0 is None  # the stream's own track is untouched
    model = CountingModel()
    with LiveRecovery(LiveOptions(steps=3), model=model) as live:
        live.warmup((320, 240))
        assert model.calls == [(3, False)] * 3  # the shipped stream: every frame cold (fixed noise)
        prior_only = LiveRecovery(LiveOptions())
        try:
            assert set(prior_only.warmup((320, 240), detect_only=True)) == {"detect"}
            assert prior_only._model is None  # a detector-only user never loads the model
        finally:
            prior_only.close()


def test_template_landmarks_project_inside_the_frame():
    from realtime.live import LiveRecovery

    live = LiveRecovery.__new__(LiveRecovery)  # no MediaPipe needed for the geometry
    from realtime.prior import Intrinsics, PriorStage

    live.prior = PriorStage(Intrinsics())
    for size in ((640, 480), (640, 360), (160, 120)):
        lm = live._template_landmarks(*size)
        seen = lm.visibility > 0
        assert seen.sum() == 17
        assert (lm.image_xy[seen] > 0).all() and (lm.image_xy[seen] < size).all()


def test_benchmark_startup_counts_drops_of_the_first_frames_and_the_rest():
    from types import SimpleNamespace

    from realtime.benchmark import Collector, FIRST_FRAMES, format_table

    collector = Collector(lambda record: True)
    rendered = [i for i in range(100) if not (i < FIRST_FRAMES and i % 3 == 0) and not (i >= FIRST_FRAMES and i % 10 == 0)]
    collector.indices = rendered
    collector.latency_ms = [100.0 if i < FIRST_FRAMES else 50.0 for i in rendered]
    summary = SimpleNamespace(frames=len(rendered), captured=100, dropped=100 - len(rendered), skipped=0, elapsed_s=1.0)
    collector.runs = [(summary, 0, len(rendered))]
    s = collector.startup()
    assert s["first"] == {"frames": 30, "dropped": 10, "rate": 0.333, "latency_p95_ms": 100.0}
    assert s["rest"] == {"frames": 70, "dropped": 7, "rate": 0.1, "latency_p95_ms": 50.0}
    report = collector.report()
    table = format_table({"full": report, "detector_only": report, "fps_ratio": 1.0, "latency_p95_ratio": 1.0})
    assert "dropped, first 30 frames" in table and "10/30 (33%)" in table and "7/70 (10%)" in table
    # a second round of the same frames: each run's first frames count as first, the counts add up
    collector.indices, collector.latency_ms = rendered * 2, collector.latency_ms * 2
    collector.runs = [(summary, 0, len(rendered)), (summary, len(rendered), 2 * len(rendered))]
    s, report = collector.startup(), collector.report()
    assert s["first"] == {"frames": 60, "dropped": 20, "rate": 0.333, "latency_p95_ms": 100.0}
    assert s["rest"]["frames"] == 140 and s["rest"]["dropped"] == 14
    assert report["rounds"] == 2 and report["frames"] == 2 * len(rendered) and report["fps"] == len(rendered)


def test_webcam_framing_shows_the_whole_person_standing_on_the_floor():
    from realtime.sources import WebcamFraming, place_webcam

    rng = np.random.default_rng(0)
    cfg = WebcamFraming()
    # A 1.75 m tall box-person (feet on the floor, y down) stepping 0.5 m sideways, facing +x.
    body = np.stack(np.meshgrid([-0.25, 0.25], [-1.75, 0.0], [-0.15, 0.15]), -1).reshape(-1, 3)
    frames = np.stack([body + [0.0, 0.0, dz] for dz in np.linspace(0.0, 0.5, 6)])
    for trial in range(20):
        width, height = (640, 480) if trial % 2 else (640, 360)
        focal = width / 2 / np.tan(np.radians(62) / 2)
        R, C, horizon = place_webcam(frames, np.array([1.0, 0.0]), width, height, focal, rng, cfg)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
        cam = (frames.reshape(-1, 3) - C) @ R.T
        uv = cam[:, :2] / cam[:, 2:] * focal + [(width - 1) / 2, (height - 1) / 2]
        assert (cam[:, 2] > 0.3).all()
        assert (uv >= cfg.margin_px - 1e-6).all() and (uv <= [width - cfg.margin_px, height - cfg.margin_px]).all()
        assert cfg.fill[0] - 0.02 <= np.ptp(uv[:, 1]) / height <= cfg.fill[1] + 0.02  # a good share of the frame
        assert 0 < horizon < uv[:, 1].max()  # the floor line behind the person is above the feet
        assert cfg.camera_height_m[0] - 1e-6 <= -C[1] <= cfg.camera_height_m[1] + 1e-6
        facing_camera = np.degrees(np.arccos(np.clip(-R[2] @ [1.0, 0.0, 0.0] / np.linalg.norm(R[2, [0, 2]]), -1, 1)))
        assert facing_camera <= cfg.yaw_max_deg + 1e-6


def test_window_layout_side_by_side():
    from realtime.render import window_layout

    for screen in ((1920, 1080), (1280, 800), (3840, 2160), (1024, 1280)):
        layout = window_layout(screen)
        (ox, oy, ow, oh), (mx, my, mw, mh) = layout["overlay"], layout["mesh"]
        assert ox + ow < mx and mx + mw <= screen[0] and oy + oh <= screen[1] and my + mh <= screen[1]
        assert ow >= screen[0] // 3 or oh >= screen[1] - 100  # the screen is used, not a fixed 640 px
        assert abs(ow / oh - 4 / 3) < 0.01 and (ow, oh) == (mw, mh)
    (ox, _, ow, _), (mx, _, _, _) = window_layout(None).values()
    assert ox + ow < mx  # without a screen size: still next to each other


class FakeWindow:
    def __init__(self):
        self.keys, self.shown = [], True

    def hide(self):
        self.shown = False

    def show(self, *image):
        self.shown = True
        return True

    def show_window(self):
        self.shown = True

    def update(self, mesh):
        return True

    def close(self):
        pass


def test_keys_toggle_each_window_but_never_the_last_one():
    from realtime.render import RenderStage

    viewer, window = FakeWindow(), FakeWindow()
    stage = RenderStage(viewer=viewer, window=window)
    window.keys.append("m")
    stage._toggle()
    assert not viewer.shown and window.shown
    window.keys.append("o")  # the overlay is the last one shown: it stays
    stage._toggle()
    assert window.shown
    window.keys.append("m")
    stage._toggle()
    assert viewer.shown
    viewer.keys.append("o")  # pressed in the mesh window
    stage._toggle()
    assert not window.shown and viewer.shown
    viewer.keys.append("o")
    stage._toggle()
    assert window.shown
