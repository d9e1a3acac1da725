"""MediaPipe on real video frames (../shared/data/videos/taiji.mp4; skipped when absent)."""
from __future__ import annotations

import time

import numpy as np

from realtime.detect import DetectStage
from realtime.record import FrameRecord
from realtime.sources import VideoSource


def test_mediapipe_tracks_the_person_in_taiji(shared_dir):
    from models.landmarks import PoseDetector

    with VideoSource(shared_dir / "data" / "videos" / "taiji.mp4", every_frame=True) as source:
        records = [FrameRecord(frame) for frame, _ in zip(source.frames(), range(8))]
    detector = PoseDetector(static_image_mode=False)
    stage = DetectStage(detector)
    try:
        start = time.perf_counter()
        for record in records:
            stage(record)
        ms = (time.perf_counter() - start) / len(records) * 1e3
    finally:
        detector.close()
    print(f"MediaPipe Pose (tracking, 640x360): {ms:.1f} ms/frame")
    assert records[0].frame.image.shape == (360, 640, 3)
    assert sum(r.person for r in records) >= 7 and not any(r.cut for r in records)
    lm = records[-1].landmarks
    assert lm.image_xy.shape == (33, 2) and lm.world.shape == (33, 3)
    assert (lm.image_xy[[11, 12, 23, 24]] > 0).all() and (lm.image_xy[:, 0] < 640).all()
    assert np.median(lm.visibility[[11, 12, 23, 24]]) > 0.8  # shoulders and hips clearly seen


def test_prior_stage_maps_landmarks_and_intrinsics():
    from models.skeletons import MEDIAPIPE_TO_COCO17
    from models.landmarks import Landmarks
    from realtime.prior import Intrinsics, PriorStage
    from realtime.sources import Frame

    rng = np.random.default_rng(0)
    landmarks = Landmarks(image_xy=rng.uniform([200, 50], [440, 330], (33, 2)).astype(np.float32),
                          visibility=rng.uniform(0, 1, 33).astype(np.float32), world=np.zeros((33, 3), np.float32))
    frame = Frame(0, 0.0, 0.0, np.zeros((360, 640, 3), np.uint8), 0.5, 0.0)
    record = FrameRecord(frame, landmarks=landmarks)
    PriorStage(Intrinsics(fov_deg=60.0))(record)
    np.testing.assert_array_equal(record.keypoints, landmarks.image_xy[MEDIAPIPE_TO_COCO17])
    np.testing.assert_array_equal(record.confidence, landmarks.visibility[MEDIAPIPE_TO_COCO17])
    np.testing.assert_allclose(record.focal, 320 / np.tan(np.radians(30)), rtol=1e-6)
    np.testing.assert_allclose(record.principal, [319.5, 179.5])
    prior = record.prior
    assert prior.keypoints.shape == (1, 17, 2) and prior.heatmaps.shape[:2] == (1, 17)
    np.testing.assert_allclose(prior.image_size[0].numpy(), [640, 360])
    assert Intrinsics(focal_px=1000.0)(frame)[0][0] == 500.0  # source pixels, scaled with the frame
    assert Intrinsics()(Frame(0, 0.0, 0.0, frame.image, 1.0, 0.0, focal=700.0))[0][0] == 700.0

    empty = FrameRecord(frame)
    PriorStage(Intrinsics())(empty)
    assert empty.prior is None and empty.keypoints is None and empty.focal is not None
