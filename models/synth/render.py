"""Offscreen Open3D rendering of the posed body with exact pinhole intrinsics.

Open3D's legacy visualizer honours only square pixels and a centred principal point (checked: a
fronto-parallel square lands on the pixels ``u = f*x/z + (W-1)/2`` exactly). Other principal
points are rendered by cropping a larger window: a window ``margin`` pixels wider on every side
is rendered with its centred principal point and cropped so that the principal point lands where
it should, which requires ``principal - ((W-1)/2, (H-1)/2)`` to be whole pixels within ``margin``.
Vertex colours carry baked lighting (see :mod:`models.synth.appearance`); the mesh is drawn unlit
over a key colour and composited over a background.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import cv2
import numpy as np
import open3d as o3d

from models.body.base import BodyModel
from models.camera import image_centre
from models.synth.appearance import BodyRegions, Look, add_noise, sample_look, shade
from models.synth.camera import principal_margin

KEY = np.array([0, 255, 0], np.uint8)  # background key; body colours never reach pure green


def ensure_runtime_dir() -> None:
    """Give GLFW a private XDG_RUNTIME_DIR when the session has none (headless machines, CI).

    Without one, GLFW prints "error: XDG_RUNTIME_DIR is invalid…" on every window, although the
    EGL offscreen fallback works: the line reads like a failure of ours.
    """
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = tempfile.mkdtemp(prefix="hmdiff-xdg-")  # mode 0700, as a session's runtime dir
        atexit.register(shutil.rmtree, path, True)
        os.environ["XDG_RUNTIME_DIR"] = path


class Renderer:
    """One offscreen window of a fixed image size; the mesh is updated in place for each frame."""

    def __init__(self, width: int, height: int, faces: np.ndarray, margin: int = 0) -> None:
        self.width, self.height, self.margin = width, height, margin
        ensure_runtime_dir()
        self._vis = o3d.visualization.Visualizer()
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):  # no EGL fallback chatter
            created = self._vis.create_window(visible=False, width=width + 2 * margin, height=height + 2 * margin)
        if not created:
            raise RuntimeError("Open3D could not create an offscreen window (EGL)")
        # The initial vertices only set Open3D's bounding box (used to place the view): a body-sized
        # box a few metres in front of the camera.
        init = np.random.default_rng(0).uniform([-1.0, -1.0, 2.0], [1.0, 1.0, 4.0], (int(faces.max()) + 1, 3))
        self._mesh = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(init),
            o3d.utility.Vector3iVector(np.asarray(faces, np.int32)),
        )
        self._vis.add_geometry(self._mesh)
        opt = self._vis.get_render_option()
        opt.light_on = False
        opt.mesh_show_back_face = True
        opt.background_color = KEY / 255.0
        ctr = self._vis.get_view_control()
        ctr.set_constant_z_near(0.02)
        ctr.set_constant_z_far(500.0)
        self._focal: float | None = None

    def _set_focal(self, focal: float) -> None:
        if self._focal == focal:
            return
        w, h = self.width + 2 * self.margin, self.height + 2 * self.margin
        params = o3d.camera.PinholeCameraParameters()
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, focal, focal, w / 2 - 0.5, h / 2 - 0.5)
        params.extrinsic = np.eye(4)  # vertices are already in the camera frame
        if not self._vis.get_view_control().convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            raise RuntimeError("Open3D rejected the camera parameters")
        self._focal = focal

    def crop_offset(self, principal: np.ndarray) -> tuple[int, int]:
        """Top-left corner of the image inside the larger window for a principal point (2,)."""
        shift = np.asarray(principal, np.float64) - image_centre(self.width, self.height)
        whole = np.round(shift)
        if np.abs(shift - whole).max() > 1e-3 or np.abs(whole).max() > self.margin:
            raise ValueError(f"principal point offset {shift} must be whole pixels within +-{self.margin}")
        return self.margin - int(whole[0]), self.margin - int(whole[1])

    def render(self, vertices: np.ndarray, colors: np.ndarray, focal: np.ndarray, principal: np.ndarray,
               background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """RGB image (H, W, 3) uint8 and body mask (H, W) bool for camera-frame vertices (V, 3)."""
        fx, fy = float(focal[0]), float(focal[1])
        if abs(fx - fy) > 1e-6 * fx:
            raise ValueError("the renderer needs square pixels (fx == fy)")
        ox, oy = self.crop_offset(principal)
        self._set_focal(fx)
        self._mesh.vertices = o3d.utility.Vector3dVector(np.asarray(vertices, np.float64))
        self._mesh.vertex_colors = o3d.utility.Vector3dVector(np.clip(np.asarray(colors, np.float64), 0.01, 1.0))
        self._vis.update_geometry(self._mesh)
        buf = np.asarray(self._vis.capture_screen_float_buffer(do_render=True))
        img = cv2.convertScaleAbs(buf[oy:oy + self.height, ox:ox + self.width], alpha=255.0)  # rounds
        band = cv2.bitwise_not(cv2.inRange(img, KEY, KEY))  # 255 on the body
        if background is None:
            return img, band > 0
        out = background.copy()
        cv2.copyTo(img, band, out)
        kernel = np.ones((3, 3), np.uint8)
        edge = cv2.dilate(band, kernel) > cv2.erode(band, kernel)
        out[edge] = cv2.GaussianBlur(out, (3, 3), 0.8)[edge]  # soften the aliased silhouette
        return out, band > 0

    def close(self) -> None:
        self._vis.destroy_window()


class SceneRenderer:
    """Renders bodies with sampled appearance, lighting and background at any image size.

    Keeps one :class:`Renderer` per image size (windows are cheap to keep, costly to create).
    """

    def __init__(self, model: BodyModel, margin_fraction: float = 0.02) -> None:
        self.regions = BodyRegions.from_model(model)
        self.margin_fraction = margin_fraction
        self._renderers: dict[tuple[int, int], Renderer] = {}

    def renderer(self, width: int, height: int) -> Renderer:
        key = (width, height)
        if key not in self._renderers:
            margin = principal_margin(width, height, self.margin_fraction)
            self._renderers[key] = Renderer(width, height, self.regions.faces, margin)
        return self._renderers[key]

    def look(self, width: int, height: int, rng: np.random.Generator) -> Look:
        """A random look (outfit, lights, background) for an image of this size."""
        return sample_look(self.regions, width, height, rng)

    def render(self, vertices: np.ndarray, focal: np.ndarray, principal: np.ndarray, look: Look,
               rng: np.random.Generator) -> np.ndarray:
        """RGB uint8 image of camera-frame vertices (V, 3); the image size is the look's."""
        height, width = look.background.shape[:2]
        vertices = np.asarray(vertices, np.float64)
        img, _ = self.renderer(width, height).render(vertices, shade(vertices, look, self.regions), focal,
                                                     principal, look.background)
        return add_noise(img, look, rng)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

