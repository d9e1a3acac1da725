"""Skeleton animation of a run for animation tools: a BVH and a skinned, skeleton-animated glTF.

``--export-bvh FILE.bvh`` and (with the anny body) ``--export-glb FILE.glb`` fit anny's reduced
rig (:mod:`models.body.pose_fit`: the root and 25 body bones) to every recovered mesh, at the
run's body shape (the viewer's, which the meshes carry: ``--gender`` / ``--body-shape``, the
default body or the track's estimate; a ``.parts`` folder of an older version without one fits it
on the first frame with a person), each frame warm-started from the previous one. The fit is a
post-pass: while the run goes each writer only keeps what the fit needs (the 256 coarse-mesh
vertices and the 17 joints, ~3.5 kB a frame) in its ``X.parts`` folder, like every output of
:mod:`realtime.outputs`; finishing it (at the end of the run, or ``python -m realtime.outputs
X.parts`` after a killed one) fits and writes ``X``. Both writers of one run share one fit.

Scene axes (both files): Y up, metres in glTF and centimetres in BVH, the video camera at the
origin looking down -Z (glTF's camera convention; camera frame ``(x, -y, -z)``), so the body is
where the video saw it. The rig's rest pose is anny's zero pose (its A-pose) facing +Z, the
person's left on +X; every joint's rest orientation is the identity (BVH has no other) and its
rotation is anny's ``local-ref`` rotation in these axes. Frames without a person hold the last
pose (the first one before it); in the glTF the body is also hidden then (scale 0, STEP).

- BVH: ``ROOT root`` (position and rotation channels) and the 25 bones with ``Zrotation
  Xrotation Yrotation``; one frame per source frame at the source's rate (a frame a live run
  dropped repeats the previous pose, as the overlay video does); ``End Site`` beyond the feet,
  hands and head. Euler angles are unwrapped over time (no 360-degree jumps).
- glTF: the mesh at zero pose of the run's shape, skinned to the 26 joints (anny's weights
  merged into the rig, up to 8 per vertex), one animation with the rotations (quaternions,
  LINEAR), the root's translation (LINEAR) and visibility (STEP) at the processed frames' times,
  and the video's camera. anny's skinning is reproduced to within a few millimetres (its bones
  start from slightly different zero-pose transforms, which one bind mesh cannot hold: 0.05 mm
  mean, 2.6 mm max on sampled poses).

Optional One Euro smoothing (``smooth``) filters the rotations (quaternions) and the root's
path before writing, restarting after a frame without a person.
"""
from __future__ import annotations

import hashlib
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.parts import Parts, PartsWriter, start_folder
from realtime.record import FrameRecord
from realtime.targets import OutputError

log = logging.getLogger(__name__)

# anny axes (x left, y back, z up) -> the rig's scene axes (X left, Y up, Z forward).
ANNY_TO_SCENE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
CAMERA_TO_SCENE = np.diag([1.0, -1.0, -1.0])  # camera (x right, y down, z forward) -> Y up, looking down -Z
EULER_ORDER = "ZXY"  # BVH channel order: R = Rz @ Rx @ Ry
SMOOTH = {"min_cutoff": 1.0, "beta": 0.3}  # One Euro on quaternion components (and metres for the root)
FIT_KINDS = ("bvh", "skinned_glb")


# -- the track ------------------------------------------------------------------------------


@dataclass
class SkeletonTrack:
    """A fitted run in scene axes: the rig, and per processed frame its time and joint rotations."""

    names: list[str]  # rig joints, root first
    parents: list[int]
    offsets: np.ndarray  # (J, 3) metres, scene axes: each joint's head from its parent's at rest
    ends: np.ndarray  # (J, 3) metres, scene axes: a point beyond each joint (End Site), from its head
    times: np.ndarray  # (T,) seconds from the first processed frame
    frame_index: np.ndarray  # (T,) source frame numbers
    person: np.ndarray  # (T,) bool: fitted on this frame (else held)
    rotations: np.ndarray  # (T, J, 3, 3) local rotations, scene axes (the root's: its world rotation)
    root: np.ndarray  # (T, 3) metres, scene axes: the root joint's (pelvis) position
    error_mm: np.ndarray  # (T,) the fit's mean distance to the recovered coarse vertices (NaN when held)
    shape: np.ndarray  # (6,) anny phenotypes
    rest_vertices: np.ndarray  # (V, 3) metres, scene axes: the mesh at zero pose, root at the origin
    faces: np.ndarray  # (F, 3)
    skin_weights: np.ndarray  # (V, J)

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: world rotations (T, J, 3, 3) and heads (T, J, 3) in the scene."""
        num = len(self.names)
        rot = np.empty_like(self.rotations)
        heads = np.empty((len(self.times), num, 3))
        rot[:, 0], heads[:, 0] = self.rotations[:, 0], self.root
        for j in range(1, num):
            p = self.parents[j]
            heads[:, j] = heads[:, p] + rot[:, p] @ self.offsets[j]
            rot[:, j] = rot[:, p] @ self.rotations[:, j]
        return rot, heads

    def vertices(self, frame: int) -> np.ndarray:
        """The skinned mesh (V, 3) of one frame in the scene (what a glTF viewer shows)."""
        rot, heads = self.world()
        rest = self.rest_heads()
        per = np.einsum("jab,vjb->vja", rot[frame], self.rest_vertices[:, None] - rest[None]) + heads[frame][None]
        return (self.skin_weights[..., None] * per).sum(1)

    def rest_heads(self) -> np.ndarray:
        """(J, 3) joint heads at rest, root at the origin, scene axes."""
        heads = np.zeros((len(self.names), 3))
        for j in range(1, len(self.names)):
            heads[j] = heads[self.parents[j]] + self.offsets[j]
        return heads


def _hold(fits: list) -> np.ndarray:
    """For each frame, the frame whose fit it shows: itself, else the last fitted, else the first."""
    fitted = np.array([f is not None for f in fits])
    last = np.maximum.accumulate(np.where(fitted, np.arange(len(fits)), -1))
    first = int(np.argmax(fitted))
    return np.where(last >= 0, last, first)


def track_from_fits(fitter, fits: list, times: np.ndarray, frame_index: np.ndarray) -> SkeletonTrack:
    """A :class:`SkeletonTrack` from per-frame :class:`models.body.pose_fit.PoseFrame` s (None: no person)."""
    from models.body.pose_fit import CANONICAL

    if not any(f is not None for f in fits):
        raise OutputError("no person in any frame")
    rig = fitter.rig
    m = ANNY_TO_SCENE
    source = _hold(fits)
    num = len(rig.names)
    rotations = np.empty((len(fits), num, 3, 3))
    root = np.empty((len(fits), 3))
    error = np.full(len(fits), np.nan)
    for t, s in enumerate(source):
        f = fits[s]
        rotations[t, 0] = CAMERA_TO_SCENE @ f.body @ CANONICAL @ m.T
        rotations[t, 1:] = m @ f.local @ m.T
        root[t] = CAMERA_TO_SCENE @ f.transl
        if fits[t] is not None:
            error[t] = f.error_mm
    rest = rig.rest @ m.T
    return SkeletonTrack(
        names=list(rig.names), parents=list(rig.parents), offsets=rig.offsets @ m.T, ends=(rig.ends - rig.rest) @ m.T,
        times=np.asarray(times, np.float64), frame_index=np.asarray(frame_index), person=np.array([f is not None for f in fits]),
        rotations=rotations, root=root, error_mm=error, shape=rig.shape.copy(),
        rest_vertices=fitter.zero_pose_vertices() @ m.T - rest[0], faces=fitter.body.faces.cpu().numpy(),
        skin_weights=fitter.vertex_weights,
    )


def quaternions(rotations: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) xyzw of rotation matrices, sign-continuous along the first axis."""
    from scipy.spatial.transform import Rotation

    shape = rotations.shape[:-2]
    q = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_quat().reshape(*shape, 4)
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q


def smooth_track(track: SkeletonTrack, min_cutoff: float = SMOOTH["min_cutoff"], beta: float = SMOOTH["beta"]) -> SkeletonTrack:
    """One Euro filtering of the rotations (quaternion components, renormalised) and the root
    position over time, restarting after each frame without a person. Returns a new track."""
    from scipy.spatial.transform import Rotation

    from models.stream import OneEuroFilter

    q = quaternions(track.rotations)
    rot_filter, pos_filter = OneEuroFilter(min_cutoff, beta), OneEuroFilter(min_cutoff, beta)
    out_q, out_root = q.copy(), track.root.copy()
    for t in range(len(q)):
        if not track.person[t]:
            rot_filter.reset()
            pos_filter.reset()
            continue
        out_q[t] = rot_filter(track.times[t], q[t])
        out_root[t] = pos_filter(track.times[t], track.root[t])
    out_q /= np.linalg.norm(out_q, axis=-1, keepdims=True)
    rotations = Rotation.from_quat(out_q.reshape(-1, 4)).as_matrix().reshape(track.rotations.shape)
    return SkeletonTrack(**{**track.__dict__, "rotations": rotations, "root": out_root})


# -- BVH ------------------------------------------------------------------------------------


def _depth_first(parents: list[int]) -> list[int]:
    children = {i: [c for c, p in enumerate(parents) if p == i] for i in range(len(parents))}
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


def bvh_text(track: SkeletonTrack, fps: float) -> str:
    """The BVH file of ``track`` at ``fps``: one frame per source tick from the first processed
    frame to the last (a tick no frame reached repeats the previous one)."""
    from scipy.spatial.transform import Rotation

    cm = 100.0
    order = _depth_first(track.parents)
    children = {i: [c for c, p in enumerate(track.parents) if p == i] for i in range(len(track.names))}
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        head = "ROOT" if j == 0 else "JOINT"
        channels = "6 Xposition Yposition Zposition" if j == 0 else "3"
        lines.extend([f"{pad}{head} {track.names[j]}", f"{pad}{{",
                      f"{pad}  OFFSET {' '.join(f'{x:.6f}' for x in track.offsets[j] * cm)}",
                      f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation"])
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {' '.join(f'{x:.6f}' for x in track.ends[j] * cm)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    ticks = np.round(track.times * fps).astype(np.int64)
    ticks -= ticks[0]
    span = np.arange(int(ticks.max()) + 1)
    shown = np.searchsorted(ticks, span, side="right") - 1  # the last processed frame at or before each tick
    euler = Rotation.from_matrix(track.rotations[:, order].reshape(-1, 3, 3)).as_euler(EULER_ORDER, degrees=True)
    euler = np.unwrap(euler.reshape(len(track.times), len(order), 3), period=360.0, axis=0)
    values = np.concatenate([track.root * cm, euler.reshape(len(track.times), -1)], 1)[shown]
    lines += ["MOTION", f"Frames: {len(span)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{x:.5f}" for x in row) for row in values]
    return "\n".join(lines) + "\n"


# -- skinned glTF ---------------------------------------------------------------------------


def _normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _influences(weights: np.ndarray, slots: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The ``slots`` largest weights per vertex (renormalised) and their joints."""
    joints = np.argsort(-weights, axis=1)[:, :slots]
    w = np.take_along_axis(weights, joints, 1)
    w = np.where(w > 1e-6, w, 0.0)
    w /= w.sum(1, keepdims=True)
    joints = np.where(w > 0, joints, 0)
    return joints.astype("<u2"), w.astype("<f4")


def glb_bytes(track: SkeletonTrack, camera: tuple[float, float] | None) -> bytes:
    """A glTF 2.0 binary of ``track``: skinned mesh, joints, one animation, the video's camera."""
    num, frames = len(track.names), len(track.times)
    times = np.asarray(track.times - track.times[0], "<f4")
    blobs: list[bytes] = []
    views: list[dict] = []
    accessors: list[dict] = []

    def add(array: np.ndarray, kind: str, component: int, target: int | None = None, bounds: bool = False) -> int:
        data = np.ascontiguousarray(array).tobytes()
        offset = sum(len(b) for b in blobs)
        blobs.append(data + b"\0" * (-len(data) % 4))
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target:
            view["target"] = target
        views.append(view)
        acc = {"bufferView": len(views) - 1, "componentType": component, "count": len(array), "type": kind}
        if bounds:
            flat = np.asarray(array).reshape(len(array), -1)
            acc["min"], acc["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    positions = np.asarray(track.rest_vertices, "<f4")
    joints, weights = _influences(track.skin_weights)
    attributes = {"POSITION": add(positions, "VEC3", 5126, 34962, bounds=True),
                  "NORMAL": add(np.asarray(_normals(track.rest_vertices, track.faces), "<f4"), "VEC3", 5126, 34962)}
    for k in range(0, joints.shape[1], 4):
        attributes[f"JOINTS_{k // 4}"] = add(np.ascontiguousarray(joints[:, k:k + 4]), "VEC4", 5123, 34962)
        attributes[f"WEIGHTS_{k // 4}"] = add(np.ascontiguousarray(weights[:, k:k + 4]), "VEC4", 5126, 34962)
    indices = add(np.asarray(track.faces, "<u4").reshape(-1), "SCALAR", 5125, 34963)
    rest = track.rest_heads()
    inverse_bind = np.tile(np.eye(4, dtype="<f4"), (num, 1, 1))
    inverse_bind[:, :3, 3] = -rest
    ibm = add(np.ascontiguousarray(inverse_bind.transpose(0, 2, 1)).reshape(num, 16), "MAT4", 5126)

    q = quaternions(track.rotations).astype("<f4")  # (T, J, 4)
    t_acc = add(times, "SCALAR", 5126, bounds=True)
    samplers, channels = [], []
    for j in range(num):
        samplers.append({"input": t_acc, "output": add(np.ascontiguousarray(q[:, j]), "VEC4", 5126), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": j, "path": "rotation"}})
    samplers.append({"input": t_acc, "output": add(np.asarray(track.root, "<f4"), "VEC3", 5126), "interpolation": "LINEAR"})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "translation"}})
    visible = np.repeat(track.person.astype("<f4")[:, None], 3, 1)
    samplers.append({"input": t_acc, "output": add(visible, "VEC3", 5126), "interpolation": "STEP"})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "scale"}})

    nodes = []
    for j in range(num):
        node = {"name": track.names[j], "rotation": q[0, j].tolist(),
                "translation": (track.root[0] if j == 0 else track.offsets[j]).tolist()}
        kids = [c for c, p in enumerate(track.parents) if p == j]
        if kids:
            node["children"] = kids
        nodes.append(node)
    nodes.append({"name": "body", "mesh": 0, "skin": 0})
    top = [0, num]
    if camera is not None:
        nodes.append({"name": "camera", "camera": 0})
        top.append(num + 1)
    nodes.append({"name": "hmdiff_run", "children": top})
    gltf = {
        "asset": {"version": "2.0", "generator": "hmdiff-live realtime.skeleton_export"},
        "scene": 0, "scenes": [{"nodes": [len(nodes) - 1]}], "nodes": nodes,
        "meshes": [{"name": "anny", "primitives": [{"attributes": attributes, "indices": indices, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.45, 0.75, 0.92, 1.0], "metallicFactor": 0.0,
                                                "roughnessFactor": 0.8}}],
        "skins": [{"name": "anny_rig", "joints": list(range(num)), "inverseBindMatrices": ibm, "skeleton": 0}],
        "animations": [{"name": "run", "samplers": samplers, "channels": channels}],
        "accessors": accessors, "bufferViews": views, "buffers": [{"byteLength": sum(len(b) for b in blobs)}],
        "extras": {"anny_shape": track.shape.tolist(), "fit_error_mm": float(np.nanmean(track.error_mm))},
    }
    if camera is not None:
        gltf["cameras"] = [{"type": "perspective", "perspective": {"yfov": camera[0], "aspectRatio": camera[1], "znear": 0.05}}]
    payload = json.dumps(gltf, separators=(",", ":")).encode()
    payload += b" " * (-len(payload) % 4)
    binary = b"".join(blobs)
    total = 12 + 8 + len(payload) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(payload), b"JSON") + payload
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)


# -- fitting a run --------------------------------------------------------------------------


def anny_body():
    """anny, loaded once per process (the fit's body model; shared with the run's mesh faces)."""
    from models.body import shared_body_model

    return shared_body_model("anny")


def last_fit() -> tuple[SkeletonTrack, dict] | None:
    """This process's last fit: the track and its figures (frames, error_mm, ms_per_frame)."""
    return next(iter(_FIT_CACHE.values())) if _FIT_CACHE else None


def last_fit_stats() -> dict:
    return dict(last_fit()[1]) if _FIT_CACHE else {}


def fit_run(points: np.ndarray, joints: np.ndarray, person: np.ndarray, times: np.ndarray,
            frame_index: np.ndarray, shape: np.ndarray | None = None) -> tuple[SkeletonTrack, dict]:
    """Fit anny's rig to a run's recovered coarse vertices (T, 256, 3) and joints (T, 17, 3)
    (camera frame; rows where ``person`` is False are ignored). ``shape``: the body's 6 phenotypes,
    the run's own (the viewer's body, :func:`run_shape`), kept as given; None: fitted on the first
    frame with a person. Returns the track and the fit's figures."""
    from models.body.pose_fit import SkeletonFitter, fit_sequence

    if not person.any():
        raise OutputError("no person in any frame")
    fitter = SkeletonFitter(anny_body())
    fits = fit_sequence(fitter, [p if ok else None for p, ok in zip(points, person)],
                        [j if ok else None for j, ok in zip(joints, person)],
                        shape=None if shape is None else np.asarray(shape, np.float64))
    track = track_from_fits(fitter, fits, times, frame_index)
    seconds = [f.seconds for f in fits if f is not None]
    stats = {"frames": len(seconds), "error_mm": float(np.nanmean(track.error_mm)),
             "joint_error_mm": float(np.mean([f.joint_error_mm for f in fits if f is not None])),
             "shape_s": seconds[0], "ms_per_frame": 1e3 * float(np.mean(seconds[1:])) if len(seconds) > 1 else float("nan"),
             "shape": fitter.shape.round(3).tolist()}
    log.info("skeleton fit: %d frames, %.1f mm mean distance to the recovered coarse vertices; shape %.1f s, "
             "then %.0f ms a frame", stats["frames"], stats["error_mm"], stats["shape_s"], stats["ms_per_frame"])
    return track, stats


_FIT_CACHE: dict[str, tuple[SkeletonTrack, dict]] = {}  # the last run's fit, shared by its BVH and glTF


def _load_parts(folder: Path) -> dict[str, np.ndarray]:
    parts = sorted(folder.glob("part_*.npz"))
    if not parts:
        return {}
    loaded = [dict(np.load(p)) for p in parts]
    return {key: np.concatenate([d[key] for d in loaded]) for key in loaded[0]}


def run_shape(data: dict[str, np.ndarray]) -> list[float] | None:
    """The body shape of the run's last mesh (the one the user gave, the default body, or the
    longest-pooled estimate of the last track); None without one (the rig's shape is then fitted)."""
    shapes = data.get("shape")
    if shapes is None:
        return None
    known = np.flatnonzero(data["person"] & np.isfinite(shapes).all(1))
    return [float(v) for v in shapes[known[-1]]] if len(known) else None


def finish_skeleton(folder: Path, manifest: dict, dst: Path) -> int | None:
    """``realtime.outputs`` finisher of the ``bvh`` and ``skinned_glb`` kinds: fit, then write ``dst``."""
    data = _load_parts(folder)
    if not data:  # no frame at all (a run stopped before its first): nothing to say
        return None
    if not data["person"].any():
        log.warning("no person in any frame: %s not written", manifest["target"])
        return None
    shape = manifest.get("shape", run_shape(data))  # folders of the previous version name it in the manifest
    key = hashlib.sha1(b"".join(np.ascontiguousarray(data[k]).tobytes() for k in sorted(data))
                       + repr(shape).encode()).hexdigest()
    if key not in _FIT_CACHE:
        log.info("fitting anny's skeleton to %d frames for %s ...", int(data["person"].sum()), manifest["target"])
        _FIT_CACHE.clear()
        _FIT_CACHE[key] = fit_run(data["points"].astype(np.float64), data["joints"].astype(np.float64),
                                  data["person"], data["media_time"], data["frame_index"], shape)
    track, _ = _FIT_CACHE[key]
    if manifest.get("smooth"):
        track = smooth_track(track)
    if manifest["kind"] == "bvh":
        dst.write_text(bvh_text(track, float(manifest["fps"])))
    else:
        known = np.flatnonzero(np.isfinite(data["camera"][:, 0]))
        dst.write_bytes(glb_bytes(track, tuple(data["camera"][known[0]]) if len(known) else None))
    return len(track.times)


class SkeletonWriter(PartsWriter):
    """A run output (``bvh`` or ``skinned_glb``) written through a ``.parts`` folder (see
    :mod:`realtime.outputs`): spools the recovered coarse vertices and joints per frame; its
    finisher fits and writes."""

    finishers = {kind: finish_skeleton for kind in FIT_KINDS}
    says_why = True  # finish_skeleton: "no person in any frame: X not written"

    def __init__(self, path: Path, kind: str, fps: float, smooth: bool = False) -> None:
        from models.body.coarse import load_coarse_mesh

        if kind not in FIT_KINDS:
            raise ValueError(f"unknown skeleton output kind {kind!r}")
        self.path, self.kind, self.fps = path, kind, fps
        self.ids = load_coarse_mesh("anny", 256).indices.numpy()
        self.folder = start_folder(path, {"kind": kind, "fps": fps, "smooth": bool(smooth)})
        self._parts = Parts(self.folder, {"frame_index": ("<i8", ()), "media_time": ("<f8", ()), "person": ("?", ()),
                                           "points": ("<f4", (len(self.ids), 3)), "joints": ("<f4", (17, 3)),
                                           "camera": ("<f8", (2,)), "shape": ("<f4", (6,))})

    def write(self, record: FrameRecord) -> None:
        mesh = record.mesh
        camera = [np.nan, np.nan]
        if record.focal is not None:
            height, width = record.frame.image.shape[:2]
            camera = [2 * float(np.arctan(height / 2 / record.focal[1])), width / height]
        nan = np.full(3, np.nan)
        self._parts.append({
            "frame_index": record.frame.index, "media_time": record.frame.media_time, "person": mesh is not None,
            "points": mesh.vertices[self.ids] if mesh is not None else nan, "joints": mesh.joints if mesh is not None else nan,
            "camera": camera,
            "shape": mesh.shape if mesh is not None and mesh.shape is not None else np.full(6, np.nan),
        })

    def _flush(self) -> None:
        if self.folder is not None:
            self._parts.flush()


def skeleton_writers(fps: float, bvh: Path | None = None, glb: Path | None = None, smooth: bool = False) -> list:
    """The writers of ``--export-bvh`` and the skinned ``--export-glb`` (either may be None); their rig
    takes the body shape the meshes carry (:func:`run_shape`), the viewer's."""
    writers = []
    try:
        for path, kind in ((bvh, "bvh"), (glb, "skinned_glb")):
            if path is not None:
                writers.append(SkeletonWriter(path, kind, fps, smooth))
    except BaseException:
        for writer in writers:
            writer.close()
        raise
    return writers
