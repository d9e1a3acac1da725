"""Overlay drawing and the HUD (the Open3D window is tested in test_realtime_open3d.py)."""
from __future__ import annotations

import numpy as np

from models.camera import project_rows as project
from realtime.overlay import draw_overlay
from realtime.record import FrameRecord, MeshResult
from realtime.render import HudStats, display_problem
from realtime.sources import Frame

SPHERE_V = 200


def sphere(n=SPHERE_V, radius=0.3, centre=(0.0, 0.0, 3.0)):
    """Points on a sphere in front of the camera and a fan of faces over them."""
    i = np.arange(n) + 0.5
    phi, theta = np.arccos(1 - 2 * i / n), np.pi * (1 + 5**0.5) * i
    pts = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1) * radius
    faces = np.stack([np.zeros(n - 2, int), np.arange(1, n - 1), np.arange(2, n)], 1)
    return (pts + centre).astype(np.float32), faces


def record_with_mesh(spread=None):
    vertices, _ = sphere()
    frame = Frame(7, 0.0, 0.0, np.full((240, 320, 3), 40, np.uint8), 0.5, 1.0)
    record = FrameRecord(frame, focal=np.array([300.0, 300.0], np.float32),
                         principal=np.array([160.0, 120.0], np.float32))
    record.keypoints = np.stack([np.linspace(130, 190, 17), np.linspace(60, 200, 17)], 1).astype(np.float32)
    record.confidence = np.linspace(0, 1, 17).astype(np.float32)
    record.landmarks = object()
    spread = np.zeros(SPHERE_V, np.float32) if spread is None else spread
    record.mesh = MeshResult(vertices, vertices[:17], spread, 3, 1, True)
    return record


def test_project_matches_the_pinhole_model():
    uv, front = project(np.array([[0.3, -0.15, 3.0], [0, 0, -1.0]]), np.array([300.0, 300.0]), np.array([160.0, 120.0]))
    np.testing.assert_allclose(uv[:, 0], [190.0, 105.0], rtol=1e-6)
    assert front.tolist() == [True, False]


def test_overlay_draws_mesh_skeleton_and_hud():
    record = record_with_mesh()
    image = draw_overlay(record, ["12.0 FPS", "detect 25 ms"])
    assert image.shape == record.frame.image.shape and not np.shares_memory(image, record.frame.image)
    record.mesh = None
    bare = draw_overlay(record, [])
    changed = np.abs(image.astype(int) - bare).sum(-1) > 0
    changed[:60] = False  # ignore the HUD band
    ys, xs = np.nonzero(changed)
    assert len(ys) > 100 and np.hypot(xs - 160, ys - 120).max() < 35  # the sphere: 30 px around (160, 120)
    assert (image[changed][:, 0] > image[changed][:, 2]).mean() > 0.9  # blended towards the mesh's blue
    assert image[5:20, 5:60].max() > 200 and bare[5:20, 5:60].max() < 100  # HUD text, on a darkened band
    assert (image[:3, :3] == 16).all()  # the band: the frame's 40 darkened to 40 %
    coloured = draw_overlay(record_with_mesh(np.linspace(0, 0.05, SPHERE_V, dtype=np.float32)), [])
    assert not np.array_equal(coloured, draw_overlay(record_with_mesh(), []))  # spread changes the colours


def test_hud_counts_missing_frames_and_states():
    stats = HudStats()
    record = record_with_mesh()
    stats.update(record)  # frame 7 first: 0..6 were never rendered
    record.frame.index = 12
    stats.update(record)
    assert stats.missed == 7 + 4
    assert "steps 3 warm" in stats.lines(record)[2]
    record.mesh, record.landmarks = None, None
    assert "no person" in stats.lines(record)[2]


def test_display_problem_without_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert "--no-display" in display_problem()


def test_draw_mesh_blends_only_the_points_and_their_dilation():
    """Each projected vertex blends its colour into its pixel and the 2×2 dilation's (to the
    right and below), to within OpenCV's rounding; nothing else changes, vertices behind the camera or off the frame included,
    and points on the frame's last row and column stay inside it."""
    from realtime.overlay import draw_mesh

    rng = np.random.default_rng(0)
    canvas = rng.integers(0, 256, (40, 60, 3), np.uint8)
    focal, principal = np.array([100.0, 100.0]), np.array([0.0, 0.0])
    pixels = np.array([[5, 7], [30, 20], [59, 39], [0, 0]])  # the last two on the frame's corners
    vertices = np.concatenate([np.c_[pixels / 100.0, np.ones(4)], [[0.1, 0.1, -1.0], [2.0, 0.1, 1.0]]])
    colours = rng.integers(0, 256, (6, 3), np.uint8)
    out = canvas.copy()
    draw_mesh(out, vertices, focal, principal, colours, alpha=0.5)
    touched = np.zeros(canvas.shape[:2], bool)
    for x, y in pixels:
        touched[y:y + 2, x:x + 2] = True
    changed = (out != canvas).any(-1)
    assert not (changed & ~touched).any()
    for (x, y), colour in zip(pixels, colours):
        expected = 0.5 * colour + 0.5 * canvas[y, x]
        assert np.abs(out[y, x] - expected).max() <= 0.5
