"""Synthetic datasets on disk: generation in chunks (batched anny forward) and a loader.

Layout of a dataset folder::

    index.json                 spec, fields (dtype, per-sample shape), shards, names
    shard_00000.npz            one chunk of samples (uncompressed npz, fixed zip timestamps)
    shard_00000/000000.jpg     rendered images with --render (sequences: 000000_0000.jpg)

Every chunk draws from its own random stream ``(seed, split, kind, chunk)`` (and a separate one
for the looks of rendered images), so the same seed gives byte-identical files, a larger
``--num`` extends a smaller one, and ``--render`` does not change the stored arrays.

Per sample (static; sequences add a time axis T after the sample axis for per-frame fields):
``pose`` (P,3), ``shape`` (6,), ``global_orient`` (3,), ``transl`` (3,) (pelvis, camera frame),
``focal`` (2,), ``principal`` (2,), ``image_size`` (2,) = (W, H), ``category`` (index into
``index.json["categories"]``), ``yaw`` (deg), ``truncated`` (placed across the border on
purpose), ``joints_coco17`` (17,3), ``joints_h36m17`` (17,3), ``joints_lsp14`` (14,3) (camera
frame, metres, regressed from the full mesh), ``coarse_vertices_rel`` (Vc,3) float16 (the full
mesh's vertices at the coarse indices, minus ``transl``: millimetre precision), ``keypoints_2d``
(17,2) (clean COCO-17 projections, px); ``--split test`` adds one fixed corruption:
``keypoints_corrupt`` (17,2), ``confidence`` (17,) and ``occluded`` (); sequences add
``motion_kind`` (0 walk, 1 run, 2 keyframes, 3 mocap). ``--mocap-fraction`` draws that share of
poses (static) or sequences from real motion capture (``models.synth.mocap``; test sets use its
held-out subjects); categories then index ``MOCAP_CATEGORIES``.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import roma
import torch
from tqdm import tqdm

from models.body import load_body_model
from models.body.coarse import load_coarse_mesh
from models.body.joints import regressor
from models.synth.anatomy import PoseSpace
from models.camera import project
from models.synth.camera import sample_cameras, sample_sequence_camera
from models.synth.corruption import corrupt
from models.synth.motion import Motion, sample_sequence
from models.synth.poses import CATEGORIES, PoseBatch, sample_poses
from models.synth.shapes import SHAPE_NAMES, sample_shapes
from models.synth.skeleton import skeleton_from_model

CHUNK_FRAMES = 256  # bodies per batched anny forward and per shard
JOINT_SETS = ("coco17", "h36m17", "lsp14")
SPLITS = {"train": 0, "test": 1}
KINDS = {"static": 0, "sequence": 1}
MOTION_KINDS = ("walk", "run", "keyframes", "mocap")
JPEG_QUALITY = 92


@dataclass
class DatasetSpec:
    num: int  # samples (static) or sequences
    seed: int = 0
    kind: str = "static"
    split: str = "train"
    seq_len: int = 32
    fps: float = 30.0
    render: bool = False
    mocap_fraction: float = 0.0  # share of poses (and of sequences) from real motion capture

    @property
    def mocap_split(self) -> str:
        """Mocap clips of the held-out subjects for a test set, the others for training."""
        return "test" if self.split == "test" else "train"

    @property
    def chunk_size(self) -> int:
        """Samples per chunk (and shard)."""
        return CHUNK_FRAMES if self.kind == "static" else max(1, CHUNK_FRAMES // self.seq_len)


class SampleGenerator:
    """Holds the body model, coarse mesh, regressors and renderer; makes chunks of samples."""

    def __init__(self, render: bool = False) -> None:
        self.model = load_body_model("anny")
        self.coarse = load_coarse_mesh("anny", model=self.model).indices
        self.regressors = {name: regressor(self.model, name) for name in JOINT_SETS}
        self.space = PoseSpace(skeleton_from_model(self.model))
        self.renderer = None
        if render:
            from models.synth.render import SceneRenderer

            self.renderer = SceneRenderer(self.model)

    def motion(self, seq_len: int, fps: float, rng: np.random.Generator, mocap_fraction: float, split: str) -> Motion:
        """One sequence: a mocap clip's window with probability ``mocap_fraction``, else a made-up motion."""
        if mocap_fraction > 0 and rng.random() < mocap_fraction:
            from models.synth.mocap import sample_mocap_sequence

            return sample_mocap_sequence(seq_len, fps, rng, split)
        return sample_sequence(seq_len, fps, rng, self.space)

    def canonical(self, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Canonical full-mesh vertices (N, V, 3), batched forward in chunks of CHUNK_FRAMES."""
        with torch.no_grad():
            return torch.cat([self.model(pose[i:i + CHUNK_FRAMES], shape[i:i + CHUNK_FRAMES]).vertices
                              for i in range(0, len(pose), CHUNK_FRAMES)])

    def _camera_frame(self, verts: torch.Tensor, global_orient: np.ndarray, transl: np.ndarray,
                      focal: np.ndarray, principal: np.ndarray) -> tuple[dict[str, np.ndarray], torch.Tensor]:
        """Joints, relative coarse vertices and clean keypoints for canonical vertices (N, V, 3)."""
        rot = roma.rotvec_to_rotmat(torch.as_tensor(global_orient))
        t = torch.as_tensor(transl)
        cam = verts @ rot.transpose(1, 2) + t[:, None]
        out = {f"joints_{name}": torch.einsum("jv,bvc->bjc", reg, cam).numpy() for name, reg in self.regressors.items()}
        out["coarse_vertices_rel"] = (cam[:, self.coarse] - t[:, None]).numpy().astype(np.float16)
        out["keypoints_2d"] = project(torch.as_tensor(out["joints_coco17"]), torch.as_tensor(focal),
                                      torch.as_tensor(principal)).numpy()
        return out, cam

    def poses(self, n: int, rng: np.random.Generator, mocap_fraction: float, split: str) -> PoseBatch:
        """``n`` poses: a ``mocap_fraction`` share of real mocap frames, the rest from the hand-made sampler."""
        num_mocap = int(rng.binomial(n, mocap_fraction)) if mocap_fraction > 0 else 0
        if num_mocap == 0:
            return sample_poses(n, rng, self.space)
        from models.synth.mocap import sample_mocap_poses

        parts = [sample_mocap_poses(num_mocap, rng, split, self.space)]
        if num_mocap < n:
            parts.append(sample_poses(n - num_mocap, rng, self.space))
        return PoseBatch(pose=torch.cat([p.pose for p in parts]), body_orient=torch.cat([p.body_orient for p in parts]),
                         category=np.concatenate([p.category for p in parts]), dofs=np.zeros((n, 0), np.float32))

    def static_chunk(self, n: int, rng: np.random.Generator, look_rng: np.random.Generator,
                     test: bool, mocap_fraction: float = 0.0,
                     split: str = "train") -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """``n`` static samples and their rendered images (empty without a renderer)."""
        poses = self.poses(n, rng, mocap_fraction, split)
        shape = sample_shapes(n, rng)
        verts = self.canonical(poses.pose, torch.as_tensor(shape))
        cams = sample_cameras(verts[:, self.coarse], poses.body_orient, rng)
        arrays, cam = self._camera_frame(verts, cams.global_orient, cams.transl, cams.focal, cams.principal)
        arrays |= dict(pose=poses.pose.numpy(), shape=shape, global_orient=cams.global_orient, transl=cams.transl,
                       focal=cams.focal, principal=cams.principal, image_size=cams.image_size,
                       category=poses.category.astype(np.int16), yaw=cams.yaw, truncated=cams.truncated)
        if test:
            arrays |= _corruption(arrays, rng, velocity=None)
        images = []
        if self.renderer is not None:
            for i in range(n):
                look = self.renderer.look(int(cams.image_size[i, 0]), int(cams.image_size[i, 1]), look_rng)
                images.append(self.renderer.render(cam[i].numpy(), cams.focal[i], cams.principal[i], look, look_rng))
        return arrays, images

    def sequence_chunk(self, n: int, seq_len: int, fps: float, rng: np.random.Generator,
                       look_rng: np.random.Generator, test: bool, mocap_fraction: float = 0.0,
                       split: str = "train") -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """``n`` sequences of ``seq_len`` frames (per-frame fields (n, T, ...)) and their frames."""
        motions = [self.motion(seq_len, fps, rng, mocap_fraction, split) for _ in range(n)]
        shape = sample_shapes(n, rng)
        pose = torch.cat([m.pose for m in motions])
        verts = self.canonical(pose, torch.as_tensor(np.repeat(shape, seq_len, axis=0)))
        per_seq = verts.reshape(n, seq_len, *verts.shape[1:])
        cams = [sample_sequence_camera(per_seq[i][:, self.coarse], m.global_orient, m.transl, rng)
                for i, m in enumerate(motions)]
        cat = lambda key: np.concatenate([getattr(c, key) for c in cams])  # noqa: E731
        focal, principal = np.repeat(cat("focal"), seq_len, 0), np.repeat(cat("principal"), seq_len, 0)
        orient, transl = cat("global_orient").reshape(-1, 3), cat("transl").reshape(-1, 3)
        frames, cam = self._camera_frame(verts, orient, transl, focal, principal)
        arrays = {k: v.reshape(n, seq_len, *v.shape[1:]) for k, v in frames.items()}
        arrays |= dict(pose=pose.numpy().reshape(n, seq_len, -1, 3), shape=shape,
                       global_orient=orient.reshape(n, seq_len, 3), transl=transl.reshape(n, seq_len, 3),
                       focal=cat("focal"), principal=cat("principal"), image_size=cat("image_size"),
                       category=np.stack([m.category for m in motions]).astype(np.int16), yaw=cat("yaw"),
                       truncated=cat("truncated"),
                       motion_kind=np.array([MOTION_KINDS.index(m.kind) for m in motions], np.int8))
        if test:
            kp = arrays["keypoints_2d"]
            velocity = np.concatenate([np.zeros_like(kp[:, :1]), np.diff(kp, axis=1)], axis=1)
            flat = {k: arrays[k].reshape(n * seq_len, *arrays[k].shape[2:]) for k in ("keypoints_2d", "joints_coco17")}
            flat |= {"focal": focal, "image_size": np.repeat(cat("image_size"), seq_len, 0)}
            noisy = _corruption(flat, rng, velocity=velocity.reshape(n * seq_len, 17, 2))
            arrays |= {k: v.reshape(n, seq_len, *v.shape[1:]) for k, v in noisy.items()}
        images = []
        if self.renderer is not None:
            cam = cam.reshape(n, seq_len, *cam.shape[1:])
            for i, c in enumerate(cams):
                look = self.renderer.look(int(c.image_size[0, 0]), int(c.image_size[0, 1]), look_rng)
                images += [self.renderer.render(cam[i, t].numpy(), c.focal[0], c.principal[0], look, look_rng)
                           for t in range(seq_len)]
        return arrays, images


def _corruption(arrays: dict[str, np.ndarray], rng: np.random.Generator,
                velocity: np.ndarray | None) -> dict[str, np.ndarray]:
    """One fixed detector-like corruption of the clean keypoints (seeded from ``rng``)."""
    gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    t = lambda key: torch.as_tensor(np.asarray(arrays[key], np.float32))  # noqa: E731
    out = corrupt(t("keypoints_2d"), t("joints_coco17"), t("focal"), t("image_size"), gen,
                  velocity=None if velocity is None else torch.as_tensor(velocity, dtype=torch.float32))
    return {"keypoints_corrupt": out.keypoints.numpy(), "confidence": out.confidence.numpy(),
            "occluded": out.occluded.numpy()}


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed npz with fixed zip timestamps (byte-identical for identical arrays)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    os.replace(tmp, path)


def _image_name(sample: int, frame: int | None) -> str:
    return f"{sample:06d}.jpg" if frame is None else f"{sample:06d}_{frame:04d}.jpg"


def write_dataset(out: str | Path, spec: DatasetSpec, progress: bool = True) -> Path:
    """Generate ``spec.num`` samples into ``out`` (see the module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = SampleGenerator(render=spec.render)
    test = spec.split == "test"
    shards, fields = [], {}
    bar = tqdm(total=spec.num, unit="seq" if spec.kind == "sequence" else "sample", disable=not progress)
    for chunk, start in enumerate(range(0, spec.num, spec.chunk_size)):
        n = min(spec.chunk_size, spec.num - start)
        stream = [spec.seed, SPLITS[spec.split], KINDS[spec.kind], chunk]
        rng, look_rng = np.random.default_rng(stream), np.random.default_rng(stream + [1])
        if spec.kind == "static":
            arrays, images = gen.static_chunk(n, rng, look_rng, test, spec.mocap_fraction, spec.mocap_split)
        else:
            arrays, images = gen.sequence_chunk(n, spec.seq_len, spec.fps, rng, look_rng, test, spec.mocap_fraction,
                                                spec.mocap_split)
        name = f"shard_{chunk:05d}"
        _write_npz(out / f"{name}.npz", arrays)
        if images:
            (out / name).mkdir(exist_ok=True)
            for k, image in enumerate(images):
                sample, frame = divmod(k, spec.seq_len) if spec.kind == "sequence" else (k, None)
                ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                (out / name / _image_name(start + sample, frame)).write_bytes(data.tobytes())
        shards.append({"file": f"{name}.npz", "start": start, "count": n})
        fields = {k: [str(v.dtype), list(v.shape[1:])] for k, v in arrays.items()}
        bar.update(n)
    bar.close()
    if gen.renderer is not None:
        gen.renderer.close()
    index = {"format": "hmdiff-synth-1", "spec": asdict(spec), "fields": fields, "shards": shards,
             "categories": _categories(spec), "shape_names": SHAPE_NAMES, "motion_kinds": list(MOTION_KINDS),
             "pose_joint_names": gen.model.pose_joint_names, "num_coarse": int(len(gen.coarse))}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return out


def _categories(spec: DatasetSpec) -> list[str]:
    """The names that ``category`` indexes."""
    if spec.mocap_fraction > 0:
        from models.synth.mocap import MOCAP_CATEGORIES

        return list(MOCAP_CATEGORIES)
    return list(CATEGORIES)


def load_index(path: str | Path) -> dict:
    return json.loads((Path(path) / "index.json").read_text())


def load_dataset(path: str | Path, keys: list[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of a dataset, concatenated over shards; only ``keys`` are read (default: all).

    Derived keys: ``coarse_vertices`` (camera frame, float32: ``coarse_vertices_rel + transl``)
    and, for rendered datasets, ``image_paths`` (absolute paths, (N,) or (N, T)). Stored arrays
    keep their dtype (float16 stays float16).
    """
    path = Path(path).resolve()
    index = load_index(path)
    stored = list(index["fields"])
    derived = ["coarse_vertices"] + (["image_paths"] if index["spec"]["render"] else [])
    keys = keys or stored + derived
    unknown = set(keys) - set(stored) - set(derived)
    if unknown:
        raise KeyError(f"unknown dataset keys {sorted(unknown)}; stored: {stored}")
    read = {k for k in keys if k in stored}
    if "coarse_vertices" in keys:
        read |= {"coarse_vertices_rel", "transl"}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in read}
    for shard in index["shards"]:
        with np.load(path / shard["file"]) as data:
            for k in read:
                parts[k].append(data[k])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    if "coarse_vertices" in keys:
        out["coarse_vertices"] = out["coarse_vertices_rel"].astype(np.float32) + out["transl"][..., None, :]
    if "image_paths" in keys:
        spec = index["spec"]
        frames = [None] if spec["kind"] == "static" else list(range(spec["seq_len"]))
        paths = [[str(path / Path(s["file"]).stem / _image_name(s["start"] + i, t)) for t in frames]
                 for s in index["shards"] for i in range(s["count"])]
        out["image_paths"] = np.array(paths)[:, 0] if spec["kind"] == "static" else np.array(paths)
    return {k: out[k] for k in keys}
