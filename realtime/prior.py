"""Landmarks → COCO-17 keypoints and confidence → the heatmap prior (``models.prior``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.camera import intrinsics
from models.landmarks import coco17, prior_from_landmarks
from realtime.record import FrameRecord
from realtime.sources import Frame


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the processed frame, principal point at the image centre
    (``(W - 1) / 2``: pixel centres at whole coordinates, ``models.camera``).

    The focal length is, in order: ``focal_px`` (source pixels, e.g. from a calibration), the
    source's own focal (the synthetic renderer knows it), or a ``fov_deg`` horizontal field of view.
    """

    fov_deg: float = 60.0
    focal_px: float | None = None

    def __call__(self, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        """(focal (2,), principal (2,)) in pixels of ``frame.image``."""
        height, width = frame.image.shape[:2]
        source_focal = self.focal_px or frame.focal
        return intrinsics(width, height, self.fov_deg, source_focal * frame.scale if source_focal else None)


class PriorStage:
    """Pipeline stage: fills the intrinsics and, with a person, ``keypoints``, ``confidence``
    and ``prior`` of a record. Frames without a person get no prior (and so, later, no mesh).
    """

    def __init__(self, intrinsics: Intrinsics) -> None:
        self.intrinsics = intrinsics

    def __call__(self, record: FrameRecord) -> None:
        record.focal, record.principal = self.intrinsics(record.frame)
        if record.landmarks is None:
            return
        record.keypoints, record.confidence = coco17(record.landmarks)
        height, width = record.frame.image.shape[:2]
        record.prior = prior_from_landmarks(record.landmarks, record.focal, record.principal, (width, height))
