"""Every runtime default of the live product in one dataclass (light: no torch, no MediaPipe).

``run_live.py`` fills :class:`LiveOptions` from its arguments (their defaults and help are read from here),
:class:`realtime.live.LiveRecovery` and the stages take it, and the evaluation and benchmark tools
start from :data:`DEFAULTS`; no other module of ``realtime/`` repeats these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path


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

    # Recovery (HMDiff).
    steps: int = _opt(2, "DDIM steps from noise, cold start ({default})")  # 2 beat 5 on real poses (BENCHMARKS.md, v4)
    warm_steps: int = _opt(1, "DDIM steps of a warm-started frame, from the re-noised previous mesh ({default})")  # 1 is
    # as accurate as 2 on rendered sequences, one network call cheaper (BENCHMARKS.md, warm vs cold)
    hypotheses: int = _opt(1, "samples per frame, their mean is the mesh; >1 colours uncertainty (a stream "
                              "{default}, photos {photo_hypotheses})")  # a stream's: latency
    photo_hypotheses: int = 8  # samples averaged per photo (static_image_mode): their mean is the more
    # accurate mesh (BENCHMARKS.md), and a photo has no frame budget
    photo_mirror: bool = _opt(True, "photos: no test-time mirroring (by default half of a photo's samples see the "
                                    "mirrored image)")  # half of a photo's samples see the mirrored image (mirrored back):
    # cancels the network's left/right biases at no extra cost (BENCHMARKS.md, v5)
    dat: bool = _opt(True, "no distribution-alignment guidance")  # guidance toward the 2D/3D prior
    warm_start: bool = _opt(True, "start every frame from noise")  # from the previous frame's mesh while the track continues
    jump_threshold: float = _opt(0.2, "keypoint move, as a fraction of the box, that restarts from noise ({default:g})")
    smooth: bool = _opt(False, "One Euro smoothing of vertices and joints along a track (less jitter, some lag)")  # 4x less jitter on
    # rendered sequences, but the overlay visibly trails fast moves (BENCHMARKS.md, warm vs cold)

    # Model.
    weights: Path | None = _opt(None, "HMDiff checkpoint (default: the shipped weights)")
    body_model: str = _opt("anny", "the body model of the weights and of the mesh: anny, smpl or smplx ({default})")
    model_path: Path | None = _opt(None, "SMPL/SMPL-X model file for --body-model smpl/smplx")
    backend: str = _opt("auto", "denoiser backend: auto picks the fastest available (onnx on CPU, tensorrt then "
                                "compile on CUDA); one that cannot load falls back to eager")  # models.hmdiff.backends
    device: str = "cpu"
    torch_threads: int = _opt(0, "torch CPU threads (default: 1 for a stream, so that the detector keeps the other "
                                 "core; torch's own number for photos)")  # 0: one for a stream with one sample a frame (its
    # ops are tiny at batch 1 and the pipeline detects the next frame on the other core meanwhile;
    # p95 ratio 1.32-1.43 in 4 runs against 1.25-1.56 with two, BENCHMARKS.md), torch's own for photos

    # Sources and playback.
    fps: float = _opt(30.0, "camera frame rate; playback rate of images/synthetic")  # fallback when a video has none
    process_width: int = _opt(640, "resize frames to this width ({default})")  # before anything else

    # Start-up: run every first call (MediaPipe, Numba, ONNX Runtime, torch) on dummy frames
    # before the first real one, so that the first second of a live run drops no more than the rest.
    warmup: bool = _opt(True, "skip the warm-up (first calls of MediaPipe, the kernels and the denoiser on a dummy "
                              "frame before the first real one)")

    @property
    def frame_hypotheses(self) -> int:
        """Samples per frame in this mode: ``photo_hypotheses`` for photos, else ``hypotheses``."""
        return self.photo_hypotheses if self.static_image_mode else self.hypotheses

    @property
    def frame_mirror(self) -> bool:
        """Whether a frame's samples are half mirrored: photos with an even number of them."""
        return self.static_image_mode and self.photo_mirror and self.frame_hypotheses % 2 == 0

    @property
    def recovery_threads(self) -> int | None:
        """torch's CPU threads for this mode (None: leave torch's own number)."""
        if self.torch_threads > 0:
            return self.torch_threads
        return 1 if self.frame_hypotheses == 1 else None

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
