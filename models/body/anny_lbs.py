"""A compact linear-blend-skinning export of anny: the coarse mesh and COCO-17 joints without anny.

Training samples need only the 256 coarse vertices (``models/body/coarse.py``) and the COCO-17
joints of a posed, shaped anny body. anny's full forward (13,718 vertices, ~800 MB cache) is not
needed for that: ``AnnyLBS`` (``load_anny_lbs()``, asset ``models/assets/anny_lbs_256.npz``,
1.27 MB, built once with ``python tools/build_anny_lbs.py --build``) reproduces it from

- **shape**: anny's own phenotype → blend-shape map, replicated: each of the 6 phenotypes gives
  piecewise-linear interpolation weights over its anchors (the unexposed ones, cup size, firmness
  and the three races, are anny's defaults), 624 products of those weights (anny's mask) and a
  624 × 136 projection give the 136 blend-shape coefficients; everything below is **linear** in
  them (template + 136 deltas): the coarse vertices' rest positions, the 104 bone heads, the
  bones' orientation cross-covariances (anny's ``cached`` bone orientation: their special
  Procrustes gives the rest orientations ``R``) and the joint anchors below.
- **skinning**: each coarse vertex's anny skin weights (at most 8 bones each). A COCO joint is
  ``J = Σ_v r_v x_v`` over the full mesh (``r``: the anny COCO-17 regressor of
  ``models/body/joints.py``) with ``x_v = Σ_b w_vb T_b [v_v; 1]``, hence
  ``J = Σ_b T_b a_b`` with per-bone homogeneous anchors ``a_b = Σ_v r_v w_vb [v_v; 1]``: exact
  under LBS; 187 (joint, bone) pairs are non-zero.
- **pose**: anny's ``local-ref`` forward kinematics with its reference orientations ``U``
  (root pose fixed, as in ``AnnyBody``): ``G_c = G_p D_c``, head ``w_c = w_p + G_p A_p (h_c - h_p)``
  (``A = U R^T``, ``A_root = I`` there), skinning transform ``T_c = [G_c A_c | w_c - G_c A_c h_c]``;
  output in the canonical frame (pelvis at the origin), like ``BodyModel`` with
  ``global_orient = transl = 0``.

The choice, measured (``python tools/build_anny_lbs.py --compare-shape-models``, 2026-12-01,
500 held-out ``sample_shapes`` bodies, zero pose, coarse vertices, mm mean / p95 / max): a bank of
512 sampled shapes (nearest phenotype) errs by 17.4 / 53.8 / 158.5; a basis affine in the 6
phenotypes, fitted on 4,000 shapes, by 9.6 / 26.7 / 100.3; anny's own map (above) is exact up to float32 rounding, costs one 624 x 136
product, and covers every shape anny can make.

Error against anny's full forward (``python tools/build_anny_lbs.py --check``, 2026-12-01, 1,024
bodies: 512 ``sample_poses`` + ``sample_shapes``, 512 of ``linear_fit``'s wide random poses with
uniform phenotypes), millimetres, over all points:

=====================  ======  ======  ======
                        mean    p95     max
=====================  ======  ======  ======
coarse vertices (256)   0.0001  0.0002  0.0006
COCO-17 joints          0.0001  0.0002  0.0007
=====================  ======  ======  ======

(float32 rounding; ``tests/test_training_stream.py`` requires < 0.05 mm max on fresh bodies, and
fails if the COCO regressor or the coarse mesh change without a rebuild.) The asset embeds the
COCO-17 regressor and the coarse vertex ids: rebuild it (``--build``) when either changes.
Cost, 64 bodies, one thread on the shared 2-core machine under load: 62 ms against 678 ms for
anny's forward of the full meshes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from models.body.base import ANNY_TO_CANONICAL
from models.body.coarse import ASSETS_DIR

NUM_COARSE = 256
FEATURES = ["gender", "age", "muscle", "weight", "height", "proportions"]  # anny's exposed phenotypes


def lbs_path(num_coarse: int = NUM_COARSE) -> Path:
    return ASSETS_DIR / f"anny_lbs_{num_coarse}.npz"


@dataclass
class LbsOutput:
    coarse: torch.Tensor  # (B, Vc, 3) canonical frame, pelvis at the origin, metres
    joints: torch.Tensor  # (B, 17, 3) COCO-17, same frame
    heads: torch.Tensor  # (B, 104, 3) anny bone heads (the model's own joints), same frame


class AnnyLBS(torch.nn.Module):
    """anny's coarse vertices and COCO-17 joints by linear blend skinning (see the module docstring)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        t = lambda key, dtype=torch.float32: torch.as_tensor(np.asarray(arrays[key]), dtype=dtype)  # noqa: E731
        self.num_coarse = int(arrays["num_coarse"])
        self.num_bones = int(arrays["num_bones"])
        self.num_pairs = int(arrays["pair_joint"].shape[0])
        parents = [int(p) for p in arrays["parents"]]
        self.parents = parents
        self.bone_names = [str(name) for name in arrays["bone_names"]]  # anny's bones, root first
        self.levels = _levels(parents)
        # Phenotype -> blend-shape coefficients.
        for key in ("var_input", "pair_joint", "pair_bone", "coarse_bones"):
            self.register_buffer(key, t(key, torch.long), persistent=False)
        for key in ("var_anchor", "var_spacing", "var_lo", "var_hi", "var_const", "projection", "coarse_weights",
                    "reference", "basis"):
            self.register_buffer(key, t(key), persistent=False)
        self.register_buffer("mask", t("mask").bool(), persistent=False)
        self.register_buffer("to_canonical", ANNY_TO_CANONICAL.clone(), persistent=False)
        self.register_buffer("coarse_indices", t("coarse_indices", torch.long), persistent=False)
        n, b, p = self.num_coarse, self.num_bones, self.num_pairs
        self.slices = {"coarse": (0, 3 * n), "heads": (3 * n, 3 * n + 3 * b), "orient": (3 * n + 3 * b, 3 * n + 12 * b),
                       "anchors": (3 * n + 12 * b, 3 * n + 12 * b + 4 * p)}

    @property
    def num_shape_coeffs(self) -> int:
        return self.projection.shape[1]

    def coefficients(self, shape: torch.Tensor) -> torch.Tensor:
        """anny's 136 blend-shape coefficients (B, 136) of phenotypes (B, 6) in FEATURES order."""
        x = shape.float()[:, self.var_input.clamp_min(0)]  # (B, 26)
        x = torch.minimum(torch.maximum(x, self.var_lo), self.var_hi)
        hat = (1 - (x - self.var_anchor).abs() / self.var_spacing).clamp_min(0)
        phens = torch.where(self.var_input >= 0, hat, self.var_const)
        masked = torch.where(self.mask, phens[:, None, :], torch.ones_like(phens[:, None, :]))
        return masked.prod(-1) @ self.projection

    def rest(self, shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """The shape's rest data (anny axes): coarse vertices, bone heads, ``A = U R^T``, joint anchors."""
        coeffs = self.coefficients(shape)
        flat = self.basis[0] + coeffs @ self.basis[1:]
        piece = lambda name: flat[:, slice(*self.slices[name])]  # noqa: E731
        b = shape.shape[0]
        rest_orient = roma.special_procrustes(piece("orient").reshape(b, self.num_bones, 3, 3))
        return {
            "coarse": piece("coarse").reshape(b, self.num_coarse, 3),
            "heads": piece("heads").reshape(b, self.num_bones, 3),
            "A": self.reference @ rest_orient.transpose(-1, -2),
            "anchors": piece("anchors").reshape(b, self.num_pairs, 4),
        }

    def forward(self, pose: torch.Tensor, shape: torch.Tensor) -> LbsOutput:
        """Posed bodies for poses (B, 103, 3) (anny ``local-ref`` axis-angles) and phenotypes (B, 6)."""
        rest = self.rest(shape)
        b, nb = pose.shape[0], self.num_bones
        heads, A = rest["heads"], rest["A"]
        local = roma.rotvec_to_rotmat(pose.float())  # (B, 103, 3, 3)
        parents = torch.as_tensor([max(p, 0) for p in self.parents], device=pose.device)
        a_off = A.clone()
        a_off[:, 0] = torch.eye(3, device=pose.device)
        offsets = (a_off[:, parents] @ (heads - heads[:, parents])[..., None])[..., 0]  # A_p (h_c - h_p)
        eye = torch.eye(3, device=pose.device).expand(b, 3, 3)
        G = torch.empty(b, nb, 3, 3, device=pose.device)
        W = torch.empty(b, nb, 3, device=pose.device)
        G[:, 0], W[:, 0] = eye, 0.0
        for idx, par in self.levels:
            idx_t, par_t = torch.as_tensor(idx, device=pose.device), torch.as_tensor(par, device=pose.device)
            g_par = G[:, par_t]
            W[:, idx_t] = W[:, par_t] + (g_par @ offsets[:, idx_t, :, None])[..., 0]
            G[:, idx_t] = g_par @ local[:, idx_t - 1]
        rot = G @ A  # (B, nb, 3, 3)
        trans = W - (rot @ heads[..., None])[..., 0]
        T = torch.cat([rot, trans[..., None]], -1)  # (B, nb, 3, 4)
        # Coarse vertices: sum over each vertex's bones of w * T [v; 1].
        v = rest["coarse"]
        Tv = T[:, self.coarse_bones]  # (B, Vc, k, 3, 4)
        skinned = (Tv[..., :3] @ v[:, :, None, :, None])[..., 0] + Tv[..., 3]
        coarse = (self.coarse_weights[None, ..., None] * skinned).sum(2)
        # Joints: sum over (joint, bone) pairs of T_b a_jb.
        pair = (T[:, self.pair_bone] @ rest["anchors"][..., None])[..., 0]  # (B, pairs, 3)
        joints = torch.zeros(b, 17, 3, device=pose.device).index_add_(1, self.pair_joint, pair)
        to_c = self.to_canonical.T
        return LbsOutput(coarse=coarse @ to_c, joints=joints @ to_c, heads=W @ to_c)

    @torch.no_grad()
    def rest_coarse(self, shape: torch.Tensor | None = None) -> torch.Tensor:
        """Zero-pose coarse vertices (B, Vc, 3) (canonical frame) of phenotypes (B, 6); neutral (1, Vc, 3) by default."""
        shape = torch.full((1, 6), 0.5, device=self.basis.device) if shape is None else shape.float()
        pose = torch.zeros(shape.shape[0], self.num_bones - 1, 3, device=self.basis.device)
        return self(pose, shape).coarse


    def skeleton(self):
        """The neutral-shape ``models.synth.skeleton.Skeleton`` (what the pose sampler needs), without anny."""
        from models.synth.skeleton import Skeleton

        with torch.no_grad():
            pose = torch.zeros(1, self.num_bones - 1, 3, device=self.basis.device)
            heads = self(pose, torch.full((1, 6), 0.5, device=self.basis.device)).heads[0].double().cpu()
        return Skeleton(names=list(self.bone_names), parents=list(self.parents),
                        rest=(heads @ ANNY_TO_CANONICAL.double()).numpy())


def _levels(parents: list[int]) -> list[tuple[list[int], list[int]]]:
    """(bones, their parents) per depth level below the root."""
    depth = [0] * len(parents)
    for i in range(1, len(parents)):
        depth[i] = depth[parents[i]] + 1
    return [([i for i, d in enumerate(depth) if d == lv], [parents[i] for i, d in enumerate(depth) if d == lv])
            for lv in range(1, max(depth) + 1)]


# ---------------------------------------------------------------------------------------------
# Building (needs anny)


def build_anny_lbs(model=None, num_coarse: int = NUM_COARSE) -> dict[str, np.ndarray]:
    """The export's arrays from anny (a few seconds; asserts anny's settings it relies on)."""
    from anny.models.model_data import PHENOTYPE_VARIATIONS

    from models.body import load_body_model
    from models.body.coarse import load_coarse_mesh
    from models.body.joints import regressor

    model = model or load_body_model("anny")
    a = model.anny
    assert a.pose_parameterization == "local-ref" and a.bone_orientation == "cached"
    assert a.rest_orientation_refiner is None and not a.root_identity_orientation
    assert not a.extrapolate_phenotypes and a.phenotype_blendshape_projection is not None
    assert not a.local_change_labels and not a.facial_action_labels
    assert list(a.phenotype_labels) == FEATURES, a.phenotype_labels
    assert torch.equal(a.reference_bone_orientations[0], torch.eye(3))
    # Phenotype variations: which input drives each, its anchor, or a constant (anny's defaults).
    var_input, var_anchor, var_spacing, var_lo, var_hi, var_const = [], [], [], [], [], []
    anchors = {name: getattr(a.anchors, name).double() for name in PHENOTYPE_VARIATIONS if name != "race"}
    for feature, variations in PHENOTYPE_VARIATIONS.items():
        for k, _ in enumerate(variations):
            if feature == "race":
                var_input.append(-1), var_anchor.append(0.0), var_spacing.append(1.0)
                var_lo.append(0.0), var_hi.append(1.0), var_const.append(1 / 3)
                continue
            anc = anchors[feature]
            spacing = float(anc[1] - anc[0])
            assert torch.allclose(anc[1:] - anc[:-1], torch.full_like(anc[1:], spacing))  # uniform anchors
            var_anchor.append(float(anc[k])), var_spacing.append(spacing)
            var_lo.append(float(anc[0])), var_hi.append(float(anc[-1]))
            if feature in FEATURES:
                var_input.append(FEATURES.index(feature)), var_const.append(0.0)
            else:  # anny's default 0.5
                var_input.append(-1), var_const.append(max(0.0, 1 - abs(0.5 - float(anc[k])) / spacing))
    coarse = load_coarse_mesh("anny", num_coarse, model=model).indices
    reg = regressor(model, "coco17").double()  # (17, V)
    weights = a.dense_vertex_bone_weights.double()  # (V, nb)
    nb = weights.shape[1]
    # Rest data, linear in the coefficients: row 0 the template, rows 1.. the blend shapes.
    verts = torch.cat([a.template_vertices[None], a.blendshapes]).double()  # (1+K, V, 3)
    heads = torch.cat([a.template_bone_heads[None], a.bone_heads_blendshapes]).double()
    orient = torch.cat([a.bone_template_orientation_matrices[None], a.bone_orientation_blendshapes]).double()
    pairs = torch.nonzero((reg.abs() @ weights) > 0)  # (P, 2) (joint, bone)
    pair_joint, pair_bone = pairs[:, 0], pairs[:, 1]
    rw = reg[pair_joint] * weights[:, pair_bone].T  # (P, V): r_jv w_vb
    anchors_xyz = torch.einsum("pv,kvc->kpc", rw, verts)
    anchors_w = torch.zeros(verts.shape[0], len(pairs), 1, dtype=torch.float64)
    anchors_w[0, :, 0] = rw.sum(1)
    anchor_basis = torch.cat([anchors_xyz, anchors_w], -1)
    k1 = verts.shape[0]
    basis = torch.cat([verts[:, coarse].reshape(k1, -1), heads.reshape(k1, -1), orient.reshape(k1, -1),
                       anchor_basis.reshape(k1, -1)], 1)
    cw = weights[coarse]  # (Vc, nb)
    kmax = int((cw > 0).sum(1).max())
    top = cw.topk(kmax, dim=1)
    return {
        "num_coarse": np.array(num_coarse), "num_bones": np.array(nb), "parents": np.array(a.bone_parents, np.int16),
        "bone_names": np.array(list(a.bone_labels)),
        "coarse_indices": coarse.numpy().astype(np.int16),
        "var_input": np.array(var_input, np.int8), "var_anchor": np.array(var_anchor, np.float32),
        "var_spacing": np.array(var_spacing, np.float32), "var_lo": np.array(var_lo, np.float32),
        "var_hi": np.array(var_hi, np.float32), "var_const": np.array(var_const, np.float32),
        "mask": a.stacked_phenotype_blend_shapes_mask.numpy().astype(bool),
        "projection": a.phenotype_blendshape_projection.numpy().astype(np.float32),
        "reference": a.reference_bone_orientations.numpy().astype(np.float32),
        "basis": basis.numpy().astype(np.float32),
        "pair_joint": pair_joint.numpy().astype(np.int16), "pair_bone": pair_bone.numpy().astype(np.int16),
        "coarse_bones": top.indices.numpy().astype(np.int16), "coarse_weights": top.values.numpy().astype(np.float32),
    }


def save_anny_lbs(arrays: dict[str, np.ndarray], path: Path | None = None) -> Path:
    path = path or lbs_path(int(arrays["num_coarse"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_anny_lbs(num_coarse: int = NUM_COARSE, device: str | torch.device = "cpu", path: Path | None = None) -> AnnyLBS:
    """The stored export (built from anny and stored first if missing)."""
    path = path or lbs_path(num_coarse)
    if not path.is_file():
        save_anny_lbs(build_anny_lbs(num_coarse=num_coarse), path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return AnnyLBS(arrays).to(device)


# ---------------------------------------------------------------------------------------------
# Checks against anny


def check_against_anny(lbs: AnnyLBS, model=None, num: int = 1024, seed: int = 0, batch: int = 64) -> dict[str, dict[str, float]]:
    """Errors (mm: mean, p95, max over points) of ``lbs`` against anny's full forward.

    Half the bodies from the training samplers (``sample_poses``, ``sample_shapes``), half from
    ``linear_fit``'s wide random poses and uniform phenotypes.
    """
    from models.body import load_body_model
    from models.body.joints import regressor
    from models.body.linear_fit import sample_anny_poses, sample_anny_shapes
    from models.synth.poses import sample_poses
    from models.synth.shapes import sample_shapes

    model = model or load_body_model("anny")
    reg = regressor(model, "coco17")
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    errs = {"coarse": [], "joints": []}
    for start in range(0, num, batch):
        n = min(batch, num - start)
        if start < num // 2:
            pose, shape = sample_poses(n, rng).pose, torch.as_tensor(sample_shapes(n, rng))
        else:
            pose, shape = sample_anny_poses(model, n, gen), sample_anny_shapes(model, n, gen)
        with torch.no_grad():
            ref = model(pose=pose, shape=shape).vertices
            out = lbs(pose, shape)
        errs["coarse"].append((out.coarse - ref[:, lbs.coarse_indices]).norm(dim=-1).flatten())
        errs["joints"].append((out.joints - torch.einsum("jv,bvc->bjc", reg, ref)).norm(dim=-1).flatten())
    table = {}
    for name, parts in errs.items():
        e = torch.cat(parts).double() * 1000
        table[name] = {"mean": float(e.mean()), "p95": float(e.quantile(0.95)), "max": float(e.max())}
    return table


def compare_shape_models(lbs: AnnyLBS, num_test: int = 500, bank: int = 512, fit: int = 4000, seed: int = 7) -> dict:
    """Rest-pose coarse-vertex error (mm) of a shape bank and an affine phenotype basis vs the exact map."""
    from models.synth.shapes import sample_shapes

    rng = np.random.default_rng(seed)
    rest = lambda s: lbs.rest_coarse(torch.as_tensor(s))  # noqa: E731
    test, bank_s, fit_s = sample_shapes(num_test, rng), sample_shapes(bank, rng), sample_shapes(fit, rng)
    truth, bank_v = rest(test), rest(bank_s)
    nearest = torch.cdist(torch.as_tensor(test), torch.as_tensor(bank_s)).argmin(1)
    e_bank = (bank_v[nearest] - truth).norm(dim=-1).flatten() * 1000
    x = torch.cat([torch.as_tensor(fit_s), torch.ones(fit, 1)], 1).double()
    y = rest(fit_s).reshape(fit, -1).double()
    coef = torch.linalg.lstsq(x, y).solution
    pred = (torch.cat([torch.as_tensor(test), torch.ones(num_test, 1)], 1).double() @ coef).reshape(truth.shape)
    e_aff = (pred.float() - truth).norm(dim=-1).flatten() * 1000
    stat = lambda e: {"mean": float(e.mean()), "p95": float(e.quantile(0.95)), "max": float(e.max())}  # noqa: E731
    return {f"bank of {bank}": stat(e_bank), f"affine basis ({fit} shapes)": stat(e_aff)}
