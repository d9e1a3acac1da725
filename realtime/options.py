"""Every runtime default of the live product in one dataclass (light: no torch, no MediaPipe).

``run_live.py`` fills :class:`LiveOptions` from its arguments (its defaults are read from here),
:class:`realtime.live.LiveRecovery` and the stages take it, and the evaluation and benchmark tools
start from :data:`DEFAULTS`; no other module of ``realtime/`` repeats these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path


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

    # Recovery (HMDiff).
    steps: int = 2  # DDIM steps from noise (cold start): 2 beat 5 on real poses (BENCHMARKS.md, v4)
    warm_steps: int = 1  # DDIM steps of a warm-started frame, from the re-noised previous mesh: 1 is
    # as accurate as 2 on rendered sequences, one network call cheaper (BENCHMARKS.md, warm vs cold)
    hypotheses: int = 1  # samples per frame of a stream (latency); more than one colours the uncertainty
    photo_hypotheses: int = 8  # samples averaged per photo (static_image_mode): their mean is the more
    # accurate mesh (BENCHMARKS.md), and a photo has no frame budget
    photo_mirror: bool = True  # half of a photo's samples see the mirrored image (mirrored back):
    # cancels the network's left/right biases at no extra cost (BENCHMARKS.md, v5)
    dat: bool = True  # distribution-alignment guidance toward the 2D/3D prior
    warm_start: bool = True  # start from the previous frame's mesh while the track continues
    jump_threshold: float = 0.2  # keypoint move, as a fraction of the box, that restarts from noise
    smooth: bool = False  # One Euro smoothing of vertices and joints along a track: 4x less jitter on
    # rendered sequences, but the overlay visibly trails fast moves (BENCHMARKS.md, warm vs cold)

    # Model.
    weights: Path | None = None  # HMDiff checkpoint (None: the shipped weights)
    backend: str = "auto"  # denoiser backend (models.hmdiff.backends)
    device: str = "cpu"
    torch_threads: int = 0  # torch's CPU threads; 0: one for a stream with one sample a frame (its
    # ops are tiny at batch 1 and the pipeline detects the next frame on the other core meanwhile;
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


DEFAULTS = LiveOptions()
