"""Left/right mirror images: a body mesh's vertex twins (COCO-17's joint twins: ``models.skeletons``).

A mesh mirrored through the plane x = 0 of any frame (the camera's included) is again a body of
the same topology once every vertex takes its twin's place:
``mirrored = (vertices * (-1, 1, 1))[:, twins]``. The twins are found once on the rest mesh
(symmetric about its mid-plane in x, within ``SYMMETRY_TOLERANCE_M``) and stored in
``models/assets/<body>_mirror.npy``.
"""
from __future__ import annotations

import numpy as np
import scipy.spatial
import torch

from models.body.base import BodyModel, BodyModelError
from models.body.coarse import ASSETS_DIR

SYMMETRY_TOLERANCE_M = 1e-3
REFLECT_X = torch.tensor([-1.0, 1.0, 1.0])


def build_vertex_twins(model: BodyModel) -> np.ndarray:
    """(V,) index of each vertex's mirror twin on the rest mesh; BodyModelError if not symmetric."""
    with torch.no_grad():
        rest = model().vertices[0].double().cpu().numpy()
    reflected = rest.copy()
    reflected[:, 0] = 2 * rest[:, 0].mean() - rest[:, 0]  # about the mesh's own mid-plane
    distance, twins = scipy.spatial.cKDTree(rest).query(reflected)
    if distance.max() > SYMMETRY_TOLERANCE_M or len(set(twins.tolist())) != len(twins):
        raise BodyModelError(f"{model.name}'s rest mesh is not left/right symmetric (max {distance.max() * 1000:.1f} mm)")
    return twins.astype(np.int32)


def vertex_twins(body_model_name: str = "anny", model: BodyModel | None = None) -> torch.Tensor:
    """The stored vertex twins of a body (built from ``model``, or the loaded body, and stored if missing)."""
    path = ASSETS_DIR / f"{body_model_name}_mirror.npy"
    if not path.is_file():
        from models.body.factory import load_body_model

        np.save(path, build_vertex_twins(model or load_body_model(body_model_name)))
    return torch.from_numpy(np.load(path).astype(np.int64))


def mirror_points(points: torch.Tensor, twins: list[int] | torch.Tensor) -> torch.Tensor:
    """Points (..., P, 3) mirrored through x = 0, each taking its twin's place."""
    return (points * REFLECT_X.to(points))[..., twins, :]
