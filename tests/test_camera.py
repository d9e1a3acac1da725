"""models/camera.py and models/skeletons.py: the one home of the camera conventions and the keypoint facts."""
from __future__ import annotations

import math

import numpy as np
import torch

from models.camera import focal_from_fov, image_centre, intrinsics, project, project_points, project_rows, unproject
from models.skeletons import COCO17, COCO17_EDGES, COCO17_HIPS, COCO17_TWINS, MEDIAPIPE_TO_COCO17


def test_principal_point_is_the_centre_of_whole_pixel_centres():
    assert image_centre(640, 480).tolist() == [319.5, 239.5]
    assert image_centre(np.array([640, 3]), np.array([480, 1])).tolist() == [[319.5, 239.5], [1.0, 0.0]]
    focal, principal = intrinsics(640, 480, 90.0)
    assert focal.dtype == principal.dtype == np.float32 and math.isclose(focal[0], 320.0, rel_tol=1e-6)
    assert intrinsics(640, 480, 60.0, focal_px=500.0)[0].tolist() == [500.0, 500.0]
    assert math.isclose(focal_from_fov(640, 60.0), float(focal_from_fov(np.float64(640), np.float64(60.0))))


def test_project_and_unproject_are_inverse_and_agree_across_numpy_and_torch():
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(3, 5, 3, generator=gen) * 0.5 + torch.tensor([0.0, 0.0, 4.0])
    focal, principal = torch.tensor([[500.0, 500.0]] * 3), torch.tensor([[319.5, 239.5]] * 3)
    uv = project(points, focal, principal)
    assert torch.allclose(unproject(uv, points[..., 2], focal, principal), points, atol=1e-5)
    rows, front = project_rows(points[0].numpy(), focal[0].numpy(), principal[0].numpy())
    assert front.all() and np.allclose(rows.T, uv[0].numpy(), atol=1e-3)
    assert np.allclose(project_points(points[0].numpy(), focal[0].numpy(), principal[0].numpy()), uv[0].numpy(), atol=1e-3)


def test_coco17_facts_agree():
    assert len(COCO17) == len(MEDIAPIPE_TO_COCO17) == len(COCO17_TWINS) == 17
    assert [COCO17[i] for i in COCO17_HIPS] == ["left_hip", "right_hip"]
    assert all(COCO17_TWINS[COCO17_TWINS[i]] == i for i in range(17))
    for a, b in COCO17_EDGES:  # the skeleton drawn is symmetric: every edge's mirror image is an edge
        assert tuple(sorted((COCO17_TWINS[a], COCO17_TWINS[b]))) in {tuple(sorted(e)) for e in COCO17_EDGES}
