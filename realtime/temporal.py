"""Scene cuts between video frames (the track logic itself, jumps and smoothing, is ``models.stream``)."""
from __future__ import annotations

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
