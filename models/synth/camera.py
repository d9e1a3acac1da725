"""Perspective cameras around the body: intrinsics, viewpoint and framing.

The camera frame is OpenCV's (x right, y down, z forward). A body's global orientation in the
camera frame is ``R_view @ R_body``: ``R_body`` pitches/rolls the pelvis away from upright (from
the pose sampler, or the motion's world orientation) and ``R_view = R_z(roll) R_x(pitch) R_y(yaw)``
turns the upright world into the camera: yaw all around (0 = facing the camera, 180 = seen from
behind), pitch > 0 = camera above the person looking down, small roll. The distance is chosen so
that the person's box fills a sampled fraction of the image, and the box is placed at a random
position inside the image, or (``truncation_prob``) partly across one border.

Principal points sit on whole-pixel offsets (at most ``principal_fraction`` of the image's larger
side) from the centre ``((W-1)/2, (H-1)/2)`` so that the Open3D renderer can reproduce them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from models.camera import image_centre

IMAGE_SIZES = ((640, 480), (480, 640), (1280, 720), (720, 1280), (512, 512), (1920, 1080))
IMAGE_SIZE_WEIGHTS = (0.3, 0.15, 0.25, 0.1, 0.12, 0.08)
TRUNCATION_SIDES = ("bottom", "left", "right", "top")
TRUNCATION_SIDE_WEIGHTS = (0.45, 0.2, 0.2, 0.15)


@dataclass
class CameraConfig:
    hfov_deg: tuple[float, float] = (40.0, 80.0)  # horizontal field of view
    pitch_deg: tuple[float, float] = (-30.0, 30.0)
    roll_sd_deg: float = 3.0
    roll_max_deg: float = 10.0
    fill: tuple[float, float] = (0.5, 1.0)  # box size / image size (limiting side), most samples
    small_fill: tuple[float, float] = (0.15, 0.4)  # far-away people
    small_prob: float = 0.15
    truncation_prob: float = 0.1  # box partly outside the image
    truncation_fraction: tuple[float, float] = (0.15, 0.5)  # share of the box outside
    principal_fraction: float = 0.02
    box_margin: float = 0.06  # metres added around the points (skin beyond the vertices sampled)
    min_depth: float = 0.8


@dataclass
class Cameras:
    """A batch of cameras and the body's placement in them (float32 numpy arrays)."""

    focal: np.ndarray  # (n, 2)
    principal: np.ndarray  # (n, 2)
    image_size: np.ndarray  # (n, 2) int32, (width, height)
    global_orient: np.ndarray  # (n, 3) or (n, T, 3) axis-angle of the body in the camera frame
    transl: np.ndarray  # (n, 3) or (n, T, 3) pelvis position in the camera frame
    yaw: np.ndarray  # (n,) degrees
    pitch: np.ndarray  # (n,) degrees
    truncated: np.ndarray  # (n,) bool: placed partly across a border on purpose


def principal_margin(width: int, height: int, fraction: float = 0.02) -> int:
    """Largest principal-point offset (whole pixels) from the image centre."""
    return int(round(fraction * max(width, height)))


def sample_intrinsics(n: int, rng: np.random.Generator, cfg: CameraConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Focal (n, 2), principal point (n, 2) and image size (n, 2) = (W, H)."""
    sizes = np.array(IMAGE_SIZES)[rng.choice(len(IMAGE_SIZES), size=n, p=IMAGE_SIZE_WEIGHTS)]
    hfov = np.radians(rng.uniform(*cfg.hfov_deg, n))
    f = sizes[:, 0] / 2 / np.tan(hfov / 2)
    margin = np.array([principal_margin(w, h, cfg.principal_fraction) for w, h in sizes])
    offset = np.clip(np.round(rng.normal(0, margin[:, None] / 2, (n, 2))), -margin[:, None], margin[:, None])
    principal = image_centre(sizes[:, 0], sizes[:, 1]) + offset
    return np.stack([f, f], 1).astype(np.float32), principal.astype(np.float32), sizes.astype(np.int32)


def view_rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> torch.Tensor:
    """World (upright, y down) to camera rotations (n, 3, 3) from angles in degrees."""
    deg = torch.as_tensor(np.stack([roll, pitch, yaw], 1), dtype=torch.float32)
    return roma.euler_to_rotmat("ZXY", deg, degrees=True)


def _place(points: np.ndarray, focal: np.ndarray, principal: np.ndarray, size: np.ndarray,
           truncate: np.ndarray, rng: np.random.Generator, cfg: CameraConfig) -> np.ndarray:
    """Translations (n, 3) that frame camera-oriented points (n, K, 3) as sampled."""
    n, rows = len(points), np.arange(len(points))
    lo, hi = points.min(1) - cfg.box_margin, points.max(1) + cfg.box_margin
    extent, centre = hi - lo, (hi + lo) / 2
    small = rng.random(n) < cfg.small_prob
    fill = np.where(small, rng.uniform(*cfg.small_fill, n), rng.uniform(*cfg.fill, n))
    f = focal[:, 0]
    # Depth of the box centre such that the box, at the depth of its nearest point, fills ``fill``.
    depth = f * np.maximum(extent[:, 0] / (fill * size[:, 0]), extent[:, 1] / (fill * size[:, 1])) + extent[:, 2] / 2
    depth = np.maximum(depth, cfg.min_depth + extent[:, 2] / 2)
    box = f[:, None] * extent[:, :2] / depth[:, None]  # box size in pixels
    slack = np.maximum(size - box, 0)
    target = (size - slack) / 2 + rng.uniform(0, 1, (n, 2)) * slack  # box centre, inside the image
    side = rng.choice(len(TRUNCATION_SIDES), size=n, p=TRUNCATION_SIDE_WEIGHTS)
    out = rng.uniform(*cfg.truncation_fraction, n)  # share of the box beyond the border
    axis = np.where((side == 0) | (side == 3), 1, 0)
    sign = np.where((side == 0) | (side == 2), 1.0, -1.0)
    edge = np.where(sign > 0, size[rows, axis], 0.0)
    target[rows, axis] = np.where(truncate, edge + sign * (out - 0.5) * box[rows, axis], target[rows, axis])
    xy = (target - principal) / f[:, None] * depth[:, None]
    transl = np.concatenate([xy - centre[:, :2], (depth - centre[:, 2])[:, None]], 1)
    for _ in range(2):  # perspective correction: shift untruncated boxes fully into the image
        cam = points + transl[:, None]
        uv = cam[..., :2] / cam[..., 2:] * f[:, None, None] + principal[:, None]
        shift = np.maximum(0, -uv.min(1)) - np.maximum(0, uv.max(1) - (size - 1))
        transl[:, :2] += np.where(truncate[:, None], 0.0, shift / f[:, None] * depth[:, None])
    return transl


def sample_cameras(points: torch.Tensor, body_orient: torch.Tensor, rng: np.random.Generator,
                   cfg: CameraConfig | None = None) -> Cameras:
    """Cameras for ``n`` bodies given as canonical points (n, K, 3) (pelvis at the origin, upright
    pelvis; e.g. the coarse vertices) and their pelvis orientations ``body_orient`` (n, 3)."""
    cfg = cfg or CameraConfig()
    n = points.shape[0]
    focal, principal, size = sample_intrinsics(n, rng, cfg)
    yaw, pitch = rng.uniform(-180, 180, n), rng.uniform(*cfg.pitch_deg, n)
    roll = np.clip(rng.normal(0, cfg.roll_sd_deg, n), -cfg.roll_max_deg, cfg.roll_max_deg)
    rot = view_rotation(yaw, pitch, roll) @ roma.rotvec_to_rotmat(body_orient.float())
    rotated = (points.float() @ rot.transpose(1, 2)).numpy()
    truncate = rng.random(n) < cfg.truncation_prob
    transl = _place(rotated, focal, principal, size, truncate, rng, cfg)
    return Cameras(focal=focal, principal=principal, image_size=size,
                   global_orient=roma.rotmat_to_rotvec(rot).numpy().astype(np.float32),
                   transl=transl.astype(np.float32), yaw=yaw.astype(np.float32),
                   pitch=pitch.astype(np.float32), truncated=truncate)


def sample_sequence_camera(points: torch.Tensor, world_orient: torch.Tensor, world_transl: torch.Tensor,
                           rng: np.random.Generator, cfg: CameraConfig | None = None) -> Cameras:
    """One static camera for a sequence: canonical points (T, K, 3) posed per frame, the body's
    world orientation (T, 3) and pelvis trajectory (T, 3) (upright world, y down). The whole
    trajectory is framed; per-frame ``global_orient`` and ``transl`` are (1, T, 3)."""
    cfg = cfg or CameraConfig()
    focal, principal, size = sample_intrinsics(1, rng, cfg)
    yaw, pitch = rng.uniform(-180, 180, 1), rng.uniform(*cfg.pitch_deg, 1)
    roll = np.clip(rng.normal(0, cfg.roll_sd_deg, 1), -cfg.roll_max_deg, cfg.roll_max_deg)
    view = view_rotation(yaw, pitch, roll)[0]
    world_rot = roma.rotvec_to_rotmat(world_orient.float())
    world = points.float() @ world_rot.transpose(1, 2) + world_transl.float()[:, None]
    rotated = (world.reshape(1, -1, 3) @ view.T).numpy()
    truncate = rng.random(1) < cfg.truncation_prob
    offset = _place(rotated, focal, principal, size, truncate, rng, cfg)
    rot = view @ world_rot
    transl = world_transl.float() @ view.T + torch.as_tensor(offset, dtype=torch.float32)
    return Cameras(focal=focal, principal=principal, image_size=size,
                   global_orient=roma.rotmat_to_rotvec(rot).numpy()[None].astype(np.float32),
                   transl=transl.numpy()[None].astype(np.float32), yaw=yaw.astype(np.float32),
                   pitch=pitch.astype(np.float32), truncated=truncate)
