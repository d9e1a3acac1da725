"""One object for one frame, the way MediaPipe's solutions read:

    from realtime.live import LiveRecovery, LiveOptions

    with LiveRecovery(LiveOptions(static_image_mode=True)) as live:
        result = live.process(cv2.imread("photo.jpg"))
        if result.mesh:
            print(result.vertices.shape, result.joints.shape, result.timing_ms)

:class:`LiveRecovery` owns the detector (MediaPipe Pose, static or tracking), the camera
intrinsics, the HMDiff model and the warm-start state of one stream. :meth:`LiveRecovery.process`
runs one frame through detection, the prior and the diffusion on the calling thread;
:meth:`LiveRecovery.stages` hands the same three stages to the threaded
:class:`realtime.pipeline.Pipeline` (``run_live.py``), the rendered-sequence evaluation and the
benchmark. :meth:`LiveRecovery.warmup` runs every first call (MediaPipe's graph, Numba's kernels,
ONNX Runtime, torch) on a dummy frame so that a live run's first frames are as fast as the rest.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.landmarks import Landmarks
from models.stream import StreamRecovery
from realtime.detect import DetectStage, make_detector
from realtime.options import DEFAULTS, LiveOptions, steps_problem
from realtime.prior import Intrinsics, PriorStage
from realtime.record import FrameRecord
from realtime.recovery import RecoverStage
from realtime.sources import Frame, resize_to_width, to_bgr

__all__ = ["FrameResult", "LiveOptions", "LiveRecovery", "DEFAULTS"]

log = logging.getLogger(__name__)

# A person standing 3 m in front of the camera, facing it (COCO-17 order, camera frame, metres,
# pelvis at the origin): the warm-up's dummy landmarks. Any plausible pose does; only the first
# calls' costs matter.
WARMUP_DEPTH_M = 3.0
WARMUP_COCO17_M = np.array([
    (0.0, -0.60, -0.10), (0.03, -0.64, -0.08), (-0.03, -0.64, -0.08), (0.07, -0.62, 0.0), (-0.07, -0.62, 0.0),
    (0.18, -0.45, 0.0), (-0.18, -0.45, 0.0), (0.22, -0.18, 0.02), (-0.22, -0.18, 0.02), (0.24, 0.05, -0.05),
    (-0.24, 0.05, -0.05), (0.10, 0.0, 0.0), (-0.10, 0.0, 0.0), (0.11, 0.42, 0.0), (-0.11, 0.42, 0.0),
    (0.11, 0.82, 0.02), (-0.11, 0.82, 0.02),
], np.float32)


@dataclass
class FrameResult:
    """What :meth:`LiveRecovery.process` found in one frame (numpy, pixels of the processed image:
    the given one, downscaled to ``LiveOptions.process_width`` when wider, ``scale`` processed pixels
    per given pixel; camera frame in metres). ``vertices``/``joints`` are None without a mesh (no person)."""

    landmarks: Landmarks | None  # MediaPipe's 33 landmarks (image pixels, visibility, world metres)
    keypoints: np.ndarray | None  # (17, 2) COCO-17 pixels
    confidence: np.ndarray | None  # (17,)
    prior: Any  # models.prior.Prior (batch of one) or None
    vertices: np.ndarray | None  # (V, 3) float32 full mesh, camera frame
    joints: np.ndarray | None  # (17, 3) float32 COCO-17, camera frame
    spread: np.ndarray | None  # (V,) per-vertex std over hypotheses (zeros for one)
    steps_used: int  # DDIM steps run (0 without a mesh)
    warm: bool  # continued from the previous frame's mesh
    cut: bool  # a new shot (or an independent photo): nothing carried over
    focal: np.ndarray  # (2,) pixels
    principal: np.ndarray  # (2,) pixels
    timing_ms: dict[str, float] = field(default_factory=dict)  # detect, prior, diffusion (its parts: diffusion/…), total
    faces: np.ndarray | None = None  # (F, 3) int64 the mesh's faces (the body model's), with a mesh
    scale: float = 1.0  # processed pixels per pixel of the given image (< 1: it was wider than process_width)
    shape: np.ndarray | None = None  # (6,) the mesh's anny phenotypes (given, the default body or the track's estimate)

    @property
    def person(self) -> bool:
        return self.landmarks is not None

    @property
    def mesh(self) -> bool:
        return self.vertices is not None

    @classmethod
    def from_record(cls, record: FrameRecord) -> "FrameResult":
        mesh = record.mesh
        return cls(
            landmarks=record.landmarks, keypoints=record.keypoints, confidence=record.confidence, prior=record.prior,
            vertices=None if mesh is None else mesh.vertices, joints=None if mesh is None else mesh.joints,
            spread=None if mesh is None else mesh.spread, steps_used=0 if mesh is None else mesh.steps_used,
            warm=bool(mesh is not None and mesh.warm), cut=record.cut, focal=record.focal,
            principal=record.principal, timing_ms=dict(record.stage_ms), scale=record.frame.scale,
            shape=None if mesh is None else mesh.shape,
        )


class ModelError(RuntimeError):
    """The weights cannot serve the options (unreadable, another body model, another schedule); one line."""


def load_model(options: LiveOptions):
    """The HMDiff model of ``options`` on its device with its denoiser backend selected and
    torch's CPU threads set for the mode (:func:`set_torch_threads`): what ``run_live.py``,
    :class:`LiveRecovery` and the batch runner load. :class:`ModelError` (one line) for weights
    that cannot be read, are for another body model, or whose diffusion schedule
    ``options.steps`` / ``options.warm_steps`` do not fit."""
    from models.hmdiff import CheckpointError, load_hmdiff

    if options.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ModelError(f"device {options.device}: no CUDA GPU is available")
    set_torch_threads(options)

    try:
        model = load_hmdiff(options.weights, device=options.device)
    except CheckpointError as err:
        hint = "" if options.weights else " (no trained HMDiff weights are available yet; pass --weights FILE)"
        raise ModelError(f"{err}{hint}") from None
    trained_on = model.config.body_model
    if options.body_model != trained_on:
        raise ModelError(f"the HMDiff weights are for the {trained_on} body model, not {options.body_model}")
    problem = steps_problem(options, model.config.num_train_steps, model.config.warm_step)
    if problem:
        raise ModelError(f"{problem}, for these weights")
    log.info("denoiser backend: %s on %s", model.use_backend(options.backend), options.device)
    return model


def set_torch_threads(options: LiveOptions) -> None:
    """torch's CPU threads for the mode (``LiveOptions.recovery_threads``; process-wide)."""
    if options.recovery_threads is not None:
        import torch

        torch.set_num_threads(options.recovery_threads)


@functools.lru_cache(maxsize=4)
def mesh_faces(body_model: str = "anny", model_path: Path | None = None) -> tuple[np.ndarray, int]:
    """The full mesh's faces (F, 3) int64 and vertex count of a body model (loaded once per process)."""
    from models.body import shared_body_model

    body = shared_body_model(body_model, model_path)
    return body.faces.cpu().numpy(), body.num_vertices


class LiveRecovery:
    """``LiveRecovery(options).process(image_bgr, timestamp) -> FrameResult``.

    ``model``: an ``HMDiff`` already loaded (else loaded from ``options`` on first use; a
    detector-only user never loads it). One object follows one stream; :meth:`reset` forgets it.
    Not thread-safe: one frame at a time, and not while its :meth:`stages` run in a pipeline.
    After :meth:`close` every use raises ``RuntimeError("this LiveRecovery is closed")``.
    """

    def __init__(self, options: LiveOptions = DEFAULTS, model: Any = None) -> None:
        self.options = options
        self._model = model
        self.detector = make_detector(options)
        self.detect = DetectStage(self.detector, independent=options.static_image_mode,
                                  cut_correlation=options.scene_cut_correlation)
        self.prior = PriorStage(Intrinsics(options.fov_deg, options.focal_px))
        self._recover: RecoverStage | None = None
        self._index = 0
        self._start: float | None = None
        self._last_time: float | None = None  # the previous frame's media time (process)
        self._warned_time = False

    def _check_open(self) -> None:
        if self.detector is None:
            raise RuntimeError("this LiveRecovery is closed")

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.options)
        return self._model

    @property
    def faces(self) -> np.ndarray:
        """The full mesh's faces (F, 3) int64 (the body model's, loaded once per process)."""
        return mesh_faces(self.options.body_model, self.options.model_path)[0]

    @property
    def num_vertices(self) -> int:
        return mesh_faces(self.options.body_model, self.options.model_path)[1]

    @property
    def recover(self) -> RecoverStage:
        if self._recover is None:
            self._recover = RecoverStage.from_options(self.model, self.options)
        return self._recover

    def stages(self, detect_only: bool = False) -> list[tuple[str, Any]]:
        """(name, stage) for :class:`realtime.pipeline.Pipeline`: detect, prior, diffusion."""
        self._check_open()
        if detect_only:
            return [("detect", self.detect)]
        return [("detect", self.detect), ("prior", self.prior), ("diffusion", self.recover)]

    def process(self, image_bgr: np.ndarray, timestamp: float | None = None) -> FrameResult:
        """One frame (BGR uint8; grey and BGRA accepted) → :class:`FrameResult`.

        An image wider than ``options.process_width`` is downscaled to it first (as the command
        line's sources do); the result's keypoints and intrinsics are in the processed image's
        pixels (``result.scale`` of them per given pixel).

        ``timestamp``: seconds on the stream's own clock (smoothing uses it); default: time since
        the first call. A timestamp that is not finite (NaN, inf) or not later than the previous
        frame's is replaced by the frame clock: the previous frame's time plus one frame at
        ``options.fps`` (a warning is logged once per stream), so the mesh never turns NaN and the
        smoothing goes on. Raises ValueError (one line) for something that is not an image or a
        timestamp that is not a number, RuntimeError after :meth:`close`.
        """
        self._check_open()
        image = to_bgr(image_bgr)
        if image is None:
            raise ValueError(f"not an image: expected an (H, W, 3) uint8 BGR array, got {_describe(image_bgr)}")
        image, scale = resize_to_width(image, self.options.process_width)
        self.stages()  # loads the model on first use, outside the frame's timing
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        media_time = self._frame_time(now - self._start if timestamp is None else timestamp)
        record = FrameRecord(Frame(self._index, now, media_time, image, scale, 0.0))
        self._index += 1
        self.process_record(record, start=now)
        result = FrameResult.from_record(record)
        if result.mesh:
            result.faces = self.faces
        return result

    def _frame_time(self, timestamp: object) -> float:
        """``timestamp`` as the frame's media time: the frame clock instead of one that is not
        finite or does not advance (see :meth:`process`)."""
        if isinstance(timestamp, (bool, str, bytes)):
            raise ValueError(f"timestamp must be a number of seconds, got {timestamp!r}")
        try:
            t = float(timestamp)
        except (TypeError, ValueError):
            raise ValueError(f"timestamp must be a number of seconds, got {timestamp!r}") from None
        previous = self._last_time
        if not math.isfinite(t) or (previous is not None and t <= previous):
            clock = 0.0 if previous is None else previous + 1.0 / self.options.fps
            if not self._warned_time and not self.options.static_image_mode:  # photos: no clock to keep
                self._warned_time = True
                log.warning("timestamp %r %s: the frame clock (%.3f s) is used instead (said once per stream)",
                            timestamp, "is not finite" if not math.isfinite(t) else
                            f"is not later than the previous frame's ({previous:.3f} s)", clock)
            t = clock
        self._last_time = t
        return t

    def process_record(self, record: FrameRecord, start: float | None = None) -> FrameRecord:
        """The stages of :meth:`process` on a record of a source's frame (its own index and clocks),
        each timed into ``record.stage_ms`` (``total``: since ``start``, default now); the batch
        runner calls this with its video's frames. Returns ``record``."""
        start = time.perf_counter() if start is None else start
        self._check_open()
        for name, stage in self.stages():
            t0 = time.perf_counter()
            stage(record)
            record.stage_ms[name] = (time.perf_counter() - t0) * 1e3
        record.stage_ms["total"] = (time.perf_counter() - start) * 1e3
        return record

    def warmup(self, image_size: tuple[int, int] = (640, 480), detect_only: bool = False) -> dict[str, float]:
        """Run every first call on dummy input; returns the milliseconds each part took.

        The detector sees an empty frame (so no tracking state is left behind); the model
        recovers a template person over three frames of a throwaway track with the stream's settings
        (the first cold, the next warm when ``warm_start`` is on; Numba's kernels load from their disk
        cache or compile once, ONNX Runtime and torch make their first allocations). The stream's
        own track is untouched.
        """
        self._check_open()
        width, height = image_size
        ms: dict[str, float] = {}
        t0 = time.perf_counter()
        self.detector(np.full((height, width, 3), 127, np.uint8))
        ms["detect"] = (time.perf_counter() - t0) * 1e3
        if detect_only:
            return ms
        t0 = time.perf_counter()
        model = self.model
        ms["model"] = (time.perf_counter() - t0) * 1e3
        record = FrameRecord(Frame(0, 0.0, 0.0, np.zeros((height, width, 3), np.uint8), 1.0, 0.0),
                             landmarks=self._template_landmarks(width, height))
        t0 = time.perf_counter()
        self.prior(record)
        ms["prior"] = (time.perf_counter() - t0) * 1e3
        stream = StreamRecovery(model, self.options.stream)  # the stream's own path, on a throwaway track
        t0 = time.perf_counter()
        stream(record.prior, record.keypoints, record.confidence, t=0.0)
        ms["diffusion_cold"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        for i in (1, 2):
            stream(record.prior, record.keypoints, record.confidence, t=i / self.options.fps)
        ms["diffusion_next"] = (time.perf_counter() - t0) * 1e3 / 2
        return ms

    def _template_landmarks(self, width: int, height: int) -> Landmarks:
        """MediaPipe-like landmarks of :data:`WARMUP_COCO17_M` seen by this object's camera."""
        from models.skeletons import COCO17_HIPS, MEDIAPIPE_NUM_LANDMARKS, MEDIAPIPE_TO_COCO17
        from models.camera import project_points

        focal, principal = self.prior.intrinsics(Frame(0, 0.0, 0.0, np.zeros((height, width, 3), np.uint8), 1.0, 0.0))
        camera = WARMUP_COCO17_M + np.float32([0.0, 0.0, WARMUP_DEPTH_M])
        image_xy = np.zeros((MEDIAPIPE_NUM_LANDMARKS, 2), np.float32)
        visibility = np.zeros(MEDIAPIPE_NUM_LANDMARKS, np.float32)
        world = np.zeros((MEDIAPIPE_NUM_LANDMARKS, 3), np.float32)
        image_xy[MEDIAPIPE_TO_COCO17] = project_points(camera, focal, principal)
        visibility[MEDIAPIPE_TO_COCO17] = 0.9
        world[MEDIAPIPE_TO_COCO17] = WARMUP_COCO17_M - WARMUP_COCO17_M[list(COCO17_HIPS)].mean(0)  # hip-centred
        return Landmarks(image_xy=image_xy, visibility=visibility, world=world)

    def reset(self) -> None:
        """Forget the stream (a new video on the same object): the next frame starts cold, its
        clock at 0. MediaPipe's tracker re-detects by itself when the person is lost."""
        if self._recover is not None:
            self._recover.reset()
        self.detect.cuts = type(self.detect.cuts)(self.options.scene_cut_correlation)
        self._start = None
        self._last_time = None
        self._warned_time = False

    def close(self) -> None:
        """Release MediaPipe's graph (idempotent); the object cannot be used after it."""
        if self.detector is not None:
            self.detector.close()
            self.detector = None

    def __enter__(self) -> "LiveRecovery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
