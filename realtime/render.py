"""The render stage: overlay + HUD, the Open3D mesh window, the OpenCV overlay window, outputs."""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from realtime.display import display_problem
from realtime.outputs import Outputs
from realtime.overlay import draw_overlay, spread_colours
from realtime.record import FrameRecord, MeshResult

MESH_RGB = np.array([0.55, 0.78, 0.92])
BACKGROUND_RGB = np.array([0.12, 0.12, 0.14])
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q, Q, Esc


class RenderError(RuntimeError):
    """A window could not be opened; the message is one line for the user."""


class MeshViewer:
    """An Open3D window whose one TriangleMesh is updated in place every frame.

    The camera sits at the video camera's origin looking down +z and follows the person's
    centroid. Vertices are coloured by uncertainty when the spread is non-zero. When the person
    is lost the last mesh fades to the background over ``fade_frames`` and is then hidden.
    ``visible=False`` renders offscreen (EGL) for tests and headless machines.
    """

    def __init__(self, faces: np.ndarray, visible: bool = True, width: int = 640, height: int = 720,
                 fade_frames: int = 8) -> None:
        import open3d as o3d

        self._o3d = o3d
        self._vis = o3d.visualization.VisualizerWithKeyCallback()
        if not self._vis.create_window("HMDiff live: mesh", width, height, visible=visible):
            raise RenderError("could not open the Open3D mesh window")
        for key in (ord("Q"), 256):  # Q, Esc (GLFW key codes)
            self._vis.register_key_callback(key, self._on_quit)
        self._vis.get_render_option().background_color = BACKGROUND_RGB
        self._vis.get_render_option().mesh_show_back_face = True
        self.mesh = o3d.geometry.TriangleMesh()
        self.mesh.triangles = o3d.utility.Vector3iVector(np.asarray(faces, np.int32))
        self.fade_frames = fade_frames
        self._alpha = 0.0  # 1 = fully shown, 0 = hidden
        self._colours: np.ndarray | None = None
        self._added = False
        self._lookat: np.ndarray | None = None
        self._quit = False

    def _on_quit(self, vis: object) -> bool:
        self._quit = True
        return False

    def _show(self, mesh: MeshResult) -> None:
        if not len(self.mesh.vertices):  # first mesh: size the buffers once
            self.mesh.vertices = self._o3d.utility.Vector3dVector(mesh.vertices.astype(np.float64))
            self.mesh.vertex_colors = self._o3d.utility.Vector3dVector(np.zeros_like(mesh.vertices, np.float64))
        else:
            np.asarray(self.mesh.vertices)[:] = mesh.vertices
        self.mesh.compute_vertex_normals()
        if mesh.spread.any():
            self._colours = spread_colours(mesh.spread)[:, ::-1] / 255.0
        else:
            self._colours = np.broadcast_to(MESH_RGB, mesh.vertices.shape)
        self._alpha = 1.0
        centroid = mesh.vertices.mean(0)  # followed smoothly; a reappearing person is jumped to
        self._lookat = 0.8 * self._lookat + 0.2 * centroid if self._added else centroid

    def update(self, mesh: MeshResult | None) -> bool:
        """Show ``mesh`` (or fade the last one if None); False once the user closed or quit."""
        if mesh is not None:
            self._show(mesh)
        elif self._alpha > 0:
            self._alpha = max(0.0, self._alpha - 1.0 / self.fade_frames)
        if self._colours is not None:
            np.asarray(self.mesh.vertex_colors)[:] = self._alpha * self._colours + (1 - self._alpha) * BACKGROUND_RGB
            if self._alpha > 0 and not self._added:
                self._vis.add_geometry(self.mesh)  # fits the view to the (re)appearing person
                self._added = True
            elif self._alpha == 0 and self._added:
                self._vis.remove_geometry(self.mesh, reset_bounding_box=False)
                self._added = False
            elif self._added:
                self._vis.update_geometry(self.mesh)
        if self._added:
            view = self._vis.get_view_control()
            view.set_lookat(self._lookat)
            view.set_front([0.0, 0.0, -1.0])
            view.set_up([0.0, -1.0, 0.0])
        alive = self._vis.poll_events()
        self._vis.update_renderer()
        return alive and not self._quit

    def capture(self) -> np.ndarray:
        """The current view as an RGB uint8 image."""
        return (np.asarray(self._vis.capture_screen_float_buffer(do_render=True)) * 255).astype(np.uint8)

    def close(self) -> None:
        self._vis.destroy_window()


class OverlayWindow:
    """The overlay in an OpenCV window; q or Esc (or closing it) asks to stop."""

    def __init__(self, title: str = "HMDiff live") -> None:
        problem = display_problem()
        if problem:
            raise RenderError(problem)
        import cv2

        self._cv2, self.title = cv2, title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        cv2 = self._cv2
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        return key not in QUIT_KEYS and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        self._cv2.destroyWindow(self.title)


class HudStats:
    """Rolling numbers for the HUD: FPS, latency, per-stage ms, frames not rendered."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._ms: dict[str, float] = {}
        self._latency = 0.0
        self._last_index = -1
        self.missed = 0  # source frames that were dropped or skipped before rendering

    def update(self, record: FrameRecord) -> None:
        now = time.perf_counter()
        latency = (now - record.frame.timestamp) * 1e3
        self._latency = latency if not self._times else 0.9 * self._latency + 0.1 * latency
        self._times.append(now)
        for name, ms in record.stage_ms.items():
            self._ms[name] = ms if name not in self._ms else 0.9 * self._ms[name] + 0.1 * ms
        self.missed += max(0, record.frame.index - self._last_index - 1)
        self._last_index = record.frame.index

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

    def lines(self, record: FrameRecord) -> list[str]:
        stages = "  ".join(f"{name} {ms:.0f}" for name, ms in self._ms.items()) + " ms" if self._ms else ""
        mesh = record.mesh
        if mesh is None:
            state = "no person" if not record.person else "no mesh"
        else:
            state = f"steps {mesh.steps_used} {'warm' if mesh.warm else 'cold'}  DAT {mesh.dat_steps}"
        return [
            f"{self.fps:.1f} FPS  latency {self._latency:.0f} ms  dropped {self.missed}",
            stages,
            f"frame {record.frame.index}  {state}",
        ]


class RenderStage:
    """The pipeline's sink: draws the overlay, updates the windows, writes the outputs.

    Returns False (stop) once a window was closed or q/Esc pressed.
    """

    def __init__(self, outputs: Outputs | None = None, viewer: MeshViewer | None = None,
                 window: OverlayWindow | None = None) -> None:
        self.outputs, self.viewer, self.window = outputs, viewer, window
        self.stats = HudStats()

    def __call__(self, record: FrameRecord) -> bool:
        record.overlay = draw_overlay(record, self.stats.lines(record))
        keep_going = True
        if self.viewer is not None:
            keep_going &= self.viewer.update(record.mesh)
        if self.window is not None:
            keep_going &= self.window.show(record.overlay)
        if self.outputs is not None:
            self.outputs.write(record)
        self.stats.update(record)
        return keep_going

    def close(self) -> None:
        """Close the windows (outputs are closed by their owner)."""
        for window in (self.viewer, self.window):
            if window is not None:
                window.close()
