"""Run outputs: overlay video, per-frame meshes, an .npz of the whole run and an animated GLB.

Everything is written incrementally (video frames, mesh files, spooled arrays on disk) so memory
stays flat and a stop of any kind loses nothing already rendered; :meth:`Outputs.close` (call it
in ``finally``) turns the spools into the final .npz / .glb files.
"""
from __future__ import annotations

import json
import logging
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from realtime.record import FrameRecord

log = logging.getLogger(__name__)

CAMERA_TO_GLTF = np.array([1.0, -1.0, -1.0], np.float32)  # x right, y down, z fwd → glTF y up
COPY_CHUNK = 1 << 22


class OutputError(RuntimeError):
    """An output could not be written; the message is one line for the user."""


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit inside ``size`` (width, height), centred on black."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    out[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return out


class VideoRecorder:
    """The overlay as an mp4 (mp4v) at the source's frame rate, sized by the first frame.

    Frames are repeated to fill the source ticks a slow live run skipped, so the video plays in
    real time; frame-exact runs write each frame once. Frames of another size are letterboxed.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._ticks = -1

    def write(self, record: FrameRecord) -> None:
        image = record.overlay
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise OutputError(f"cannot write video {self.path}")
        if (image.shape[1], image.shape[0]) != self._size:
            image = letterbox(image, self._size)
        ticks = round(record.frame.media_time * self.fps)
        for _ in range(max(1, ticks - self._ticks)):
            self._writer.write(image)
        self._ticks = max(ticks, self._ticks + 1)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class MeshSaver:
    """One binary little-endian .ply per frame with a person, named by frame index."""

    def __init__(self, folder: Path, faces: np.ndarray) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        tri = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
        tri["n"], tri["v"] = 3, faces
        self._faces = tri.tobytes()
        self._num_faces = len(faces)

    def write(self, record: FrameRecord) -> None:
        if record.mesh is None:
            return
        vertices = np.ascontiguousarray(record.mesh.vertices, "<f4")
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
            f"element face {self._num_faces}\nproperty list uchar int vertex_indices\nend_header\n"
        )
        with open(self.folder / f"frame_{record.frame.index:06d}.ply", "wb") as f:
            f.write(header.encode("ascii"))
            f.write(vertices.tobytes())
            f.write(self._faces)

    def close(self) -> None:
        """Nothing to finalise: every file is complete when written."""


class _Spool:
    """Fixed-size rows appended to a temporary file, streamed into an .npy later."""

    def __init__(self, folder: Path, name: str, dtype: str, shape: tuple[int, ...]) -> None:
        self.dtype, self.shape = np.dtype(dtype), shape
        self.path = folder / f"{name}.bin"
        self._file: BinaryIO = open(self.path, "wb")
        self.rows = 0

    def append(self, row: object) -> None:
        self._file.write(np.ascontiguousarray(np.broadcast_to(np.asarray(row, self.dtype), self.shape)).tobytes())
        self.rows += 1

    def finish(self) -> None:
        self._file.close()

    def write_npy(self, out: BinaryIO) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows, *self.shape)}
        np.lib.format.write_array_header_1_0(out, header)
        with open(self.path, "rb") as f:
            shutil.copyfileobj(f, out, COPY_CHUNK)


class NpzExporter:
    """Per-frame arrays of the whole run in one .npz (all frames, with or without a person).

    Keys: ``vertices`` (T, V, 3) float16 (NaN without a person), ``joints`` (T, 17, 3),
    ``keypoints`` (T, 17, 2), ``confidence`` (T, 17), ``person`` (T,), ``frame_index`` (T,),
    ``timestamp`` (T,) capture seconds from the first frame, ``media_time`` (T,), ``steps_used``,
    ``dat_steps``, ``warm`` (T,), ``focal``/``principal`` (T, 2), and ``faces`` (F, 3).
    """

    def __init__(self, path: Path, faces: np.ndarray, num_vertices: int) -> None:
        self.path, self.faces = path, faces
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        nan = float("nan")
        fields = {
            "vertices": ("<f2", (num_vertices, 3), nan), "joints": ("<f4", (17, 3), nan),
            "keypoints": ("<f4", (17, 2), nan), "confidence": ("<f4", (17,), 0.0),
            "person": ("?", (), False), "frame_index": ("<i8", (), -1), "timestamp": ("<f8", (), nan),
            "media_time": ("<f8", (), nan), "steps_used": ("<i2", (), 0), "dat_steps": ("<i2", (), 0),
            "warm": ("?", (), False), "focal": ("<f4", (2,), nan), "principal": ("<f4", (2,), nan),
        }
        self._spools = {k: _Spool(self._tmp, k, dtype, shape) for k, (dtype, shape, _) in fields.items()}
        self._missing = {k: fill for k, (_, _, fill) in fields.items()}
        self._t0: float | None = None

    def write(self, record: FrameRecord) -> None:
        frame, mesh = record.frame, record.mesh
        if self._t0 is None:
            self._t0 = frame.timestamp
        row = dict(self._missing)
        row.update(person=record.person, frame_index=frame.index, timestamp=frame.timestamp - self._t0,
                   media_time=frame.media_time)
        for key in ("keypoints", "confidence", "focal", "principal"):
            if getattr(record, key) is not None:
                row[key] = getattr(record, key)
        if mesh is not None:
            row.update(vertices=mesh.vertices, joints=mesh.joints, steps_used=mesh.steps_used,
                       dat_steps=mesh.dat_steps, warm=mesh.warm)
        for key, spool in self._spools.items():
            spool.append(row[key])

    def close(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            for spool in self._spools.values():
                spool.finish()
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, spool in self._spools.items():
                    with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                        spool.write_npy(out)
                with zf.open("faces.npy", "w") as out:
                    np.lib.format.write_array(out, np.asarray(self.faces, np.int32))
            partial.replace(self.path)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            partial.unlink(missing_ok=True)


class GlbExporter:
    """An animated glTF 2.0 binary (.glb) of the run: one mesh node per frame with a person,
    shown only during its frame by a STEP scale animation (0 → 1 → 0). Opens in Blender and
    three.js; a perspective camera at the origin reproduces the video's viewpoint.
    Axes: glTF's (x right, y up, z towards the viewer), i.e. camera (x, −y, −z).
    """

    def __init__(self, path: Path, faces: np.ndarray, num_vertices: int, fps: float) -> None:
        self.path, self.num_vertices, self.fps = path, num_vertices, fps
        self.faces = np.ascontiguousarray(faces, "<u4")
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        self._positions = _Spool(self._tmp, "positions", "<f4", (num_vertices, 3))
        self._meta = _Spool(self._tmp, "meta", "<f8", (9,))  # start, end, frame index, min xyz, max xyz
        self._pending: list[float] | None = None  # the last mesh frame's meta, waiting for its end
        self._t0: float | None = None
        self._camera: tuple[float, float] | None = None  # (yfov, aspect)

    @property
    def frames(self) -> int:
        return self._positions.rows

    def write(self, record: FrameRecord) -> None:
        """A mesh frame stays visible until the next frame, with or without a person, arrives."""
        if self._t0 is None:
            self._t0 = record.frame.media_time
        now = record.frame.media_time - self._t0
        self._end_pending(now)
        if record.mesh is None:
            return
        points = record.mesh.vertices * CAMERA_TO_GLTF
        self._positions.append(points)
        self._pending = [now, now, record.frame.index, *points.min(0), *points.max(0)]
        if self._camera is None:
            height, width = record.frame.image.shape[:2]
            self._camera = (2 * float(np.arctan(height / 2 / record.focal[1])), width / height)

    def _end_pending(self, end: float) -> None:
        if self._pending is not None:
            self._pending[1] = max(end, self._pending[0] + 1e-3)
            self._meta.append(self._pending)
            self._pending = None

    def close(self) -> None:
        try:
            if self._pending is not None:
                self._end_pending(self._pending[0] + 1 / self.fps)
            self._positions.finish()
            self._meta.finish()
            if self.frames:
                self._write()
            else:
                log.warning("no person in any frame: %s not written", self.path)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _write(self) -> None:
        meta = np.fromfile(self._meta.path, "<f8").reshape(-1, 9)
        anim = [_keyframes(start, end) for start, end in meta[:, :2]]
        index_bytes = self.faces.nbytes
        pos_bytes = self.frames * self.num_vertices * 12
        anim_blob = b"".join(t.tobytes() + s.tobytes() for t, s in anim)
        gltf = self._json(meta, anim, index_bytes, pos_bytes, len(anim_blob))
        json_bytes = json.dumps(gltf, separators=(",", ":")).encode()
        json_bytes += b" " * (-len(json_bytes) % 4)
        bin_len = index_bytes + pos_bytes + len(anim_blob)
        bin_pad = -bin_len % 4
        total = 12 + 8 + len(json_bytes) + 8 + bin_len + bin_pad
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            with open(partial, "wb") as f:
                f.write(struct.pack("<4sII", b"glTF", 2, total))
                f.write(struct.pack("<I4s", len(json_bytes), b"JSON") + json_bytes)
                f.write(struct.pack("<I4s", bin_len + bin_pad, b"BIN\0"))
                f.write(self.faces.tobytes())
                with open(self._positions.path, "rb") as src:
                    shutil.copyfileobj(src, f, COPY_CHUNK)
                f.write(anim_blob + b"\0" * bin_pad)
            partial.replace(self.path)
        finally:
            partial.unlink(missing_ok=True)

    def _json(self, meta: np.ndarray, anim: list, index_bytes: int, pos_bytes: int, anim_bytes: int) -> dict:
        n, count = self.frames, self.num_vertices
        yfov, aspect = self._camera
        accessors = [{"bufferView": 0, "componentType": 5125, "count": self.faces.size, "type": "SCALAR"}]
        meshes, nodes, samplers, channels = [], [], [], []
        anim_offset = 0
        for i in range(n):
            accessors.append({
                "bufferView": 1, "byteOffset": i * count * 12, "componentType": 5126, "count": count,
                "type": "VEC3", "min": meta[i, 3:6].tolist(), "max": meta[i, 6:9].tolist(),
            })
            meshes.append({"primitives": [{"attributes": {"POSITION": len(accessors) - 1}, "indices": 0, "material": 0}]})
            nodes.append({"name": f"frame_{int(meta[i, 2]):06d}", "mesh": i, "scale": [1, 1, 1] if i == 0 else [0, 0, 0]})
            t, s = anim[i]
            accessors.append({"bufferView": 2, "byteOffset": anim_offset, "componentType": 5126,
                              "count": len(t), "type": "SCALAR", "min": [float(t[0])], "max": [float(t[-1])]})
            accessors.append({"bufferView": 2, "byteOffset": anim_offset + t.nbytes, "componentType": 5126,
                              "count": len(t), "type": "VEC3"})
            anim_offset += t.nbytes + s.nbytes
            samplers.append({"input": len(accessors) - 2, "output": len(accessors) - 1, "interpolation": "STEP"})
            channels.append({"sampler": i, "target": {"node": i, "path": "scale"}})
        nodes.append({"name": "camera", "camera": 0})
        nodes.append({"name": "hmdiff_run", "children": list(range(n + 1))})
        return {
            "asset": {"version": "2.0", "generator": "hmdiff-live realtime.outputs"},
            "scene": 0,
            "scenes": [{"nodes": [n + 1]}],
            "nodes": nodes,
            "meshes": meshes,
            "cameras": [{"type": "perspective", "perspective": {"yfov": yfov, "aspectRatio": aspect, "znear": 0.05}}],
            "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.45, 0.75, 0.92, 1.0],
                                                    "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
            "animations": [{"name": "run", "samplers": samplers, "channels": channels}],
            "accessors": accessors,
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": index_bytes, "target": 34963},
                {"buffer": 0, "byteOffset": index_bytes, "byteLength": pos_bytes, "target": 34962},
                {"buffer": 0, "byteOffset": index_bytes + pos_bytes, "byteLength": anim_bytes},
            ],
            "buffers": [{"byteLength": index_bytes + pos_bytes + anim_bytes}],
        }


def _keyframes(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """STEP scale keys showing a node from ``start`` to ``end`` > ``start`` (hidden before and after)."""
    times = [start, end] if start <= 0 else [0.0, start, end]
    scales = [[1, 1, 1], [0, 0, 0]] if start <= 0 else [[0, 0, 0], [1, 1, 1], [0, 0, 0]]
    return np.asarray(times, "<f4"), np.asarray(scales, "<f4")


class Outputs:
    """All requested outputs behind one ``write(record)`` / ``close()``."""

    def __init__(
        self,
        faces: np.ndarray,
        num_vertices: int,
        fps: float,
        record: Path | None = None,
        save_meshes: Path | None = None,
        export: Path | None = None,
        export_glb: Path | None = None,
    ) -> None:
        self.writers: list = []
        if record:
            self.writers.append(VideoRecorder(record, fps))
        if save_meshes:
            self.writers.append(MeshSaver(save_meshes, faces))
        if export:
            self.writers.append(NpzExporter(export, faces, num_vertices))
        if export_glb:
            self.writers.append(GlbExporter(export_glb, faces, num_vertices, fps))

    def write(self, record: FrameRecord) -> None:
        for writer in self.writers:
            writer.write(record)

    def close(self) -> None:
        """Finalise every output; raises one :class:`OutputError` if any failed."""
        failures = []
        for writer in self.writers:
            try:
                writer.close()
            except Exception as err:  # noqa: BLE001 - finalise the others anyway
                failures.append(f"{type(writer).__name__}: {type(err).__name__}: {err}")
        if failures:
            raise OutputError("could not finalise outputs: " + "; ".join(failures))
