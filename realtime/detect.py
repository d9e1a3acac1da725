"""The detect stage: MediaPipe Pose (``models.landmarks``) plus scene cuts.

A stream (video, camera, the synthetic world) is tracked: MediaPipe starts each frame from the
previous frame's region and a histogram test flags scene cuts. Unrelated frames (a folder of
photos) are each detected on their own (MediaPipe's static image mode) and every one counts as a
cut, so that nothing (tracking region, warm start, smoothing) carries from one photo to the next.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from models.landmarks import Landmarks
from realtime.options import DEFAULTS, LiveOptions
from realtime.temporal import SceneCutDetector

if TYPE_CHECKING:
    from realtime.record import FrameRecord


def make_detector(options: LiveOptions = DEFAULTS):
    """MediaPipe Pose configured by ``options`` (static image mode or tracking)."""
    from models.landmarks import PoseDetector

    return PoseDetector(static_image_mode=options.static_image_mode,
                        min_detection_confidence=options.min_detection_confidence,
                        min_tracking_confidence=options.min_tracking_confidence)


class DetectStage:
    """Pipeline stage: fills ``landmarks`` (None when no person) and ``cut`` of a record.

    ``detector`` is a :class:`models.landmarks.PoseDetector` (tracking: ~22 ms per 640-wide frame
    on two cores) or any callable with its signature. With ``independent`` every frame is a cut
    (use it with a static-mode detector for photos).
    """

    def __init__(self, detector: Callable[[np.ndarray], Landmarks | None], independent: bool = False,
                 cut_correlation: float = DEFAULTS.scene_cut_correlation) -> None:
        self.detector = detector
        self.independent = independent
        self.cuts = SceneCutDetector(cut_correlation)

    def __call__(self, record: FrameRecord) -> None:
        record.cut = True if self.independent else self.cuts(record.frame.image)
        record.landmarks = self.detector(record.frame.image)
