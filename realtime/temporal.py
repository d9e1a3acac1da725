"""Frame-to-frame logic: scene cuts, keypoint jumps and One Euro smoothing."""
from __future__ import annotations

import math

import cv2
import numpy as np


class SceneCutDetector:
    """Flags a cut when the grey-level histograms of consecutive frames stop correlating."""

    def __init__(self, min_correlation: float = 0.6, bins: int = 32) -> None:
        self.min_correlation, self.bins = min_correlation, bins
        self._previous: np.ndarray | None = None

    def __call__(self, image_bgr: np.ndarray) -> bool:
        small = cv2.resize(image_bgr, (64, 64), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        hist = cv2.calcHist([grey], [0], None, [self.bins], [0, 256])
        cv2.normalize(hist, hist)
        previous, self._previous = self._previous, hist
        return previous is not None and cv2.compareHist(previous, hist, cv2.HISTCMP_CORREL) < self.min_correlation


def is_jump(
    previous: np.ndarray,
    current: np.ndarray,
    confidence: np.ndarray,
    threshold: float = 0.2,
    min_confidence: float = 0.5,
    min_joints: int = 4,
) -> bool:
    """Whether 2D keypoints (J, 2) moved too far for a warm start.

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
    speed so fast motion lags little.
    """

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.5, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

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
        if self._x is None or dt <= 0:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()
