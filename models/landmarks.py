"""MediaPipe Pose (0.10.21, legacy solutions API): 33 landmarks with visibility and world points.

Shared by the evaluation (static images) and the live pipeline (tracking mode). Only
``model_complexity=1`` ships inside the wheel; 0 and 2 would try to download.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from models.skeletons import MEDIAPIPE_TO_COCO17
from models.prior import Prior, build_prior

NUM_LANDMARKS = 33


@dataclass
class Landmarks:
    """MediaPipe's 33 pose landmarks for one person."""

    image_xy: np.ndarray  # (33, 2) float32 pixels of the processed frame
    visibility: np.ndarray  # (33,) float32 in [0, 1]
    world: np.ndarray  # (33, 3) float32 metres, hip-centred (MediaPipe's world landmarks)


class PoseDetector:
    """``detector(image_bgr) -> Landmarks | None`` (None when no person is found).

    ``static_image_mode=False`` (tracking) reuses the last frame's region of interest: call it on
    consecutive frames of one stream. ``True`` treats every image on its own.
    """

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")  # silence MediaPipe's INFO/WARNING chatter
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static_image_mode,
            model_complexity=1,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def __call__(self, image_bgr: np.ndarray) -> Landmarks | None:
        height, width = image_bgr.shape[:2]
        result = self._pose.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return None
        image = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32)
        # MediaPipe's x, y run from the image's edge (0) to its far edge (1); ours put pixel
        # centres at whole numbers, hence the half-pixel shift.
        return Landmarks(
            image_xy=image[:, :2] * np.array([width, height], np.float32) - 0.5,
            visibility=np.clip(image[:, 2], 0.0, 1.0),
            world=world,
        )

    def close(self) -> None:
        """Release MediaPipe's graph."""
        self._pose.close()


def coco17(landmarks: Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (17, 2) px and confidences (17,) from MediaPipe's 33 landmarks."""
    return landmarks.image_xy[MEDIAPIPE_TO_COCO17], landmarks.visibility[MEDIAPIPE_TO_COCO17]


def prior_from_landmarks(landmarks: Landmarks, focal: np.ndarray, principal: np.ndarray,
                         image_size: tuple[int, int]) -> Prior:
    """A one-frame prior (batch of one) from MediaPipe's landmarks, visibility as confidence, with
    MediaPipe's world landmarks (hip-centred metres) as the 3D prior of the same COCO-17 joints."""
    keypoints, confidence = coco17(landmarks)
    batch = lambda a: torch.as_tensor(np.asarray(a, np.float32))[None]  # noqa: E731
    return build_prior(batch(keypoints), batch(confidence), batch(focal), batch(principal), batch(image_size),
                       world=batch(landmarks.world[MEDIAPIPE_TO_COCO17]))
