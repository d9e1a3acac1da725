"""The detect stage: MediaPipe Pose in tracking mode (``models.landmarks``) plus scene cuts."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from models.landmarks import Landmarks
from realtime.temporal import SceneCutDetector

if TYPE_CHECKING:
    from realtime.record import FrameRecord


class DetectStage:
    """Pipeline stage: fills ``landmarks`` (None when no person) and ``cut`` of a record.

    ``detector`` is a :class:`models.landmarks.PoseDetector` with ``static_image_mode=False``
    (tracking, ~22 ms per 640-wide frame on two cores) or any callable with its signature.
    """

    def __init__(self, detector: Callable[[np.ndarray], Landmarks | None]) -> None:
        self.detector = detector
        self.cuts = SceneCutDetector()

    def __call__(self, record: FrameRecord) -> None:
        record.cut = self.cuts(record.frame.image)
        record.landmarks = self.detector(record.frame.image)
