"""Frame sources: camera, video file, image folder and the synthetic anny world.

Every source yields :class:`Frame` objects (BGR uint8, resized to the processing width) with a
capture timestamp and a frame index. Problems that end a run raise :class:`SourceError` with a
one-line message; single bad frames are skipped and counted in ``Source.skipped``.
"""
from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # no libav chatter on broken files
cv2.setLogLevel(0)  # no V4L/obsensor warnings for a missing camera: SourceError says it once

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SKIP = object()  # returned by ``Source._read`` for a frame that could not be decoded


class SourceError(RuntimeError):
    """A source cannot be opened or stopped working; the message is one line for the user."""


@dataclass
class Frame:
    """One captured frame."""

    index: int  # position in the source (skipped frames keep their numbers)
    timestamp: float  # time.perf_counter() when it was captured
    media_time: float  # seconds on the source's own timeline
    image: np.ndarray  # (H, W, 3) BGR uint8 at the processing width
    scale: float  # processed pixels per source pixel
    read_ms: float  # time spent reading, decoding and resizing it (not waiting for it)
    focal: float | None = None  # the source's own focal length in source pixels, when known


def to_bgr(image: object) -> np.ndarray | None:
    """A valid BGR uint8 image from a decoded frame (gray/BGRA accepted), or None if unusable."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        return None
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        return None
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def resize_to_width(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """Downscale ``image`` to ``width`` pixels wide (never upscale); returns it and the scale."""
    h, w = image.shape[:2]
    if w <= width:
        return image, 1.0
    scale = width / w
    return cv2.resize(image, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA), scale


class Source:
    """Base class. Subclasses set ``name``, ``live`` and ``fps`` and implement ``_open``/``_read``.

    ``live`` sources (cameras) deliver frames in real time whatever the consumer does. Other
    sources are played back at their own ``fps`` unless ``every_frame`` is set, in which case
    they are read as fast as the consumer takes them and nothing is dropped (:attr:`frame_exact`).
    """

    name = "source"
    live = False
    fps = 30.0
    length: int | None = None  # number of frames, when known

    def __init__(self, process_width: int = 640, every_frame: bool = False) -> None:
        self.process_width = process_width
        self.every_frame = every_frame
        self.skipped = 0
        self.focal: float | None = None
        self._opened = False

    @property
    def frame_exact(self) -> bool:
        """Whether every frame must be processed (no pacing, no dropping)."""
        return self.every_frame and not self.live

    def open(self) -> "Source":
        """Open the source; raises :class:`SourceError` with a one-line reason."""
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> "Source":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> object:
        """The next decoded image, ``SKIP`` for an undecodable one, or None at the end."""
        raise NotImplementedError

    def frames(self) -> Iterator[Frame]:
        """Yield frames until the source ends; paced at ``fps`` unless live or frame-exact."""
        self.open()
        paced = not self.live and not self.every_frame
        start = time.perf_counter()
        index = -1
        while True:
            t0 = time.perf_counter()
            raw = self._read()
            if raw is None:
                return
            index += 1
            image = None if raw is SKIP else to_bgr(raw)
            if image is None:
                self.skipped += 1
                log.warning("%s: skipped unreadable frame %d", self.name, index)
                continue
            image, scale = resize_to_width(image, self.process_width)
            read_ms = (time.perf_counter() - t0) * 1e3
            if paced:
                delay = start + index / self.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            now = time.perf_counter()
            media_time = now - start if self.live else index / self.fps
            yield Frame(index, now, media_time, image, scale, read_ms, self.focal)


class CameraSource(Source):
    """A webcam through OpenCV. Fails after ``grace_s`` seconds without a frame (busy/unplugged)."""

    live = True

    def __init__(
        self,
        index: int,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        grace_s: float = 2.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.index, self.size, self.requested_fps, self.grace_s = index, (width, height), fps, grace_s
        self.name = f"camera {index}"
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {self.index} could not be opened: no such camera, or it is busy")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we read continuously: keep the driver's queue short
        width, height = self.size
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self.requested_fps:
            cap.set(cv2.CAP_PROP_FPS, self.requested_fps)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or self.requested_fps or 30.0
        self._cap = cap
        try:
            self._first = self._wait_for_frame("opened but delivers no frames (busy in another application?)")
        except SourceError:
            self.close()
            raise

    def _wait_for_frame(self, problem: str) -> np.ndarray:
        """The next frame, retrying for ``grace_s``; else SourceError("camera N <problem>")."""
        deadline = time.perf_counter() + self.grace_s
        while True:
            ok, image = self._cap.read()
            if ok:
                return image
            if time.perf_counter() > deadline:
                raise SourceError(f"camera {self.index} {problem}")
            time.sleep(0.01)

    def _read(self) -> object:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        return self._wait_for_frame("stopped delivering frames (unplugged, or taken by another application)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoSource(Source):
    """A video file through OpenCV/FFmpeg; undecodable frames before the end are skipped."""

    max_consecutive_failures = 10

    def __init__(self, path: str | Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        self.name = f"video {self.path.name}"
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        self._position = 0  # frames read or attempted
        self._failures = 0  # consecutive

    def _open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"video not found: {self.path}")
        if not self.path.is_file():
            raise SourceError(f"not a video file: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise SourceError(f"cannot read video {self.path}: not a video, corrupt, or an unsupported codec")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and np.isfinite(fps) and fps > 0 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.length = count if count > 0 else None
        self._cap, self._first = cap, first

    def _read(self) -> object:
        self._position += 1
        if self._first is not None:
            image, self._first = self._first, None
            return image
        ok, image = self._cap.read()
        if ok:
            self._failures = 0
            return image
        self._failures += 1
        past_end = self.length is not None and self._position > self.length
        return None if past_end or self._failures > self.max_consecutive_failures else SKIP

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource(Source):
    """The images of a folder in name order, every one processed (a folder has no clock to keep
    up with; ``fps`` only spaces their ``media_time``); unreadable files are skipped."""

    def __init__(self, folder: str | Path, fps: float = 30.0, **kwargs: object) -> None:
        super().__init__(**{**kwargs, "every_frame": True})
        self.folder = Path(folder)
        self.name = f"images {self.folder.name}"
        self.fps = fps
        self.files: list[Path] = []
        self._next = 0

    def _open(self) -> None:
        if not self.folder.exists():
            raise SourceError(f"image folder not found: {self.folder}")
        if not self.folder.is_dir():
            raise SourceError(f"not a folder: {self.folder}")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"no images in {self.folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.length = len(self.files)

    def _read(self) -> object:
        if self._next >= len(self.files):
            return None
        path = self.files[self._next]
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return SKIP if image is None else image


@functools.lru_cache(maxsize=1)
def _scene() -> tuple:
    """The anny body model and one ``SceneRenderer`` for the whole process, never closed: with
    EGL, an Open3D window created after another one was destroyed renders nothing (Open3D 0.20)."""
    from models.body import load_body_model
    from models.synth.render import SceneRenderer

    body = load_body_model("anny")
    return body, SceneRenderer(body)


def _fit_camera(size: np.ndarray, focal: np.ndarray, principal: np.ndarray, width: int) -> tuple:
    """A sampled camera scaled down to ``width`` pixels, its principal point kept on a whole-pixel
    offset from the centre (what the renderer can reproduce): (width, height, focal, principal)."""
    from models.synth.camera import principal_margin

    scale = min(1.0, width / float(size[0]))
    w, h = round(float(size[0]) * scale), round(float(size[1]) * scale)
    margin = principal_margin(w, h)
    offset = np.clip(np.round((principal - (size - 1) / 2) * scale), -margin, margin)
    return w, h, (focal * scale).astype(np.float32), ((np.array([w, h]) - 1) / 2 + offset).astype(np.float32)


class SyntheticSource(Source):
    """The anny body in smooth motion (``models.synth``), rendered offscreen by Open3D (EGL).

    Endless: every ``sequence_s`` seconds a new motion, body shape, look and static camera start
    (a scene cut); cameras frame the whole person (no far-away or truncated framing). Frames are
    rendered directly at the processing width; the focal length is exact and given to the prior. About 8 frames/s on two busy cores (anny's forward, batched by
    ``batch`` frames, and software rendering), so live runs drop frames.
    """

    name = "synthetic"
    batch = 10

    def __init__(self, fps: float = 30.0, sequence_s: float = 10.0, seed: int | None = None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.fps, self.sequence_frames = fps, max(1, round(sequence_s * fps))
        self._rng = np.random.default_rng(seed)
        self._images: Iterator[np.ndarray] | None = None

    def _open(self) -> None:
        try:
            _scene()
        except Exception as err:  # noqa: BLE001 - anny's cache, a missing module
            raise SourceError(f"the synthetic source could not start: {type(err).__name__}: {err}") from None
        self._images = self._render_forever()

    def _render_forever(self) -> Iterator[np.ndarray]:
        import torch

        from models.synth.camera import CameraConfig, sample_sequence_camera
        from models.synth.motion import sample_sequence
        from models.synth.shapes import sample_shapes
        from models.synth.skeleton import anny_skeleton, forward_kinematics

        rng, (body, scene), count = self._rng, _scene(), self.sequence_frames
        framing = CameraConfig(small_prob=0.0, truncation_prob=0.0)  # a demo: the whole person, not tiny
        while True:
            motion = sample_sequence(count, self.fps, rng)
            joints = forward_kinematics(motion.pose, anny_skeleton()).float()
            camera = sample_sequence_camera(joints, motion.global_orient, motion.transl, rng, framing)
            width, height, focal, principal = _fit_camera(camera.image_size[0], camera.focal[0],
                                                          camera.principal[0], self.process_width)
            look = scene.look(width, height, rng)
            shape = torch.as_tensor(sample_shapes(1, rng), dtype=torch.float32)
            self.focal = float(focal[0])
            for start in range(0, count, self.batch):
                frames = slice(start, min(start + self.batch, count))
                with torch.no_grad():
                    vertices = body(motion.pose[frames], shape.expand(frames.stop - frames.start, -1),
                                    torch.as_tensor(camera.global_orient[0, frames]),
                                    torch.as_tensor(camera.transl[0, frames])).vertices.numpy()
                for v in vertices:
                    yield cv2.cvtColor(scene.render(v, focal, principal, look, rng), cv2.COLOR_RGB2BGR)

    def _read(self) -> object:
        return next(self._images)

    def close(self) -> None:
        """Stop the generator; the offscreen windows stay for the process (see above)."""
        if self._images is not None:
            self._images.close()
            self._images = None
