"""The camera conventions, in one place: a pinhole camera in the camera frame (x right, y down,
z forward, metres), pixel centres at whole coordinates, so the image centre, the principal point
of a camera that knows no better, is ``((W - 1) / 2, (H - 1) / 2)``; the focal length in pixels
from a horizontal field of view; projection and unprojection (torch, batched; numpy, row-major
for the overlay's latency path). The prior, the renderer, the overlay, the sources and the
synthetic world all use these.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def image_centre(width, height):
    """The principal point of an image of ``width`` x ``height`` pixels (pixel centres at whole
    coordinates): ``((W - 1) / 2, (H - 1) / 2)``. Scalars give a float64 array (2,); arrays of
    sizes give arrays (..., 2)."""
    return np.stack([(np.asarray(width) - 1) / 2, (np.asarray(height) - 1) / 2], -1)


def focal_from_fov(width, fov_deg):
    """Focal length (pixels) of a horizontal field of view ``fov_deg`` (degrees) over ``width`` pixels."""
    if isinstance(width, (int, float)) and isinstance(fov_deg, (int, float)):  # Python numbers: math's tan
        return 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    return width / 2 / np.tan(np.radians(fov_deg) / 2)


def intrinsics(width: int, height: int, fov_deg: float, focal_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Focal (2,) and principal point (2,), float32, of a ``width`` x ``height`` camera: ``focal_px``
    if known, else from ``fov_deg``; the principal point at the image centre."""
    focal = focal_px if focal_px is not None else focal_from_fov(width, fov_deg)
    return np.full(2, focal, np.float32), image_centre(width, height).astype(np.float32)


def normalised(points: torch.Tensor) -> torch.Tensor:
    """Normalised image coordinates (..., 2) of camera-frame points (..., 3): x / z, y / z (no intrinsics)."""
    return points[..., :2] / points[..., 2:3]


def project(points: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of camera-frame points (B, ..., 3) with focal/principal (B, 2)."""
    shape = (points.shape[0],) + (1,) * (points.dim() - 2) + (2,)
    return points[..., :2] / points[..., 2:3] * focal.reshape(shape) + principal.reshape(shape)


def unproject(pixels: torch.Tensor, depth: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (B, ..., 3) at ``depth`` (B, ...) behind pixels (B, ..., 2): :func:`project`'s inverse."""
    shape = (pixels.shape[0],) + (1,) * (pixels.dim() - 2) + (2,)
    xy = (pixels - principal.reshape(shape)) / focal.reshape(shape) * depth[..., None]
    return torch.cat([xy, depth[..., None]], -1)


def project_rows(points: np.ndarray, focal: np.ndarray, principal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points (N, 3) → pixels (2, N), rows u and v, and a mask of points in front of
    the camera. Row-major on purpose: numpy's reductions and arithmetic over a contiguous row are
    several times faster than over a column of an (N, 2) array (the overlay is on the latency path).
    """
    x, y, z = np.ascontiguousarray(np.asarray(points, np.float32).T)
    front = z > 1e-3
    inv = 1.0 / np.where(front, z, np.float32(1.0))
    return np.stack([x * inv * focal[0] + principal[0], y * inv * focal[1] + principal[1]]), front


def project_points(points: np.ndarray, focal, principal) -> np.ndarray:
    """Pinhole projection of camera-frame points (..., 3) with one camera (focal, principal (2,)), numpy."""
    points = np.asarray(points)
    return points[..., :2] / points[..., 2:] * focal + principal
