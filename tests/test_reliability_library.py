"""The library API as an adversarial user calls it: LiveOptions refuses nonsense at construction
with the command line's messages, LiveRecovery refuses use after close(), timestamps that are
not finite or run backwards never turn the mesh NaN, process_width works in process().

Fast: MediaPipe's detector is replaced by the warm-up's template person, the model by a stub."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from realtime.options import DEFAULTS, LiveOptions, value_problem

NONSENSE = [  # (field, value, what the one-line message says)
    ("steps", 0, "steps must be positive, got 0"),
    ("steps", -3, "steps must be positive, got -3"),
    ("steps", 2.5, "steps must be a whole number, got 2.5"),
    ("steps", "2", "steps must be a number, got '2'"),
    ("warm_steps", 0, "warm_steps must be positive, got 0"),
    ("hypotheses", -1, "hypotheses must be between 1 and 64 samples, got -1"),
    ("hypotheses", 0, "hypotheses must be between 1 and 64 samples, got 0"),
    ("photo_hypotheses", 1000, "photo_hypotheses must be between 1 and 64 samples, got 1000"),
    ("fov_deg", 0, "fov_deg must be between 1 and 170 degrees, got 0"),
    ("fov_deg", float("nan"), "fov_deg must be a finite number, got nan"),
    ("focal_px", 0.0, "focal_px must be between 1 and 1e+06 pixels, got 0"),
    ("focal_px", -500.0, "focal_px must be between 1 and 1e+06 pixels, got -500"),
    ("process_width", 1, "process_width must be between 32 and 8192 pixels, got 1"),
    ("process_width", 640.5, "process_width must be a whole number, got 640.5"),
    ("fps", 0, "fps must be between 0.1 and 1000 frames per second, got 0"),
    ("fps", float("inf"), "fps must be a finite number, got inf"),
    ("jump_threshold", 0, "jump_threshold must be between 0.001 and 100 box fractions, got 0"),
    ("smooth_min_cutoff", 0, "smooth_min_cutoff must be between 0.01 and 100 Hz, got 0"),
    ("smooth_beta", -1.0, "smooth_beta must be between 0 and 1000 s/m, got -1"),
    ("torch_threads", -1, "torch_threads must be between 0 and 1024 threads, got -1"),
    ("min_detection_confidence", 2.0, "min_detection_confidence must be between 0 and 1 (a probability), got 2"),
    ("min_keypoint_confidence", -0.5, "min_keypoint_confidence must be between 0 and 1 (a probability), got -0.5"),
    ("scene_cut_correlation", 5, "scene_cut_correlation must be between -1 and 1 (a correlation), got 5"),
    ("device", "banana", "device must be cpu or cuda[:N], got 'banana'"),
    ("device", "cuda:x", "device must be cpu or cuda[:N], got 'cuda:x'"),
    ("backend", "tpu", "backend must be one of auto, eager, compile, onnx, tensorrt, got 'tpu'"),
    ("body_model", "horse", "body_model must be one of anny, smpl, smplx, got 'horse'"),
    ("weights", 3, "weights must be a path, got 3"),
    ("dat", "yes", "dat must be True or False, got 'yes'"),
    ("smooth", None, "smooth must be True or False, got None"),
    ("static_image_mode", 1, "static_image_mode must be True or False, got 1"),
    ("hypotheses", True, "hypotheses must be a number, got True"),
]


@pytest.mark.parametrize("name, value, text", NONSENSE, ids=[f"{n}={v!r}" for n, v, _ in NONSENSE])
def test_live_options_refuse_nonsense_at_construction(name, value, text):
    with pytest.raises(ValueError) as err:
        LiveOptions(**{name: value})
    assert str(err.value) == text
    with pytest.raises(ValueError):
        DEFAULTS.replace(**{name: value})  # replace() goes through the same checks


def test_live_options_refuse_a_model_path_for_anny_and_accept_sane_values():
    with pytest.raises(ValueError, match="^model_path is for body_model smpl/smplx"):
        LiveOptions(model_path=Path("SMPL_NEUTRAL.pkl"))
    LiveOptions(body_model="smpl", model_path="SMPL_NEUTRAL.pkl", device="cuda:1", focal_px=900, fps=24,
                torch_threads=0, smooth_beta=0.0, steps=np.int64(3), hypotheses=np.int32(4), dat=np.bool_(False))
    assert DEFAULTS.problem() is None


@pytest.mark.parametrize("flag, value, field", [
    ("--fov", "0", "fov_deg"), ("--fov", "nan", "fov_deg"), ("--hypotheses", "1000", "hypotheses"),
    ("--process-width", "1", "process_width"), ("--fps", "0.01", "fps"), ("--smooth-beta", "-2", "smooth_beta"),
    ("--threads", "5000", "torch_threads"), ("--focal", "1e-30", "focal_px"),
])
def test_the_command_line_and_the_options_share_one_check(capsys, flag, value, field):
    """The same bounds and the same words, named by the flag on the command line."""
    from realtime import app

    parser = app.build_parser()
    args = parser.parse_args([flag, value])
    with pytest.raises(SystemExit) as exit_:
        app.check_values(parser, args)
    assert exit_.value.code == 2
    number = float(value) if field in ("fov_deg", "fps", "smooth_beta", "focal_px") else int(value)
    expected = value_problem(field, number, flag)
    assert expected and capsys.readouterr().err.strip() == f"run_live.py: error: {expected} (see --help)"
    with pytest.raises(ValueError) as err:
        LiveOptions(**{field: number})
    assert str(err.value) == expected.replace(flag, field, 1)


# -- LiveRecovery ----------------------------------------------------------------------------


class TemplateDetect:
    """The detect stage's job without MediaPipe: the warm-up's template person in every frame."""

    def __init__(self, live):
        self.live = live

    def __call__(self, record):
        height, width = record.frame.image.shape[:2]
        record.landmarks = self.live._template_landmarks(width, height)


class WobblyModel:
    """HMDiff.recover's signature; the mesh moves 4 cm left and right every other call."""

    def __init__(self):
        self.calls = 0

    def recover(self, prior, steps=5, hypotheses=1, warm_start=None, dat=True, timings=None, mirror=False,
                generator=None, shape=None):
        import torch

        v = torch.zeros(1, 20, 3) + torch.tensor([0.04 * (self.calls % 2), 0.0, 3.0])
        self.calls += 1
        return SimpleNamespace(vertices=v, joints=v[:, :17], spread=torch.zeros(1, 20), h0=torch.zeros(1, 4, 3),
                               steps_used=steps, dat_steps=1)


def stub_live(**changes):
    from realtime.live import LiveRecovery

    live = LiveRecovery(LiveOptions(**changes), model=WobblyModel())
    live.detect = TemplateDetect(live)
    return live


def test_process_after_close_is_refused_in_one_line():
    live = stub_live()
    image = np.zeros((120, 160, 3), np.uint8)
    assert live.process(image).mesh
    live.close()
    live.close()  # idempotent
    for use in (lambda: live.process(image), lambda: live.warmup((160, 120)), live.stages):
        with pytest.raises(RuntimeError) as err:
            use()
        assert str(err.value) == "this LiveRecovery is closed"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "backwards", "repeated"])
def test_a_bad_timestamp_never_turns_the_smoothed_mesh_nan(bad, caplog):
    """NaN, inf or a time that runs backwards: the frame clock (previous + 1/fps) replaces it, the
    smoothing goes on (the frame is filtered, not restarted) and the mesh stays finite."""
    live = stub_live(smooth=True, fps=30.0)
    assert live.options.stream.smooth
    image = np.zeros((120, 160, 3), np.uint8)
    times = [0.0, 1 / 30, {"backwards": 0.01, "repeated": 1 / 30}.get(bad, bad), 3 / 30, 4 / 30, 5 / 30]
    raw_x = [0.04 * (i % 2) for i in range(len(times))]
    with live, caplog.at_level("WARNING", logger="realtime.live"):
        results = [live.process(image, t) for t in times]
    for i, result in enumerate(results):
        assert np.isfinite(result.vertices).all() and np.isfinite(result.joints).all(), i
        if i:  # the track continued: every later frame smoothed toward the last, none restarted raw
            assert abs(result.vertices[0, 0] - raw_x[i]) > 1e-3, (i, result.vertices[0, 0])
    assert [r.message for r in caplog.records if "frame clock" in r.message][0].startswith("timestamp ")
    assert sum("frame clock" in r.message for r in caplog.records) == 1  # said once per stream


def test_a_timestamp_that_is_not_a_number_is_refused_in_one_line():
    with stub_live() as live:
        with pytest.raises(ValueError, match=r"^timestamp must be a number of seconds, got '1\.5 s'$"):
            live.process(np.zeros((120, 160, 3), np.uint8), "1.5 s")


def test_process_width_downscales_a_wider_image_first():
    """As the command line's sources do: keypoints and intrinsics in the processed image's pixels."""
    with stub_live(process_width=320) as live:
        wide = live.process(np.zeros((720, 1280, 3), np.uint8))
        narrow = live.process(np.zeros((120, 160, 3), np.uint8))  # never upscaled
    assert math.isclose(wide.scale, 0.25) and narrow.scale == 1.0
    assert wide.principal.tolist() == [159.5, 89.5] and narrow.principal.tolist() == [79.5, 59.5]
    assert (wide.keypoints < [320, 180]).all() and wide.mesh
