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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from models.camera import focal_from_fov, image_centre
from realtime.options import DEFAULTS

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
    independent = False  # frames unrelated to each other (photos): detect each on its own, no tracking
    fps = DEFAULTS.fps
    length: int | None = None  # number of frames, when known

    def __init__(self, process_width: int = DEFAULTS.process_width, every_frame: bool = False) -> None:
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

    def _frame_file(self, index: int) -> str:
        """`` (FILE)`` of frame ``index`` when it has a file of its own (images), for messages."""
        return ""

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
                log.warning("%s: skipped unreadable frame %d%s", self.name, index, self._frame_file(index))
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
        self.fps = cap.get(cv2.CAP_PROP_FPS) or self.requested_fps or DEFAULTS.fps
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
        self.fps = fps if fps and np.isfinite(fps) and fps > 0 else DEFAULTS.fps
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
    up with; ``fps`` only spaces their ``media_time``); unreadable files are skipped. The images are
    independent photos (:attr:`Source.independent`), not a stream."""

    def __init__(self, folder: str | Path, fps: float = DEFAULTS.fps, independent: bool = True,
                 **kwargs: object) -> None:
        super().__init__(**{**kwargs, "every_frame": True})
        self.independent = independent  # False: the frames of one video, in order (a stream)
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

    def _frame_file(self, index: int) -> str:
        return f" ({self.files[index]})" if 0 <= index < len(self.files) else ""


# ---------------------------------------------------------------------------------------------
# The synthetic source: a person in front of a webcam.

@functools.lru_cache(maxsize=1)
def _render_thread() -> ThreadPoolExecutor:
    """The one thread that creates and uses every offscreen Open3D window of the process.

    An Open3D (EGL) window renders only on the thread that created it: from any other thread it
    returns a frame of garbage. Sources are read by whichever thread runs them (a pipeline's
    capture thread, a second pipeline's, a test's), so all rendering is handed to this thread.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-render")


def _on_render_thread(fn, *args):
    return _render_thread().submit(fn, *args).result()


@functools.lru_cache(maxsize=1)
def _scene() -> tuple:
    """The anny body model and one ``SceneRenderer`` for the whole process, never closed (with
    EGL, an Open3D window created after another one was destroyed renders nothing, Open3D 0.20).
    Call it on the render thread (:func:`_on_render_thread`)."""
    from models.body import load_body_model
    from models.synth.render import SceneRenderer

    body = load_body_model("anny")
    return body, SceneRenderer(body)


@dataclass(frozen=True)
class WebcamFraming:
    """How the synthetic source films its person: like a webcam on a desk or a monitor."""

    aspects: tuple[tuple[int, int], ...] = ((4, 3), (16, 9))
    hfov_deg: tuple[float, float] = (55.0, 70.0)
    camera_height_m: tuple[float, float] = (0.9, 1.5)  # above the floor
    fill: tuple[float, float] = (0.7, 0.9)  # height of the person (over the whole shot) / image height
    max_width_fill: float = 0.92  # the person's widest extent / image width, at most
    yaw_sd_deg: float = 20.0  # camera around the direction the person faces (0 = straight on)
    yaw_max_deg: float = 45.0
    wall_gap_m: tuple[float, float] = (0.8, 2.5)  # from the person to the wall behind
    max_travel_m: float = 1.2  # a webcam user stays within this of one spot (pelvis, x and z)
    margin_px: int = 4  # the whole body stays this far inside the image


@dataclass
class Shot:
    """One static camera on one motion: camera-frame body placement and the image's geometry."""

    motion: object  # models.synth.motion.Motion (world frame)
    global_orient: np.ndarray  # (T, 3) axis-angle in the camera frame
    transl: np.ndarray  # (T, 3) pelvis in the camera frame, metres
    width: int
    height: int
    focal: float  # pixels
    horizon: int  # image row where the floor meets the wall behind the person


def _rotation_towards(forward: np.ndarray, pitch: float) -> np.ndarray:
    """World-to-camera rotation (3, 3): the camera looks along the horizontal unit ``forward``
    (world, y down), tilted down by ``pitch`` radians, with no roll."""
    down = np.array([0.0, 1.0, 0.0])
    z = np.cos(pitch) * forward + np.sin(pitch) * down
    y = -np.sin(pitch) * forward + np.cos(pitch) * down
    return np.stack([np.cross(y, z), y, z])


def place_webcam(vertices: np.ndarray, facing: np.ndarray, width: int, height: int, focal: float,
                 rng: np.random.Generator, cfg: WebcamFraming = WebcamFraming()) -> tuple[np.ndarray, np.ndarray, int]:
    """A static camera filming world-frame vertices (n, V, 3) (upright world, y down, floor at
    y = 0) of a person facing the horizontal unit vector ``facing`` (x, z), as a webcam would:
    in front of the person (within ``yaw_max_deg``), at desk height, level or tilted a little to
    centre the person, far enough that the whole person over the whole shot fills a sampled share
    of the image height; placed sideways at random within the room left. Returns the
    world-to-camera rotation R (3, 3), the camera centre C (3,) (``x_cam = R (x - C)``) and the
    image row of the floor line of a wall ``wall_gap_m`` behind the person."""
    points = vertices.reshape(-1, 3).astype(np.float64)
    principal = image_centre(width, height)
    yaw = np.radians(np.clip(rng.normal(0.0, cfg.yaw_sd_deg), -cfg.yaw_max_deg, cfg.yaw_max_deg))
    fx, fz = facing / max(np.linalg.norm(facing), 1e-9)
    toward = np.array([np.cos(yaw) * fx - np.sin(yaw) * fz, 0.0, np.sin(yaw) * fx + np.cos(yaw) * fz])
    forward = -toward  # the camera looks back at the person
    centre = np.array([points[:, 0].mean(), 0.0, points[:, 2].mean()])
    eye_height = -rng.uniform(*cfg.camera_height_m)
    mid_y = (points[:, 1].min() + points[:, 1].max()) / 2
    fill = rng.uniform(*cfg.fill)
    side = rng.uniform(-0.6, 0.6)  # where the person stands across the room left, -1 (left) to 1
    distance, lateral = 3.0, 0.0

    def project(distance: float, lateral: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pitch = np.arctan2(mid_y - eye_height, distance)
        R = _rotation_towards(forward, pitch)
        C = centre - distance * forward + np.array([0.0, eye_height, 0.0]) + lateral * R[0]
        cam = (points - C) @ R.T
        return cam, cam[:, :2] / np.maximum(cam[:, 2:], 1e-6) * focal + principal, R, C

    for _ in range(12):
        cam, uv, R, C = project(distance, lateral)
        box_w, box_h = np.ptp(uv[:, 0]), np.ptp(uv[:, 1])
        scale = max(box_h / (fill * height), box_w / (cfg.max_width_fill * width))
        slack = max(width - box_w - 2 * cfg.margin_px, 0.0)
        shift = (uv[:, 0].min() + uv[:, 0].max()) / 2 - (width / 2 + side * slack / 2)
        if abs(scale - 1) < 0.005 and abs(shift) < 1:
            break
        distance *= scale
        lateral += shift / focal * distance
    for _ in range(40):  # guarantee: the whole body inside the image, in front of the camera
        cam, uv, R, C = project(distance, lateral)
        m = cfg.margin_px
        if (cam[:, 2] > 0.3).all() and (uv >= m).all() and (uv[:, 0] <= width - 1 - m).all() and (uv[:, 1] <= height - 1 - m).all():
            break
        distance *= 1.05
    wall = (C * [1.0, 0.0, 1.0]) + (distance + rng.uniform(*cfg.wall_gap_m)) * forward
    floor_line = R @ (wall - C)
    horizon = int(round(floor_line[1] / max(floor_line[2], 1e-6) * focal + principal[1]))
    return R, C, int(np.clip(horizon, 0, height))


def room_background(width: int, height: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
    """A plain room (H, W, 3) uint8: a wall down to row ``horizon``, the floor below it, some
    furniture and posters against the wall, soft lighting and texture, slightly out of focus."""
    def colour(lo: float, hi: float) -> np.ndarray:
        grey = rng.uniform(lo, hi)
        return np.clip(grey + rng.normal(0, 0.08, 3), 0.05, 0.95)

    img = np.empty((height, width, 3), np.float32)
    img[:horizon], img[horizon:] = colour(0.45, 0.85), colour(0.2, 0.6)
    for _ in range(int(rng.integers(1, 5))):  # posters, shelves, doors, cupboards on the wall
        w, h = int(rng.uniform(0.08, 0.35) * width), int(rng.uniform(0.1, 0.6) * max(horizon, 1))
        x = int(rng.integers(0, max(width - w, 1)))
        standing = rng.random() < 0.5  # furniture stands on the floor; posters hang
        y = max(horizon - h, 0) if standing else int(rng.integers(0, max(horizon - h, 1)))
        img[y:y + h, x:x + w] = colour(0.1, 0.9)
    rows = np.linspace(rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1), height, dtype=np.float32)
    img *= rows[:, None, None]
    img += rng.normal(0, rng.uniform(0.0, 0.02), img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _facing(global_orient: np.ndarray) -> np.ndarray:
    """The mean horizontal direction (x, z) a body with world orientations (T, 3) faces."""
    from scipy.spatial.transform import Rotation

    front = Rotation.from_rotvec(np.asarray(global_orient, np.float64)).apply([0.0, 0.0, -1.0])
    mean = front[:, [0, 2]].mean(0)
    return mean if np.linalg.norm(mean) > 1e-3 else front[0, [0, 2]]


class SyntheticSource(Source):
    """The anny body in motion in front of a webcam, rendered offscreen by Open3D (EGL).

    Endless: every ``sequence_s`` seconds a new shot (a scene cut): a motion (a window of real
    motion capture, ``models.synth.mocap``, when its data and cache are there; else the
    synthetic keyframed motion on the spot), a body shape, a look and a static camera framed
    like a webcam user (:func:`place_webcam`: the whole person, feet on the floor, 70-90 % of the
    image height, facing the camera within 45 degrees) in a plain room (:func:`room_background`).
    Frames are rendered at the processing width (4:3 or 16:9); the focal length is exact and
    given to the prior. Rendering runs on one thread of its own (:func:`_render_thread`). About
    8-15 frames/s on two busy cores (anny's forward, batched by ``batch`` frames, and software
    rendering), so live runs drop frames. The first frame is rendered by :meth:`open`.
    """

    name = "synthetic"
    batch = 10
    framing = WebcamFraming()
    framing_stride = 6  # frames of a shot whose full mesh frames the camera

    def __init__(self, fps: float = DEFAULTS.fps, sequence_s: float = 10.0, seed: int | None = None,
                 mocap: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.fps, self.sequence_frames = fps, max(1, round(sequence_s * fps))
        self._rng = np.random.default_rng(seed)
        self._images: Iterator[np.ndarray] | None = None
        self._first: np.ndarray | None = None
        self._mocap = mocap
        self.motion_kind: str | None = None  # of the current shot

    def _open(self) -> None:
        try:
            self._body = _on_render_thread(_scene)[0]
            self._use_mocap = self._mocap and _mocap_available()
            self._images = self._render_forever()
            self._first = next(self._images)  # the first shot's set-up and windows, before the clock starts
        except Exception as err:  # noqa: BLE001 - anny's cache, a missing module, no EGL
            self._images = None
            raise SourceError(f"the synthetic source could not start: {type(err).__name__}: {err}") from None

    def _motion(self, rng: np.random.Generator):
        """A motion of one shot, staying within ``framing.max_travel_m`` of one spot."""
        from models.synth.motion import sample_sequence

        count, limit = self.sequence_frames, self.framing.max_travel_m
        if not self._use_mocap:
            return sample_sequence(count, self.fps, rng, kind="keyframes")
        from models.synth.mocap import sample_mocap_sequence

        best, best_travel = None, np.inf
        for _ in range(8):
            try:
                motion = sample_mocap_sequence(count, self.fps, rng, split="all", exclude=LEFT_OUT_MOTIONS)
            except ValueError:  # no clip that long: the synthetic motion
                return sample_sequence(count, self.fps, rng, kind="keyframes")
            xz = motion.transl.numpy()[:, [0, 2]]
            travel = float(np.ptp(xz, axis=0).max())
            if travel <= limit:
                return motion
            if travel < best_travel:
                best, best_travel = motion, travel
        centre = best.transl[:, [0, 2]].mean(0)  # squeeze the walk into the room (the feet slide)
        best.transl[:, [0, 2]] = centre + (best.transl[:, [0, 2]] - centre) * (limit / best_travel)
        return best

    def _shot(self, rng: np.random.Generator, shape) -> Shot:
        import roma
        import torch

        from models.synth.appearance import sample_look  # noqa: F401 - fail early if missing

        motion = self._motion(rng)
        self.motion_kind = motion.kind
        aspect = self.framing.aspects[int(rng.integers(len(self.framing.aspects)))]
        width = self.process_width
        height = int(round(width * aspect[1] / aspect[0]))
        focal = focal_from_fov(width, rng.uniform(*self.framing.hfov_deg))
        frames = slice(0, None, self.framing_stride)
        count = len(range(*frames.indices(len(motion.pose))))
        with torch.no_grad():
            world = self._body(motion.pose[frames], shape.expand(count, -1), motion.global_orient[frames],
                               motion.transl[frames]).vertices.numpy()
        R, C, horizon = place_webcam(world, _facing(motion.global_orient.numpy()), width, height, focal, rng,
                                     self.framing)
        rot = torch.as_tensor(R, dtype=torch.float32)
        orient = roma.rotmat_to_rotvec(rot @ roma.rotvec_to_rotmat(motion.global_orient.float()))
        transl = (motion.transl.double() - torch.as_tensor(C)) @ torch.as_tensor(R).T
        return Shot(motion=motion, global_orient=orient, transl=transl.float(), width=width, height=height,
                    focal=float(focal), horizon=horizon)

    def _render_forever(self) -> Iterator[np.ndarray]:
        import dataclasses

        import torch

        from models.synth.shapes import sample_shapes

        rng, body, count = self._rng, self._body, self.sequence_frames
        while True:
            shape = torch.as_tensor(sample_shapes(1, rng), dtype=torch.float32)
            shot = self._shot(rng, shape)
            scene = _on_render_thread(_scene)[1]
            look = scene.look(shot.width, shot.height, rng)
            look = dataclasses.replace(look, background=room_background(shot.width, shot.height, shot.horizon, rng))
            focal = np.full(2, shot.focal, np.float32)
            principal = image_centre(shot.width, shot.height).astype(np.float32)
            self.focal = shot.focal
            for start in range(0, count, self.batch):
                frames = slice(start, min(start + self.batch, count))
                with torch.no_grad():
                    vertices = body(shot.motion.pose[frames], shape.expand(frames.stop - frames.start, -1),
                                    shot.global_orient[frames], shot.transl[frames]).vertices.numpy()
                for v in vertices:
                    image = _on_render_thread(scene.render, v, focal, principal, look, rng)
                    yield cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

    def _read(self) -> object:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        return next(self._images)

    def close(self) -> None:
        """Stop the generator; the offscreen windows stay for the process (see :func:`_scene`)."""
        if self._images is not None:
            self._images.close()
            self._images = None


# Mocap clips the synthetic shots leave out: those that need props the room lacks (a stool, a
# ladder, a climbing frame: the person would sit or climb on nothing), and DeepMimic's floor work
# and acrobatics, which the floor placement (lowest sole or knee) would sink into the floor.
LEFT_OUT_MOTIONS = ("mocap_sit_down_stand_up", "mocap_playground_climb_hang_jump", "mocap_climb_ladder_or_steps",
                    "mocap_floor_crawl_roll_getup", "mocap_acrobatics_flip_cartwheel")


def _mocap_available() -> bool:
    """Whether the motion-capture module, its data and its cache load (else: synthetic motion)."""
    try:
        from models.synth.mocap import load_mocap

        load_mocap(log=lambda *args: None)
        return True
    except Exception as err:  # noqa: BLE001 - module absent or in progress, data absent, cache stale
        log.info("synthetic source: motion capture unavailable (%s: %s), synthetic motion instead", type(err).__name__, err)
        return False
