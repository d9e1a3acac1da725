"""COCO-17 and MediaPipe Pose facts, in one place: joint names and order, the skeleton's edges,
left/right twins, the hips, and which of MediaPipe's 33 landmarks each COCO-17 joint is.

Body-model-specific joint sets (Human3.6M-17, LSP-14 and their regressors) stay in
``models.body.joints``; these are the detector's and the network's keypoint conventions.
"""
from __future__ import annotations

COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# The skeleton drawn over COCO-17 (left before right).
COCO17_EDGES = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)
COCO17_HIPS = (COCO17.index("left_hip"), COCO17.index("right_hip"))  # (11, 12): their mean is the pelvis
LIMB_PARTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
COCO17_LIMBS = [i for i, name in enumerate(COCO17) if name.split("_")[-1] in LIMB_PARTS]  # the 12 limb joints

MEDIAPIPE_NUM_LANDMARKS = 33
# MediaPipe Pose's landmark index of each COCO-17 joint, in COCO-17 order.
MEDIAPIPE_TO_COCO17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def twin(name: str) -> str:
    """A joint name's left/right twin (itself for the midline)."""
    for side, other in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(side):
            return other + name[len(side):]
    return name


COCO17_TWINS = [COCO17.index(twin(name)) for name in COCO17]  # each joint's mirror image
