"""A shape-aware upsampler: the full anny mesh of a known shape, posed like recovered coarse vertices.

``CoarseMesh.upsample`` (``models/body/coarse.py``) is a fixed local blend of the 256 coarse
vertices: the full mesh has whatever shape the coarse vertices have, and the recovery's coarse
vertices carry little of the person's build (they come out close to an average body). Given a
shape (anny's 6 phenotypes, e.g. pooled along a track by :class:`models.body.phenotype.ShapeTrack`),
:class:`ShapedUpsampler` builds the full mesh from that shape's own rest template, moved by the
local motion of the recovered coarse mesh:

1. **Template** (cached per shape): the shape's zero-pose coarse vertices ``T_c`` (exact, from the
   compact LBS export ``models.body.anny_lbs``; anny itself is not needed) and its full zero-pose
   mesh ``T = U T_c + d``: ``U`` the upsampler, ``d`` the fine detail the blend loses (an optional
   (1 + 6, V, 3) basis affine in the phenotypes; none is shipped yet, so ``d = 0``: the blend's
   own error, ~1-3 mm, stays).
2. **Local rigid motions** ``(R_g, t_g)``: the weighted Procrustes of groups of coarse vertices from
   ``T_c`` to the recovered coarse vertices ``x``. ``groups="bones"`` (default): one group per
   bone of anny's reduced rig (``models.body.pose_fit.FIT_BONES`` and the root, the other bones
   merged into their kept ancestors), weighted by the coarse vertices' skin weights, and each
   coarse vertex's motion the skin-weighted blend of its bones' (linear blend skinning, with bone
   motions read off the recovered surface instead of fitted); ``"geodesic"``: one group per coarse
   vertex, its ``k`` geodesically nearest coarse vertices (softer: the shape's authority reaches
   only a neighbourhood's size).
3. **Blend**: ``model_v = sum_j w_vj (R_j T_v + t_j)`` with ``w`` the upsampler's weights (the
   blended 3x3 matrices and translations are upsampled like vertices); the output is
   ``(1 - beta) model + beta (U x + M_v d_v)``, ``M_v = sum_j w_vj R_j``. ``beta = 1`` is today's
   upsample plus the shape's fine detail; ``beta = 0`` (default) takes the body from the shape's
   template and only the motions from the recovery (its own shape and vertex noise are dropped).

Where it runs: ``HMDiff`` (``models/hmdiff/model.py``) builds every full mesh with it, at the
shape the caller gives (``recover(shape=...)``; the live product's ``--gender`` / ``--body-shape``,
``LiveOptions.body_shape``) or at the default body (``models.body_shape.DEFAULT_SHAPE``): one
body along a whole track.

Cost: one sparse product (the upsampler on 12 columns per body), 26 3x3 SVDs and small dense
products; the template (cached per shape) is one LBS forward of the coarse mesh
(``bench/shape.py`` prints the ms).
"""
from __future__ import annotations

import numpy as np
import roma
import scipy.sparse
import scipy.sparse.csgraph
import torch

from models.body.anny_lbs import AnnyLBS, load_anny_lbs
from models.body.coarse import CoarseMesh, load_coarse_mesh

NEIGHBORHOOD = 8  # coarse vertices per local Procrustes (itself included)
GROUPS = "bones"  # "geodesic" (per coarse vertex) or "bones" (per anny bone)
TOLERANCE = 0.02  # phenotype units: a cached template serves shapes this close to its own
BETA = 0.0  # share of the recovered coarse vertices' own residual kept (see the module docstring)


def coarse_neighborhoods(coarse_mesh: CoarseMesh, rest: torch.Tensor, k: int = NEIGHBORHOOD) -> tuple[torch.Tensor, torch.Tensor]:
    """Each coarse vertex's ``k`` geodesically nearest coarse vertices (itself first) along the
    coarse mesh's edges at rest (``rest`` (Vc, 3)), and Gaussian weights (Vc, k) summing to one."""
    faces = coarse_mesh.faces.numpy()
    rest_np = rest.double().numpy()
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    lengths = np.linalg.norm(rest_np[edges[:, 0]] - rest_np[edges[:, 1]], axis=1)
    n = len(rest_np)
    graph = scipy.sparse.coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    graph = graph.maximum(graph.T)
    geo = scipy.sparse.csgraph.dijkstra(graph, directed=False)
    geo[~np.isfinite(geo)] = 1e3
    order = np.argsort(geo, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(geo, order, 1)
    sigma = np.median(dist[:, -1])
    weights = np.exp(-0.5 * (dist / sigma) ** 2)
    weights /= weights.sum(1, keepdims=True)
    return torch.from_numpy(order).long(), torch.from_numpy(weights).float()


def bone_groups(lbs: AnnyLBS, bones: tuple[str, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Groups of coarse vertices by anny bone: each fitted bone of ``models.body.pose_fit.FIT_BONES``
    (and the root) with every anny bone merged into its nearest kept ancestor. Returns the groups'
    weights over the coarse vertices (G, Vc) (each row sums to one: the vertices' skin weights on the
    group) and each coarse vertex's weights over the groups (Vc, G) (its skin weights, rows sum to one)."""
    from models.body.pose_fit import FIT_BONES

    names = lbs.bone_names
    keep = sorted({0, *(names.index(b) for b in (bones or FIT_BONES))})
    position = {a: i for i, a in enumerate(keep)}
    owner = []
    for a in range(len(names)):
        b = a
        while b not in position:
            b = lbs.parents[b]
        owner.append(position[b])
    skin = torch.zeros(lbs.num_coarse, len(keep))
    owners = torch.as_tensor(owner)[lbs.coarse_bones.cpu()]  # (Vc, 8)
    skin.scatter_add_(1, owners, lbs.coarse_weights.cpu())
    skin = skin / skin.sum(1, keepdim=True)
    used = skin.sum(0) > 0
    skin = skin[:, used]
    group = skin.T / skin.T.sum(1, keepdim=True)
    return group, skin / skin.sum(1, keepdim=True)


def _special_procrustes(cov: torch.Tensor) -> torch.Tensor:
    """The rotations nearest to matrices (..., 3, 3): numpy's batched SVD on the CPU without
    gradients (26 matrices: ~0.05 ms against ~1.2 ms for torch's), ``roma`` otherwise."""
    if cov.requires_grad or cov.device.type != "cpu":
        return roma.special_procrustes(cov)
    u, _, vt = np.linalg.svd(cov.double().numpy())
    u[..., :, -1] *= np.sign(np.linalg.det(u @ vt))[..., None]
    return torch.from_numpy(u @ vt).to(cov.dtype)


class ShapedUpsampler(torch.nn.Module):
    """``(coarse (B, Vc, 3), shape (B, 6)) -> (B, V, 3)``: the full mesh of ``shape`` posed like ``coarse``.

    Any frame works (camera frame, metres, as the recovery returns): the local motions carry
    rotation and translation. ``groups="geodesic"``: one rigid motion per coarse vertex over its
    ``k`` geodesic neighbours; ``"bones"``: one per anny bone (:func:`bone_groups`), blended per
    coarse vertex by its skin weights. ``beta`` as in the module docstring. The templates of the
    last few shapes are cached; a cached one is reused for shapes within ``tolerance`` of it in
    every value (a pooled track shape still drifts by ~0.01 a frame early in a track, and a new
    template costs one LBS forward, tens of ms on a busy CPU).
    """

    def __init__(self, coarse_mesh: CoarseMesh | None = None, lbs: AnnyLBS | None = None,
                 detail: torch.Tensor | None = None, groups: str = GROUPS, k: int = NEIGHBORHOOD,
                 beta: float = BETA, tolerance: float = TOLERANCE, cache_size: int = 8) -> None:
        super().__init__()
        self.coarse_mesh = coarse_mesh or load_coarse_mesh("anny", 256)
        self.lbs = lbs or load_anny_lbs(self.coarse_mesh.num_vertices)
        if not torch.equal(self.lbs.coarse_indices.cpu(), self.coarse_mesh.indices.cpu()):
            raise ValueError("the LBS export and the coarse mesh disagree on the coarse vertices: rebuild the export")
        self.register_buffer("detail", detail, persistent=False)  # (1 + 6, V, 3) or None (d = 0)
        if groups == "geodesic":
            neighbors, weights = coarse_neighborhoods(self.coarse_mesh, self.lbs.rest_coarse()[0], k)
            n = self.coarse_mesh.num_vertices
            group = torch.zeros(n, n).scatter_add_(1, neighbors, weights)
            blend = None
        elif groups == "bones":
            group, blend = bone_groups(self.lbs)
        else:
            raise ValueError(f"groups must be 'geodesic' or 'bones', not {groups!r}")
        self.register_buffer("group", group, persistent=False)  # (G, Vc) rows sum to one
        self.register_buffer("blend", blend, persistent=False)  # (Vc, G) or None (identity)
        self.beta = float(beta)
        self.tolerance, self.cache_size = float(tolerance), cache_size
        self._cache: list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = []

    @torch.no_grad()
    def template(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zero-pose full mesh (B, V, 3), its detail ``T - U T_c`` (B, V, 3) and coarse vertices
        (B, Vc, 3) of phenotypes (B, 6), canonical frame."""
        key = shape.detach().float().cpu()
        for cached, value in self._cache:
            if cached.shape == key.shape and (cached - key).abs().max() <= self.tolerance:
                return value
        rest_c = self.lbs.rest_coarse(shape.to(self.lbs.basis.device).float())
        smooth = self.coarse_mesh.upsample(rest_c)
        detail = torch.zeros_like(smooth)
        if self.detail is not None:
            detail = torch.einsum("bs,svc->bvc", torch.cat([torch.ones_like(shape[:, :1]), shape], 1).float(),
                                  self.detail)
        if len(self._cache) >= self.cache_size:
            self._cache.pop(0)
        self._cache.append((key, (smooth + detail, detail, rest_c)))
        return self._cache[-1][1]

    def local_motions(self, rest_c: torch.Tensor, coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per coarse vertex: the blended rigid motion of its group(s), rest -> posed: (B, Vc, 3, 3), (B, Vc, 3)."""
        w = self.group
        m, p = w @ rest_c, w @ coarse  # (B, G, 3) weighted centroids
        cov = torch.einsum("gj,bjc,bgjd->bgcd", w, coarse, rest_c[:, None] - m[:, :, None])  # sum w y (x-m)^T
        rot = _special_procrustes(cov)
        trans = p - (rot @ m[..., None])[..., 0]
        if self.blend is not None:
            rot = torch.einsum("jg,bgcd->bjcd", self.blend, rot)
            trans = self.blend @ trans
        return rot, trans

    def forward(self, coarse: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Full vertices (B, V, 3) of ``shape`` (B, 6) (or (1, 6) for all) posed like ``coarse`` (B, Vc, 3)."""
        b = coarse.shape[0]
        shape = shape.expand(b, -1) if shape.shape[0] == 1 else shape
        full_rest, detail, rest_c = self.template(shape)
        rot, trans = self.local_motions(rest_c, coarse)
        # sum_j w_vj (R_j T_v + t_j): the blended matrices (9 columns) times T_v, plus the blended t;
        # the upsampled coarse vertices ride along for the beta share.
        cols = [rot.reshape(b, -1, 9), trans] + ([coarse] if self.beta else [])
        up = self._upsample(torch.cat(cols, -1))  # (B, V, 12 or 15)
        matrices = up[..., :9].view(b, -1, 3, 3)
        model = (matrices @ full_rest[..., None])[..., 0] + up[..., 9:12]
        if not self.beta:
            return model
        kept = up[..., 12:] + (matrices @ detail[..., None])[..., 0]  # U x + M_v d_v
        return (1 - self.beta) * model + self.beta * kept

    def _upsample(self, values: torch.Tensor) -> torch.Tensor:
        """The upsampler applied to per-coarse-vertex values (B, Vc, C): (B, V, C), one sparse product."""
        b, vc, c = values.shape
        flat = values.transpose(0, 1).reshape(vc, b * c)
        return (self.coarse_mesh.upsampler @ flat).view(-1, b, c).transpose(0, 1)
