"""Every runtime default of the live product in one dataclass (light: no torch, no MediaPipe).

``run_live.py`` fills :class:`LiveOptions` from its arguments (their defaults and help are read from here),
:class:`realtime.live.LiveRecovery` and the stages take it, and the evaluation and benchmark tools
start from :data:`DEFAULTS`; no other module of ``realtime/`` repeats these numbers.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

from models.body_shape import ESTIMATE
from models.stream import SmoothingSettings, StreamSettings

STREAM = StreamSettings()  # the stream's shipped settings

# The checks of every field, shared by LiveOptions (at construction) and the command line
# (realtime/app.py: the same messages with the flag's name); one home for the bounds.
BODY_MODELS = ("anny", "smpl", "smplx")
BACKENDS = ("auto", "eager", "compile", "onnx", "tensorrt")  # models.hmdiff.backends.BACKENDS, without torch
RANGES: dict[str, tuple[float, float, str]] = {  # numeric fields: (low, high, unit), bounds included
    "min_detection_confidence": (0.0, 1.0, "(a probability)"), "min_tracking_confidence": (0.0, 1.0, "(a probability)"),
    "min_keypoint_confidence": (0.0, 1.0, "(a probability)"), "scene_cut_correlation": (-1.0, 1.0, "(a correlation)"),
    "fov_deg": (1.0, 170.0, "degrees"), "focal_px": (1.0, 1e6, "pixels"),
    "hypotheses": (1, 64, "samples"), "photo_hypotheses": (1, 64, "samples"),
    "jump_threshold": (0.001, 100.0, "box fractions"), "smooth_min_cutoff": (0.01, 100.0, "Hz"),
    "smooth_beta": (0.0, 1000.0, "s/m"), "torch_threads": (0, 1024, "threads"),
    "fps": (0.1, 1000.0, "frames per second"), "process_width": (32, 8192, "pixels"),
}
INTEGERS = ("steps", "warm_steps", "hypotheses", "photo_hypotheses", "torch_threads", "process_width")
POSITIVE = ("steps", "warm_steps")  # bounded above by the weights' diffusion schedule (steps_problem)
OPTIONAL = ("focal_px", "weights", "model_path")  # None allowed


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's too


def value_problem(name: str, value: object, label: str | None = None) -> str | None:
    """Why ``value`` cannot be field ``name`` of :class:`LiveOptions` (None if it can), in one line
    that names it ``label`` (default: the field's name; the command line passes its flag)."""
    label = label or name
    if value is None and name in OPTIONAL:
        return None
    if name in RANGES or name in POSITIVE:
        if _is_bool(value) or not isinstance(value, (int, float)) and type(value).__module__ != "numpy":
            return f"{label} must be a number, got {value!r}"
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"{label} must be a number, got {value!r}"
        if not math.isfinite(number):
            return f"{label} must be a finite number, got {value}"
        if name in INTEGERS and number != int(number):
            return f"{label} must be a whole number, got {value}"
        if name in POSITIVE and number <= 0:
            return f"{label} must be positive, got {value:g}"
        if name in RANGES:
            low, high, unit = RANGES[name]
            if not low <= number <= high:
                return f"{label} must be between {low:g} and {high:g} {unit}, got {number:g}"
        return None
    if name in ("weights", "model_path"):
        return None if isinstance(value, (str, os.PathLike)) else f"{label} must be a path, got {value!r}"
    if name == "body_model":
        return None if value in BODY_MODELS else f"{label} must be one of {', '.join(BODY_MODELS)}, got {value!r}"
    if name == "backend":
        return None if value in BACKENDS else f"{label} must be one of {', '.join(BACKENDS)}, got {value!r}"
    if name == "device":
        ok = isinstance(value, str) and re.fullmatch(r"cpu|cuda(:\d+)?", value)
        return None if ok else f"{label} must be cpu or cuda[:N], got {value!r}"
    if name == "body_shape":
        from models.body_shape import shape_problem

        return shape_problem(value, label)
    default = next((f.default for f in fields(LiveOptions) if f.name == name), None)
    if _is_bool(default) and not _is_bool(value):
        return f"{label} must be True or False, got {value!r}"
    return None


def pairing_problem(body_model: str, model_path: object, body_shape: object,
                    label: Callable[[str], str] = str) -> str | None:
    """Why fields that are fine alone cannot go together (None if they can), in one line that names
    each field ``label(name)`` (the command line passes its flags)."""
    if model_path is not None and body_model == "anny":
        return f"{label('model_path')} is for {label('body_model')} smpl/smplx (anny ships with its package)"
    if body_shape == ESTIMATE and body_model != "anny":
        return f"{label('body_shape')} estimate reads anny's phenotypes: it needs {label('body_model')} anny"
    return None


def _opt(default, help: str):
    """A field with its command-line help (``{default}``: its default; ``{name}``: another field's)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class LiveOptions:
    """How one frame (or a stream of frames) is turned into a mesh."""

    # Detection (MediaPipe Pose). Photos and other unrelated frames: every frame on its own
    # (``static_image_mode``); video and camera: tracking from the previous frame.
    static_image_mode: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_keypoint_confidence: float = 0.5  # a keypoint counts as seen (jump test) from this visibility
    scene_cut_correlation: float = 0.6  # grey-histogram correlation below which a video cuts

    # Camera: the source's own focal length when it knows it, else ``focal_px``, else ``fov_deg``.
    fov_deg: float = _opt(60.0, "horizontal field of view, degrees ({default:g})")
    focal_px: float | None = _opt(None, "focal length in source pixels (overrides --fov)")

    # Recovery (HMDiff). A stream's settings default to ``models.stream.StreamSettings`` (their one
    # home, shared with ``models.evaluate --track``); the reasons are given there and in BENCHMARKS.md.
    steps: int = _opt(STREAM.steps, "DDIM steps from noise, cold start ({default})")  # 2 beat 5 on real poses
    warm_steps: int = _opt(STREAM.warm_steps, "DDIM steps of a warm-started frame (--warm-start), from the re-noised "
                                              "previous mesh ({default})")
    hypotheses: int = _opt(STREAM.hypotheses, "samples per frame, their mean is the mesh (a stream {default}, photos "
                                              "{photo_hypotheses})")
    photo_hypotheses: int = 8  # samples averaged per photo (static_image_mode): their mean is the more
    # accurate mesh (BENCHMARKS.md), and a photo has no frame budget
    photo_mirror: bool = _opt(True, "no test-time mirroring (by default half of a cold frame's samples, a photo's "
                                    "or a stream frame's, see the mirrored image)")  # half of a photo's samples see the mirrored image (mirrored back):
    # cancels the network's left/right biases at no extra cost (BENCHMARKS.md, v5)
    stream_mirror: bool = STREAM.mirror  # the same for a stream frame that starts cold (even ``hypotheses``)
    dat: bool = _opt(STREAM.dat, "no distribution-alignment guidance")  # guidance toward the 2D/3D prior
    warm_start: bool = _opt(STREAM.warm_start, "start a stream frame from the previous mesh re-noised instead of "
                                               "from noise")
    fixed_noise: bool = _opt(STREAM.fixed_noise, "the same noise at every stream frame: a steady mesh instead of a "
                                                 "new draw each frame")
    jump_threshold: float = _opt(STREAM.jump_threshold, "keypoint move, as a fraction of the box, that restarts the "
                                                        "track ({default:g})")
    smooth: bool = _opt(STREAM.smooth, "One Euro smoothing of vertices and joints along a track (restarts on cuts "
                                       "and jumps)")
    smooth_min_cutoff: float = _opt(STREAM.smoothing.min_cutoff, "--smooth: cutoff at rest, Hz; lower is steadier "
                                                                  "and later ({default:g})")
    smooth_beta: float = _opt(STREAM.smoothing.beta, "--smooth: how fast the cutoff rises with speed, s/m; higher "
                                                     "lags less ({default:g})")

    # Model.
    weights: Path | None = _opt(None, "HMDiff checkpoint (default: the shipped weights)")
    body_model: str = _opt("anny", "the body model of the weights and of the mesh: anny, smpl or smplx ({default})")
    model_path: Path | None = _opt(None, "SMPL/SMPL-X model file for --body-model smpl/smplx")
    backend: str = _opt("auto", "denoiser backend: auto picks the fastest available (onnx on CPU, tensorrt then "
                                "compile on CUDA); one that cannot load falls back to eager")  # models.hmdiff.backends
    device: str = "cpu"
    torch_threads: int = _opt(0, "torch CPU threads (default: 1 for a stream, so that the detector keeps the other "
                                 "core; torch's own number for photos)")  # 0: one for a stream (its ops are tiny
    # at batch 1-2 and the pipeline detects the next frame on the other core meanwhile;
    # p95 ratio 1.32-1.43 in 4 runs against 1.25-1.56 with two, BENCHMARKS.md), torch's own for photos
    body_shape: tuple[float, ...] | str | None = _opt(None, "the body's 6 anny phenotypes in [0, 1] (gender 0 male .. "
                                                           "1 female, age, muscle, weight, height, proportions), the "
                                                           "same on every frame and in the exports (default: a median "
                                                           "adult of neither sex); 'estimate': pooled along each track "
                                                           "from the recovered bodies (at chance on real people's sex)")

    # Sources and playback.
    fps: float = _opt(30.0, "camera frame rate; playback rate of images/synthetic")  # fallback when a video has none
    process_width: int = _opt(640, "resize frames to this width ({default})")  # before anything else

    # Start-up: run every first call (MediaPipe, Numba, ONNX Runtime, torch) on dummy frames
    # before the first real one, so that the first second of a live run drops no more than the rest.
    warmup: bool = _opt(True, "skip the warm-up (first calls of MediaPipe, the kernels and the denoiser on a dummy "
                              "frame before the first real one)")

    def __post_init__(self) -> None:
        """Every field is checked here: a value that cannot work raises ValueError (one line, the
        command line's message with the field's name), never a failure deep inside a later frame."""
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why these options cannot work (the first problem, one line), or None."""
        for f in fields(self):
            problem = value_problem(f.name, getattr(self, f.name))
            if problem:
                return problem
        return pairing_problem(self.body_model, self.model_path, self.body_shape)

    @property
    def frame_hypotheses(self) -> int:
        """Samples per frame in this mode: ``photo_hypotheses`` for photos, else ``hypotheses``."""
        return self.photo_hypotheses if self.static_image_mode else self.hypotheses

    @property
    def frame_mirror(self) -> bool:
        """Whether a cold frame's samples are half mirrored (an even number of them is needed)."""
        mirror = self.photo_mirror if self.static_image_mode else self.stream_mirror
        return mirror and self.frame_hypotheses % 2 == 0

    @property
    def stream(self) -> StreamSettings:
        """What the diffusion stage runs for each frame in this mode (photos: every frame cold, on its
        own, ``photo_hypotheses`` half mirrored; streams: the stream settings)."""
        return StreamSettings(
            steps=self.steps, warm_steps=self.warm_steps, hypotheses=self.frame_hypotheses, dat=self.dat,
            warm_start=self.warm_start and not self.static_image_mode,
            fixed_noise=self.fixed_noise and not self.static_image_mode,
            mirror=self.frame_mirror, smooth=self.smooth and not self.static_image_mode,
            smoothing=SmoothingSettings(self.smooth_min_cutoff, self.smooth_beta),
            jump_threshold=self.jump_threshold, min_keypoint_confidence=self.min_keypoint_confidence,
            shape=self.body_shape,
        )

    @property
    def recovery_threads(self) -> int | None:
        """torch's CPU threads for this mode (None: leave torch's own number)."""
        if self.torch_threads > 0:
            return self.torch_threads
        return None if self.static_image_mode else 1

    def replace(self, **changes: object) -> "LiveOptions":
        """A copy with some fields changed (unknown names raise TypeError)."""
        return replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def help(cls, name: str) -> str:
        """The command-line help of field ``name`` (its ``{default}`` and other fields' names filled in)."""
        values = {f.name: f.default for f in fields(cls)}
        text = next(f for f in fields(cls) if f.name == name).metadata["help"]
        return text.format(default=values[name], **values)


DEFAULTS = LiveOptions()


def steps_problem(options, num_train_steps: int, warm_step: int) -> str | None:
    """Why ``options.steps`` / ``options.warm_steps`` (a :class:`LiveOptions` or parsed arguments)
    do not fit a schedule of ``num_train_steps`` whose warm start re-noises to ``warm_step`` (None if they fit)."""
    if options.steps > num_train_steps:
        return f"--steps must be at most {num_train_steps} (the diffusion schedule's steps), got {options.steps}"
    if options.warm_steps > warm_step:
        return (f"--warm-steps must be at most {warm_step} (a warm start re-noises to step {warm_step}), "
                f"got {options.warm_steps}")
    return None
