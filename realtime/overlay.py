"""The 2D overlay: the frame, the projected mesh, the COCO-17 skeleton and a HUD."""
from __future__ import annotations

import cv2
import numpy as np

from models.camera import project_rows
from models.skeletons import COCO17_EDGES
from realtime.record import FrameRecord

MESH_BGR = (235, 190, 110)
SPREAD_FULL_SCALE_M = 0.05  # per-vertex spread shown at the top of the colour map


_JET = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0]  # (256, 3) BGR


def spread_colours(spread: np.ndarray, full_scale: float = SPREAD_FULL_SCALE_M) -> np.ndarray:
    """Per-vertex uncertainty (V,) metres → BGR uint8 (V, 3), blue (certain) to red (OpenCV's jet)."""
    return _JET[np.clip(spread * (255 / full_scale), 0, 255).astype(np.uint8)]


def draw_mesh(
    canvas: np.ndarray,
    vertices: np.ndarray,
    focal: np.ndarray,
    principal: np.ndarray,
    colours: np.ndarray | tuple[int, int, int] = MESH_BGR,
    alpha: float = 0.55,
) -> None:
    """Blend the projected vertices (V, 3) into ``canvas`` in place as a dense point cloud.

    Only the points' bounding box (plus the dilation's pixel) is touched: the same pixels as
    working on the whole frame, in a fraction of the time (the overlay is on the latency path).
    """
    height, width = canvas.shape[:2]
    uv, front = project_rows(vertices, focal, principal)
    u, v = np.rint(uv).astype(np.int32)
    keep = front & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    if not keep.any():
        return
    colours = np.broadcast_to(np.asarray(colours, np.uint8), (len(keep), 3))[keep]
    u, v = u[keep], v[keep]
    x0, y0 = u.min(), v.min()
    x1, y1 = min(u.max() + 2, width), min(v.max() + 2, height)  # 2×2 dilation reaches +1
    roi = canvas[y0:y1, x0:x1]
    flat = (v - y0) * (x1 - x0) + (u - x0)
    layer = np.zeros_like(roi)
    layer.reshape(-1, 3)[flat] = colours
    mask = np.zeros(roi.shape[:2], np.uint8)
    mask.reshape(-1)[flat] = 255
    kernel = np.ones((2, 2), np.uint8)
    layer, mask = cv2.dilate(layer, kernel), cv2.dilate(mask, kernel)
    cv2.copyTo(cv2.addWeighted(layer, alpha, roi, 1 - alpha, 0.0), mask, roi)  # into roi, a view of canvas


def draw_skeleton(canvas: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, min_conf: float = 0.5) -> None:
    """COCO-17 keypoints (17, 2) and bones; confident ones green, the rest orange."""
    pts = [tuple(p) for p in np.round(keypoints).astype(int).tolist()]
    sure = [c >= min_conf for c in confidence.tolist()]
    colour = {True: (80, 220, 80), False: (0, 140, 255)}
    for a, b in COCO17_EDGES:
        cv2.line(canvas, pts[a], pts[b], colour[sure[a] and sure[b]], 2, cv2.LINE_AA)
    for p, ok in zip(pts, sure):
        cv2.circle(canvas, p, 3, colour[ok], -1, cv2.LINE_AA)


def draw_hud(canvas: np.ndarray, lines: list[str]) -> None:
    """Text lines top-left on a dark band."""
    scale, line_h = 0.45, 17
    width = max((cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in lines), default=0)
    band = canvas[: line_h * len(lines) + 6, : width + 12]
    band[:] = cv2.convertScaleAbs(band, alpha=0.4)
    for i, text in enumerate(lines):
        cv2.putText(canvas, text, (6, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def draw_overlay(record: FrameRecord, hud: list[str]) -> np.ndarray:
    """A new BGR image: the frame with the mesh (coloured by spread if any), skeleton and HUD."""
    canvas = record.frame.image.copy()
    mesh = record.mesh
    if mesh is not None:
        colours = spread_colours(mesh.spread) if mesh.spread.any() else MESH_BGR
        draw_mesh(canvas, mesh.vertices, record.focal, record.principal, colours)
    if record.keypoints is not None:
        draw_skeleton(canvas, record.keypoints, record.confidence)
    draw_hud(canvas, hud)
    return canvas
