"""One stream of frames → one steady mesh per frame: the tracking logic that the live pipeline
(``realtime.recovery.RecoverStage``) and the tracking evaluation (``models.evaluate --track``) share.

:class:`StreamRecovery` decides, frame by frame, whether the track continues (same person, no cut,
no keypoint jump: :func:`is_jump`), runs ``HMDiff.recover`` with the stream's settings
(:class:`StreamSettings`) and smooths the result along the track (:class:`OneEuroFilter`,
restarted when the track breaks). Light module: numpy only (the model is passed in).

Why the defaults are what they are (measured on real Human3.6M motion, ``--track``; BENCHMARKS.md):
a stream frame starts **cold from the same noise at every frame** (``fixed_noise``), not from the
previous mesh re-noised with fresh noise. One DDIM step from pure noise predicts the posterior mean
(at the last diffusion step the noise carries no information about the body), so the mesh is a
smooth, deterministic function of the detector's output: no frame-to-frame redraw of an uncertain
depth. The One Euro filter then removes what the detector's own jitter leaves.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.body_shape import BLEND, DEFAULT_SHAPE, ESTIMATE

NOISE_SEED = 0  # the seed of a stream's fixed noise (any fixed value: the result is a mean)


@dataclass(frozen=True)
class SmoothingSettings:
    """One Euro filter parameters (Casiez et al., CHI 2012); ``min_cutoff`` Hz, ``beta`` s/m."""

    min_cutoff: float = 2.5
    beta: float = 2.0
    d_cutoff: float = 1.0


@dataclass(frozen=True)
class StreamSettings:
    """How a stream frame is recovered. ``realtime.options.LiveOptions`` fills one from its fields."""

    steps: int = 2  # DDIM steps of a frame that starts cold (from noise)
    warm_steps: int = 1  # DDIM steps of a warm-started frame (``warm_start``)
    hypotheses: int = 2  # samples per frame; their mean is the mesh
    dat: bool = True  # distribution-alignment guidance toward the 2D/3D prior
    warm_start: bool = False  # continue from the previous frame's state re-noised to the model's warm_step
    fixed_noise: bool = True  # the same noise at every frame (a deterministic map from prior to mesh)
    mirror: bool = True  # half of a cold frame's samples on the mirrored prior (needs an even number): cancels
    # the network's left/right biases
    smooth: bool = True  # One Euro smoothing of vertices and joints along the track
    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    jump_threshold: float = 0.2  # keypoint move, as a fraction of the box, that restarts the track
    min_keypoint_confidence: float = 0.5  # a keypoint counts as seen (jump test) from this confidence
    shape: tuple[float, ...] | str | None = None  # the body's 6 anny phenotypes (gender 0 male .. 1 female, age, muscle,
    # weight, height, proportions), one for the whole stream; None: the default body (models.body_shape.DEFAULT_SHAPE);
    # "estimate": pooled along each track from the recovered bodies (models.body.phenotype.ShapeTrack, anny only);
    # "blend": the recovered coarse vertices' own local blend (models.body_shape.BLEND, what the evaluation measures)


@dataclass
class StreamFrame:
    """One frame's mesh (numpy, camera frame, metres)."""

    vertices: np.ndarray  # (V, 3) float32
    joints: np.ndarray  # (17, 3) float32, COCO-17
    spread: np.ndarray  # (V,) float32 per-vertex std over hypotheses (zeros for fewer than 3: see _spread)
    steps_used: int
    dat_steps: int
    warm: bool  # started from the previous frame's state
    continues: bool  # the track went on from the previous frame (no cut, jump or lost person)
    shape: np.ndarray | None = None  # (6,) the body's phenotypes (given, default or the track's estimate; None: blend)


def is_jump(
    previous: np.ndarray,
    current: np.ndarray,
    confidence: np.ndarray,
    threshold: float = 0.2,
    min_confidence: float = 0.5,
    min_joints: int = 4,
) -> bool:
    """Whether 2D keypoints (J, 2) moved too far for the track to continue.

    A jump is a mean displacement of the confident joints above ``threshold`` times the current
    box size (the longer side of the confident keypoints' bounding box), or too few confident
    joints to tell.
    """
    keep = confidence >= min_confidence
    if keep.sum() < min_joints:
        return True
    box = float(np.ptp(current[keep], axis=0).max())
    shift = float(np.linalg.norm(current[keep] - previous[keep], axis=1).mean())
    return shift > threshold * max(box, 1.0)


class OneEuroFilter:
    """The One Euro filter (Casiez et al., CHI 2012) applied element-wise to an array.

    ``min_cutoff`` (Hz) sets the smoothing at rest; ``beta`` (per unit/s) lets the cutoff rise with
    speed so fast motion lags little. A time that does not advance (or is not finite) restarts it.
    """

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    @classmethod
    def from_settings(cls, settings: SmoothingSettings) -> "OneEuroFilter":
        return cls(settings.min_cutoff, settings.beta, settings.d_cutoff)

    def reset(self) -> None:
        """Forget the history (after a cut, a jump or a lost person)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        """Filter the value ``x`` observed at time ``t`` (seconds)."""
        dt = t - self._t
        if self._x is None or not dt > 0 or not math.isfinite(dt):
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()


class StreamRecovery:
    """``StreamRecovery(model, settings)(prior, keypoints, confidence, cut, t) -> StreamFrame``.

    ``model``: an ``HMDiff``. One object follows one stream; :meth:`reset` forgets it. ``prior`` is
    a batch of one (``models.prior.Prior``) or None (no person: the track ends, no mesh).
    """

    def __init__(self, model: Any, settings: StreamSettings = StreamSettings()) -> None:
        self.model, self.settings = model, settings
        s = settings.smoothing
        self.filters = (OneEuroFilter.from_settings(s), OneEuroFilter.from_settings(s)) if settings.smooth else None
        self.shape_track = self._shape_track()
        self.reset()

    def _shape_track(self) -> Any:
        """The track's shape estimate, when the settings ask for it (``shape="estimate"``)."""
        if not (isinstance(self.settings.shape, str) and self.settings.shape == ESTIMATE):
            return None
        from models.body.phenotype import ShapeTrack, load_phenotype_estimator

        return ShapeTrack(load_phenotype_estimator())

    def reset(self) -> None:
        """Forget the track (the next frame starts cold, with a new shape)."""
        self._h0 = None
        self._keypoints: np.ndarray | None = None
        if self.shape_track is not None:
            self.shape_track.reset()

    def shape(self) -> np.ndarray | None:
        """The body shape (6,) of the next frame's mesh: the given one, the default body or the track's
        estimate so far; None for the coarse vertices' own blend."""
        s = self.settings.shape
        if self.shape_track is not None:
            return self.shape_track.shape
        if isinstance(s, str):
            return None
        return np.asarray(DEFAULT_SHAPE if s is None else s, np.float32)

    def _spread(self, out: Any) -> np.ndarray:
        """The per-vertex spread the overlay colours; zeros for fewer than 3 samples (a sample and its
        mirror image measure the network's left/right bias, not how uncertain the pose is)."""
        spread = out.spread[0].detach().cpu().numpy().astype(np.float32)
        return spread if self.settings.hypotheses > 2 else np.zeros_like(spread)

    def _fixed_noise(self):
        """A generator at the same seed for every frame, on the model's device."""
        import torch

        net = getattr(self.model, "net", None)
        device = next(net.parameters()).device if net is not None else "cpu"
        return torch.Generator(device=device).manual_seed(NOISE_SEED)

    def continues(self, keypoints: np.ndarray, confidence: np.ndarray, cut: bool) -> bool:
        """Whether a frame with these keypoints continues the track (same person, no cut, no jump)."""
        s = self.settings
        return (self._keypoints is not None and not cut
                and not is_jump(self._keypoints, keypoints, confidence, s.jump_threshold, s.min_keypoint_confidence))

    def __call__(self, prior: Any, keypoints: np.ndarray | None, confidence: np.ndarray | None, cut: bool = False,
                 t: float = 0.0, timings: dict[str, float] | None = None) -> StreamFrame | None:
        if prior is None:  # no person: forget the track, never invent a mesh
            self.reset()
            return None
        s = self.settings
        continues = self.continues(keypoints, confidence, cut)
        if not continues and self.shape_track is not None:
            self.shape_track.reset()  # a new person, or the same one after a cut: a new shape
        warm = s.warm_start and continues
        shape = self.shape()
        out = self.model.recover(
            prior, steps=s.warm_steps if warm else s.steps, hypotheses=s.hypotheses,
            warm_start=self._h0 if warm else None, dat=s.dat, timings=timings,
            generator=self._fixed_noise() if s.fixed_noise else None,
            mirror=s.mirror and not warm, shape=BLEND if shape is None else shape,
        )
        t0 = time.perf_counter()
        if self.shape_track is not None:  # this frame's body joins the track's shape (used from the next frame)
            self.shape_track.update(out.coarse[0], out.joints[0])
        self._h0, self._keypoints = out.h0, keypoints
        vertices = out.vertices[0].detach().cpu().numpy().astype(np.float32)
        joints = out.joints[0].detach().cpu().numpy().astype(np.float32)
        if self.filters is not None:
            if not continues:
                for f in self.filters:
                    f.reset()
            vertices, joints = self.filters[0](t, vertices), self.filters[1](t, joints)
        frame = StreamFrame(vertices=vertices, joints=joints,
                            spread=self._spread(out),
                            steps_used=int(out.steps_used), dat_steps=int(out.dat_steps), warm=warm,
                            continues=continues, shape=shape)
        if timings is not None:
            timings["output"] = (time.perf_counter() - t0) * 1e3  # copies to numpy and smoothing
        return frame
