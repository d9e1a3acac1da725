"""Frame sources: errors are one clean message, bad frames are skipped and counted, sizes and pacing."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from realtime import sources
from realtime.sources import CameraSource, ImageFolderSource, SourceError, VideoSource, to_bgr


def write_video(path, n=12, size=(160, 120), fps=25.0, fourcc="mp4v", noise=False):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(n):
        shape = (size[1], size[0], 3)
        writer.write(np.random.default_rng(i).integers(0, 255, shape, np.uint8) if noise else np.full(shape, 10 * i, np.uint8))
    writer.release()
    return path


def test_missing_and_unreadable_sources(tmp_path):
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all")
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    cases = [
        (VideoSource(tmp_path / "missing.mp4"), "video not found"),
        (VideoSource(tmp_path), "not a video file"),
        (VideoSource(tmp_path / "garbage.mp4"), "cannot read video"),
        (ImageFolderSource(tmp_path / "missing"), "image folder not found"),
        (ImageFolderSource(tmp_path / "garbage.mp4"), "not a folder"),
        (ImageFolderSource(tmp_path / "empty"), "no images in"),
        (ImageFolderSource(tmp_path / "notes"), "no images in"),
        (CameraSource(97), "camera 97 could not be opened"),
    ]
    for source, message in cases:
        with pytest.raises(SourceError, match=message) as err:
            source.open()
        assert "\n" not in str(err.value)


def test_image_folder_skips_unreadable_files_and_converts(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((40, 60, 3), 50, np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    cv2.imwrite(str(tmp_path / "c.png"), np.full((40, 60), 200, np.uint8))  # grey
    cv2.imwrite(str(tmp_path / "d.png"), np.full((40, 60, 4), 90, np.uint8))  # with alpha
    with ImageFolderSource(tmp_path) as source:
        frames = list(source.frames())
    assert [f.index for f in frames] == [0, 2, 3] and source.skipped == 1
    assert all(f.image.shape == (40, 60, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[1].image[0, 0].tolist() == [200, 200, 200]
    assert [f.media_time for f in frames] == pytest.approx([0, 2 / 30, 3 / 30]) and source.frame_exact


def test_video_source_frame_exact_and_resized(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=12, size=(160, 120), fps=25)
    with VideoSource(path, process_width=80, every_frame=True) as source:
        frames = list(source.frames())
        assert source.fps == pytest.approx(25) and source.length == 12
    assert [f.index for f in frames] == list(range(12)) and source.skipped == 0
    assert frames[0].image.shape == (60, 80, 3) and frames[0].scale == 0.5
    assert frames[5].media_time == pytest.approx(5 / 25)
    assert all(b.timestamp >= a.timestamp for a, b in zip(frames, frames[1:]))


def test_video_playback_is_paced_unless_every_frame(tmp_path):
    path = write_video(tmp_path / "clip.mp4", n=10, fps=50)
    start = time.perf_counter()
    assert len(list(VideoSource(path).frames())) == 10
    assert time.perf_counter() - start >= 9 / 50 * 0.9


def test_corrupt_video_frame_is_skipped(tmp_path):
    path = write_video(tmp_path / "clip.avi", n=10, fourcc="MJPG", noise=True)  # ~15 kB JPEG per frame
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[starts[4] : starts[4] + 400] = bytes(400)  # wipe frame 4's JPEG header
    path.write_bytes(bytes(data))
    with VideoSource(path, every_frame=True) as source:
        indices = [f.index for f in source.frames()]
    assert indices == [0, 1, 2, 3, 5, 6, 7, 8, 9] and source.skipped == 1


def test_small_frames_are_not_upscaled():
    image = np.zeros((30, 40, 3), np.uint8)
    out, scale = sources.resize_to_width(image, 640)
    assert out is image and scale == 1.0
    assert to_bgr(np.zeros((0, 0, 3), np.uint8)) is None and to_bgr(np.zeros((4, 4), np.float32)) is None


class _UnpluggedCapture:
    """cv2.VideoCapture stand-in: delivers ``frames`` frames, then the device is gone."""

    frames = 3

    def __init__(self, index):
        self.reads = 0

    def isOpened(self):
        return True

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        self.reads += 1
        return (True, np.zeros((48, 64, 3), np.uint8)) if self.reads <= self.frames else (False, None)

    def release(self):
        pass


def test_camera_unplugged_mid_run(monkeypatch):
    monkeypatch.setattr(sources.cv2, "VideoCapture", _UnpluggedCapture)
    source = CameraSource(0, grace_s=0.2).open()
    got = []
    with pytest.raises(SourceError, match="camera 0 stopped delivering frames"):
        for frame in source.frames():
            got.append(frame.index)
    assert got == [0, 1, 2] and source.live and not source.frame_exact


def test_busy_camera_fails_at_open(monkeypatch):
    monkeypatch.setattr(_UnpluggedCapture, "frames", 0)
    monkeypatch.setattr(sources.cv2, "VideoCapture", _UnpluggedCapture)
    with pytest.raises(SourceError, match="camera 0 opened but delivers no frames"):
        CameraSource(0, grace_s=0.1).open()


def test_a_skipped_unreadable_image_is_named(tmp_path, caplog):
    import cv2
    import numpy as np

    from realtime.sources import ImageFolderSource

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 60, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((40, 60, 3), np.uint8))
    with caplog.at_level("WARNING"):
        frames = [frame.index for frame in ImageFolderSource(tmp_path).frames()]
    assert frames == [0, 2]
    assert f"skipped unreadable frame 1 ({tmp_path / 'b.png'})" in caplog.text
