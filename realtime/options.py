"""Every runtime default of the live product in one dataclass (light: no torch, no MediaPipe).

``run_live.py`` fills :class:`LiveOptions` from its arguments (its defaults are read from here),
:class:`realtime.live.LiveRecovery` and the stages take it, and the evaluation and benchmark tools
start from :data:`DEFAULTS`; no other module of ``realtime/`` repeats these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from models.stream import SmoothingSettings, StreamSettings

STREAM = StreamSettings()  # the stream's shipped settings


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
    fov_deg: float = 60.0
    focal_px: float | None = None

    # Recovery (HMDiff). A stream's settings default to ``models.stream.StreamSettings`` (their one
    # home, shared with ``models.evaluate --track``); the reasons are given there and in BENCHMARKS.md.
    steps: int = STREAM.steps  # DDIM steps of a frame that starts from noise (photos and the stream)
    warm_steps: int = STREAM.warm_steps  # DDIM steps of a warm-started frame (``warm_start``)
    hypotheses: int = STREAM.hypotheses  # samples per stream frame; their mean is the mesh
    photo_hypotheses: int = 8  # samples averaged per photo (static_image_mode): their mean is the more
    # accurate mesh (BENCHMARKS.md), and a photo has no frame budget
    photo_mirror: bool = True  # half of a photo's samples see the mirrored image (mirrored back):
    # cancels the network's left/right biases at no extra cost (BENCHMARKS.md, v5)
    stream_mirror: bool = STREAM.mirror  # the same for a stream frame that starts cold (even ``hypotheses``)
    dat: bool = STREAM.dat  # distribution-alignment guidance toward the 2D/3D prior
    warm_start: bool = STREAM.warm_start  # start from the previous frame's mesh re-noised, while the track goes on
    fixed_noise: bool = STREAM.fixed_noise  # the same noise at every frame: the mesh is a deterministic,
    # steady function of the detector's output instead of a new draw each frame
    jump_threshold: float = STREAM.jump_threshold  # keypoint move, as a fraction of the box, that restarts the track
    smooth: bool = STREAM.smooth  # One Euro smoothing of vertices and joints along a track (restarts on cuts, jumps)
    smooth_min_cutoff: float = STREAM.smoothing.min_cutoff  # its cutoff at rest, Hz (lower: steadier, more lag)
    smooth_beta: float = STREAM.smoothing.beta  # how fast the cutoff rises with speed, s/m (higher: less lag)

    # Model.
    weights: Path | None = None  # HMDiff checkpoint (None: the shipped weights)
    backend: str = "auto"  # denoiser backend (models.hmdiff.backends)
    device: str = "cpu"
    torch_threads: int = 0  # torch's CPU threads; 0: one for a stream (its ops are tiny at batch 1-2
    # and the pipeline detects the next frame on the other core meanwhile;
    # p95 ratio 1.32-1.43 in 4 runs against 1.25-1.56 with two, BENCHMARKS.md), torch's own for photos

    # Sources and playback.
    fps: float = 30.0  # playback rate of images / synthetic frames; fallback when a video has none
    process_width: int = 640  # frames are downscaled to this width before anything else

    # Start-up: run every first call (MediaPipe, Numba, ONNX Runtime, torch) on dummy frames
    # before the first real one, so that the first second of a live run drops no more than the rest.
    warmup: bool = True

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


DEFAULTS = LiveOptions()
