"""A coarse anny mesh (a subset of its vertices) and a sparse linear upsampler back to the full mesh.

Method (``build_coarse_mesh``), all on the rest pose with the average shape:

1. **Vertices**: farthest-point sampling in geodesic distance over the mesh's edge graph
   (edge lengths in metres; the small disconnected parts, eyeballs and tongue, are glued to the
   body by an edge from each of their vertices to its nearest body vertex), starting from the top of the head (the
   highest vertex), so the coarse vertices are spread evenly over the surface.
2. **Faces**: the dual of the geodesic Voronoi diagram of the coarse vertices: every full-mesh
   triangle whose three corners fall in three different cells gives one coarse triangle
   (orientation kept, duplicates dropped). Cheap and good enough for display; not guaranteed
   manifold.
3. **Upsampler**: each full vertex is a weighted sum of its ``k`` = 12 geodesically nearest
   coarse vertices (geodesic, so an inner thigh never borrows from the other leg), weights
   summing to one, fitted by regularised least squares over 2000 random posed and shaped bodies
   (``models.body.linear_fit``). Sum-to-one shared weights make it commute with rigid motions,
   so it applies in the camera frame too.

The result is stored sparse in ``models/assets/anny_coarse_<Vc>.npz``; build it with
``python tools/build_coarse.py --build [--num-vertices 256]``, or fit only the upsampler again
with ``--refit`` (the coarse vertices and their order stay: trained weights depend on them).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import scipy.spatial
import torch

from models.body.base import BodyModel, BodyModelError
from models.body.factory import load_body_model
from models.body.linear_fit import fit_sum_to_one, random_anny_bodies

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
NEIGHBORS = 12
TRAIN_BODIES = 2000
TRAIN_SEED = 0
# Regularising noise (see ``fit_sum_to_one``): 1 mm keeps the weights below ~1.5 in norm, so
# errors of predicted coarse vertices are not amplified, for +0.15 mm of mean upsampling error.
NOISE = 1e-3


def coarse_path(body_model_name: str, num_vertices: int) -> Path:
    """Where the coarse mesh of ``num_vertices`` vertices is stored."""
    return ASSETS_DIR / f"{body_model_name}_coarse_{num_vertices}.npz"


class CoarseMesh(torch.nn.Module):
    """Coarse vertices ``indices`` (Vc,) of the full mesh and the sparse upsampler back to it.

    ``upsampler`` is the (V, Vc) map as a sparse CSR tensor (a sparse-dense product is the
    fastest upsampling on CPU, ~0.3 ms for one body, and is differentiable; on CPU it needs
    float32 or float64); ``neighbors`` and ``weights`` (V, k) are the same map row by row.
    """

    def __init__(
        self, indices: torch.Tensor, neighbors: torch.Tensor, weights: torch.Tensor, faces: torch.Tensor
    ) -> None:
        super().__init__()
        # Not persistent: the stored file is the source of truth, not a model checkpoint.
        self.register_buffer("indices", indices.long(), persistent=False)  # (Vc,) full-mesh vertex ids
        self.register_buffer("neighbors", neighbors.long(), persistent=False)  # (V, k) coarse positions
        self.register_buffer("weights", weights.float(), persistent=False)  # (V, k), rows sum to 1
        self.register_buffer("faces", faces.long(), persistent=False)  # (Fc, 3) into the coarse vertices
        count, k = self.neighbors.shape
        columns, order = self.neighbors.sort(dim=1)
        rows = torch.arange(0, count * k + 1, k)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            upsampler = torch.sparse_csr_tensor(
                rows, columns.flatten(), self.weights.gather(1, order).flatten(), size=(count, self.num_vertices)
            )
        self.register_buffer("upsampler", upsampler, persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.indices.shape[0])

    def downsample(self, vertices: torch.Tensor) -> torch.Tensor:
        """Full vertices (B, V, 3) to coarse vertices (B, Vc, 3)."""
        return vertices[:, self.indices]

    def upsample(self, coarse: torch.Tensor) -> torch.Tensor:
        """Coarse vertices (B, Vc, 3) float32 to full vertices (B, V, 3), one sparse product."""
        batch = coarse.shape[0]
        flat = coarse.transpose(0, 1).reshape(self.num_vertices, batch * 3)
        return (self.upsampler @ flat).view(-1, batch, 3).transpose(0, 1).contiguous()

    def upsampler_dense(self) -> torch.Tensor:
        """The upsampler as a dense (V, Vc) float32 matrix."""
        return self.upsampler.to_dense()


def _surface_graph(vertices: np.ndarray, faces: np.ndarray) -> scipy.sparse.csr_matrix:
    """Edge-length graph of the mesh, small disconnected parts glued to the largest one."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    count = len(vertices)
    lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    graph = scipy.sparse.coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(count, count)).tocsr()
    graph = graph.maximum(graph.T)
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    main = labels == np.bincount(labels).argmax()
    loose = np.flatnonzero(~main)
    if len(loose):
        body = np.flatnonzero(main)
        dist, nearest = scipy.spatial.cKDTree(vertices[body]).query(vertices[loose])
        glue = scipy.sparse.coo_matrix((dist + 1e-6, (loose, body[nearest])), shape=(count, count)).tocsr()
        graph = graph.maximum(glue).maximum(glue.T)
    return graph


def farthest_point_sampling(graph: scipy.sparse.csr_matrix, num: int, start: int) -> np.ndarray:
    """``num`` vertices by geodesic farthest-point sampling from ``start`` (deterministic)."""
    chosen = [start]
    dist = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=start)
    while len(chosen) < num:
        chosen.append(int(dist.argmax()))
        dist = np.minimum(dist, scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=chosen[-1]))
    return np.asarray(chosen)


def _dual_faces(cells: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Coarse triangles from full triangles whose corners lie in three different cells."""
    tri = cells[faces]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    tri = tri[keep]
    first = tri.argmin(1)  # rotate so the smallest id comes first, keeping the orientation
    tri = np.stack([tri[np.arange(len(tri)), (first + i) % 3] for i in range(3)], axis=1)
    return np.unique(tri, axis=0)


def build_coarse_mesh(
    model: BodyModel,
    num_vertices: int = 256,
    k: int = NEIGHBORS,
    num_bodies: int = TRAIN_BODIES,
    seed: int = TRAIN_SEED,
    indices: np.ndarray | None = None,
) -> CoarseMesh:
    """Select the coarse vertices (or take ``indices``) and fit the upsampler (about 40 s on two CPU cores)."""
    with torch.no_grad():
        rest = model().vertices[0].cpu().numpy().astype(np.float64)
    faces = model.faces.cpu().numpy()
    graph = _surface_graph(rest, faces)
    if indices is None:
        indices = farthest_point_sampling(graph, num_vertices, start=int(rest[:, 1].argmin()))
    geodesic = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=indices)  # (Vc, V)
    coarse_faces = _dual_faces(geodesic.argmin(0), faces)
    neighbors = torch.from_numpy(np.argsort(geodesic, axis=0)[:k].T.copy())  # nearest first
    index = torch.from_numpy(indices)
    samples = ((out.vertices[:, index], out.vertices) for out in random_anny_bodies(model, num_bodies, seed))
    weights = fit_sum_to_one(neighbors, samples, noise=NOISE)
    return CoarseMesh(index, neighbors, weights, torch.from_numpy(coarse_faces))


def save_coarse_mesh(mesh: CoarseMesh, path: Path) -> None:
    """Store the mesh compactly (int16 ids, float32 weights)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        indices=mesh.indices.numpy().astype(np.int16),
        neighbors=mesh.neighbors.numpy().astype(np.int16),
        weights=mesh.weights.numpy().astype(np.float32),
        faces=mesh.faces.numpy().astype(np.int16),
    )


def load_coarse_mesh(
    body_model_name: str = "anny", num_vertices: int = 256, model: BodyModel | None = None
) -> CoarseMesh:
    """The stored coarse mesh, built (and stored) first if missing (pass ``model`` to reuse one)."""
    if body_model_name != "anny":
        raise BodyModelError(f"coarse meshes exist for 'anny' only, not {body_model_name!r}")
    path = coarse_path(body_model_name, num_vertices)
    if not path.is_file():
        mesh = build_coarse_mesh(model or load_body_model("anny"), num_vertices)
        save_coarse_mesh(mesh, path)
        return mesh
    data = {key: torch.from_numpy(value) for key, value in np.load(path).items()}
    return CoarseMesh(data["indices"], data["neighbors"], data["weights"], data["faces"])
