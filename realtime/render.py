"""The render stage: overlay + HUD, the Open3D mesh window, the OpenCV overlay window, outputs."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
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


MESH_KEY, OVERLAY_KEY = "m", "o"  # toggle the mesh window / the overlay window (in either window)
WINDOW_GAP_PX = 8
TITLE_BAR_PX = 40  # room left above and below the windows for title bars and a panel
QT_TOOLBAR_PX = 60  # OpenCV's Qt window: its toolbar and status bar


def screen_size() -> tuple[int, int] | None:
    """The X screen's size in pixels (through libX11), or None where it cannot be read."""
    if not os.environ.get("DISPLAY"):
        return None
    try:
        x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
        x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = x11.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = x11.XDefaultScreen(display)
            size = x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
        finally:
            x11.XCloseDisplay(display)
    except (OSError, AttributeError):
        return None
    return size if min(size) > 0 else None


def window_layout(screen: tuple[int, int] | None, aspect: float = 4 / 3,
                  fallback: tuple[int, int] = (640, 480)) -> dict[str, tuple[int, int, int, int]]:
    """(x, y, width, height) of the overlay (left) and the mesh window (right), side by side.

    With a known screen each takes up to half its width (frames' ``aspect``, within its height);
    else each gets ``fallback`` and the mesh window starts right of the overlay.
    """
    if screen is None:
        width, height = fallback
    else:
        width = (screen[0] - 3 * WINDOW_GAP_PX) // 2
        height = min(round(width / aspect), screen[1] - 2 * TITLE_BAR_PX)
        width = min(width, round(height * aspect))
    x0 = WINDOW_GAP_PX if screen is None else (screen[0] - 2 * width - WINDOW_GAP_PX) // 2
    return {"overlay": (x0, TITLE_BAR_PX, width, height),
            "mesh": (x0 + width + WINDOW_GAP_PX, TITLE_BAR_PX, width, height)}


class MeshViewer:
    """An Open3D window whose one TriangleMesh is updated in place every frame.

    The camera sits at the video camera's origin looking down +z and follows the person's
    centroid. Vertices are coloured by uncertainty when the spread is non-zero. When the person
    is lost the last mesh fades to the background over ``fade_frames`` and is then hidden.
    ``visible=False`` renders offscreen (EGL) for tests and headless machines. :meth:`hide` closes
    the window and :meth:`show` opens it again where it was, with the same mesh.
    Keys pressed in it (``m``, ``o``) are collected in :attr:`keys` for the caller.
    """

    def __init__(self, faces: np.ndarray, visible: bool = True, width: int = 640, height: int = 720,
                 fade_frames: int = 8, left: int = 50, top: int = 50) -> None:
        import open3d as o3d

        self._o3d = o3d
        self.geometry, self.visible_window = (left, top, width, height), visible
        self.mesh = o3d.geometry.TriangleMesh()
        self.mesh.triangles = o3d.utility.Vector3iVector(np.asarray(faces, np.int32))
        self.fade_frames = fade_frames
        self._alpha = 0.0  # 1 = fully shown, 0 = hidden
        self._colours: np.ndarray | None = None
        self._added = False
        self._lookat: np.ndarray | None = None
        self._quit = False
        self.keys: list[str] = []
        self._vis = None
        self._open()

    @property
    def shown(self) -> bool:
        return self._vis is not None

    def _open(self) -> None:
        o3d = self._o3d
        left, top, width, height = self.geometry
        vis = o3d.visualization.VisualizerWithKeyCallback()
        if not vis.create_window("HMDiff live: mesh", width, height, left, top, visible=self.visible_window):
            raise RenderError("could not open the Open3D mesh window")
        for key in (ord("Q"), 256):  # Q, Esc (GLFW key codes)
            vis.register_key_callback(key, self._on_quit)
        for key in (MESH_KEY, OVERLAY_KEY):
            vis.register_key_callback(ord(key.upper()), functools.partial(self._on_key, key))
        vis.get_render_option().background_color = BACKGROUND_RGB
        vis.get_render_option().mesh_show_back_face = True
        self._vis, self._added = vis, False

    def _on_quit(self, vis: object) -> bool:
        self._quit = True
        return False

    def _on_key(self, key: str, vis: object) -> bool:
        self.keys.append(key)
        return False

    def hide(self) -> None:
        if self._vis is not None:
            self._vis.destroy_window()
            self._vis = None

    def show(self) -> None:
        if self._vis is None:
            self._open()

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
        self._lookat = 0.8 * self._lookat + 0.2 * centroid if self._lookat is not None else centroid

    def update(self, mesh: MeshResult | None) -> bool:
        """Show ``mesh`` (or fade the last one if None); False once the user closed or quit."""
        if mesh is not None:
            self._show(mesh)
        elif self._alpha > 0:
            self._alpha = max(0.0, self._alpha - 1.0 / self.fade_frames)
        if self._vis is None:  # hidden: the state above keeps following
            return not self._quit
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
        if self._alpha == 0:
            self._lookat = None
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
        self.hide()


class OverlayWindow:
    """The overlay in an OpenCV window; q or Esc (or closing it) asks to stop. :meth:`hide` and
    :meth:`show` close and reopen it where it was; ``m``/``o`` pressed in it go to :attr:`keys`."""

    def __init__(self, title: str = "HMDiff live", geometry: tuple[int, int, int, int] | None = None) -> None:
        problem = display_problem()
        if problem:
            raise RenderError(problem)
        import cv2

        self._cv2, self.title, self.geometry = cv2, title, geometry
        self.keys: list[str] = []
        self.shown = False
        self.show_window()

    def show_window(self) -> None:
        cv2 = self._cv2
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        if self.geometry is not None:
            x, y, width, height = self.geometry
            cv2.resizeWindow(self.title, width, height)
            cv2.moveWindow(self.title, x, y)
        self.shown = True

    def hide(self) -> None:
        if self.shown:
            self._cv2.destroyWindow(self.title)
            self._cv2.waitKey(1)
            self.shown = False

    def show(self, image: np.ndarray) -> bool:
        cv2 = self._cv2
        if not self.shown:
            return True
        if self.geometry is not None:  # OpenCV's Qt window shows images 1:1: fit it here
            width, height = self.geometry[2], self.geometry[3] - QT_TOOLBAR_PX
            scale = min(width / image.shape[1], height / image.shape[0])
            if scale > 0 and abs(scale - 1) > 0.01:
                size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        if chr(key).lower() in (MESH_KEY, OVERLAY_KEY):
            self.keys.append(chr(key).lower())
        return key not in QUIT_KEYS and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        self.hide()


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
        stages = "  ".join(f"{name} {ms:.0f}" for name, ms in self._ms.items() if "/" not in name) + " ms" \
            if self._ms else ""
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

    Returns False (stop) once a window was closed or q/Esc pressed. ``m`` and ``o`` (in either
    window) hide or show the mesh window and the overlay window; the last one shown stays.
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
        self._toggle()
        if self.outputs is not None:
            self.outputs.write(record)
        self.stats.update(record)
        return keep_going

    def open_windows(self, faces: np.ndarray, aspect: float = 4 / 3) -> None:
        """The overlay window (left) and the Open3D mesh window (right) side by side, sized from
        the screen where it can be read (:func:`window_layout`)."""
        layout = window_layout(screen_size(), aspect)
        self.window = OverlayWindow(geometry=layout["overlay"])
        x, y, width, height = layout["mesh"]
        self.viewer = MeshViewer(faces, width=width, height=height, left=x, top=y)

    def _toggle(self) -> None:
        """Apply the m / o keys pressed in either window since the last frame."""
        windows = {MESH_KEY: self.viewer, OVERLAY_KEY: self.window}
        keys = [k for w in windows.values() if w is not None for k in w.keys]
        for w in windows.values():
            if w is not None:
                w.keys.clear()
        for key in keys:
            target = windows[key]
            if target is None:
                continue
            if not target.shown:
                target.show() if target is self.viewer else target.show_window()
            elif any(w is not None and w is not target and w.shown for w in windows.values()):
                target.hide()  # never the last window: nothing would be left to take the keys

    def close(self) -> None:
        """Close the windows (outputs are closed by their owner)."""
        for window in (self.viewer, self.window):
            if window is not None:
                window.close()
