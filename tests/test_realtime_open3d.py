"""Open3D offscreen (EGL): the mesh window and the synthetic source, each in a fresh process.

With EGL, an Open3D window created after another one was destroyed renders nothing (Open3D
0.20), so these tests must not share a process with any other Open3D user.
"""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a spawned interpreter; its assertion errors come back here."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _viewer_checks() -> None:
    from realtime.record import MeshResult
    from realtime.render import MeshViewer
    from test_realtime_render import sphere

    vertices, faces = sphere()
    n = len(vertices)
    viewer = MeshViewer(faces, visible=False, width=160, height=120, fade_frames=2)
    try:
        mesh = viewer.mesh
        assert viewer.update(MeshResult(vertices, vertices[:17], np.zeros(n, np.float32), 5, 0, False))
        first = viewer.capture()
        assert first.std() > 1  # the mesh was drawn over the flat background
        moved = vertices + np.float32([0.05, 0, 0])
        viewer.update(MeshResult(moved, moved[:17], np.linspace(0, 0.05, n, dtype=np.float32), 2, 0, True))
        assert viewer.mesh is mesh  # the same geometry, updated in place
        np.testing.assert_allclose(np.asarray(mesh.vertices), moved, atol=1e-6)
        viewer.update(None)
        viewer.update(None)  # faded out after fade_frames frames without a person: hidden
        assert viewer.capture().std() < first.std() / 4
    finally:
        viewer.close()


@pytest.mark.slow
def test_mesh_viewer_updates_in_place_and_fades():
    in_fresh_process(_viewer_checks)


def _synthetic_checks() -> list[bool]:
    from models.body.anny_body import configure_anny_cache
    from models.landmarks import PoseDetector
    from realtime.sources import SyntheticSource

    configure_anny_cache()
    source = SyntheticSource(fps=10, sequence_s=0.4, seed=1, every_frame=True).open()  # 4 frames per sequence
    frames = [frame for frame, _ in zip(source.frames(), range(8))]
    source.close()
    assert all(f.image.shape[1] <= 640 and f.image.dtype == np.uint8 and f.scale == 1.0 for f in frames)
    assert frames[0].focal > 0 and frames[4].focal != frames[0].focal  # a new camera each sequence
    assert [f.media_time for f in frames] == [i / 10 for i in range(8)]
    detector = PoseDetector(static_image_mode=True)
    try:
        return [detector(f.image) is not None for f in frames]
    finally:
        detector.close()


@pytest.mark.slow
def test_synthetic_source_renders_people_mediapipe_finds():
    found = in_fresh_process(_synthetic_checks)
    assert sum(found[:4]) >= 3 and sum(found[4:]) >= 3, found  # both sequences render a person


def _sources_on_other_threads() -> list[float]:
    """Two synthetic sources read from two threads, neither of which made the windows."""
    import threading

    import models.synth.render as render
    from models.body.anny_body import configure_anny_cache
    from realtime.sources import SyntheticSource

    configure_anny_cache()
    shares = []
    original = render.Renderer.render

    def counting(self, *args, **kwargs):
        image, mask = original(self, *args, **kwargs)
        shares.append(float(mask.mean()))  # the body's share of the image
        return image, mask

    render.Renderer.render = counting

    def read(seed: int) -> None:
        source = SyntheticSource(fps=10, sequence_s=0.3, seed=seed, every_frame=True).open()
        for _ in zip(source.frames(), range(4)):
            pass
        source.close()

    for seed in (1, 2):
        thread = threading.Thread(target=read, args=(seed,))
        thread.start()
        thread.join()
    return shares


@pytest.mark.slow
def test_synthetic_source_renders_from_any_thread():
    """An Open3D EGL window renders only on the thread that created it (from another one every
    pixel comes back as something else than the background); the source renders on its own."""
    shares = in_fresh_process(_sources_on_other_threads)
    assert len(shares) >= 8 and all(0.02 < s < 0.6 for s in shares), shares
