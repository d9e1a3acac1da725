"""Run outputs: overlay video, per-frame meshes, an .npz of the whole run and an animated GLB.

Nothing already rendered is lost and nothing is half-written:

- While the run goes, each output ``X`` lives in a folder ``X.parts`` beside it, written
  incrementally: the overlay video as AVI segments (plain frame chunks), the arrays as numbered
  ``part_NNNNNN.npz`` files (each complete, renamed into place, flushed every
  :data:`FLUSH_ROWS` frames or :data:`FLUSH_S` seconds). Memory stays flat.
- :meth:`Outputs.close` (call it in ``finally``; stop signals wait for it, see
  ``realtime.signals``) turns each folder into ``X``: written to a temporary file, then renamed
  over ``X``, then the folder is removed. ``X`` is replaced only by a complete file, and not at
  all by a run that reached it with no frame.
- A run that is killed (SIGKILL, a crash) leaves ``X.parts``: the AVIs play and every part
  loads as it is, and ``python -m realtime.outputs X.parts`` finishes ``X`` from them.

``--save-meshes DIR`` goes the same way: each ``.ply`` is complete when written (temporary name, then
renamed) into ``DIR.parts``, and the whole set replaces ``DIR`` at the end (an earlier run's
meshes are never mixed with the new ones nor overwritten by a killed run). ``DIR`` may be new,
empty or hold an earlier run's ``frame_*.ply`` only: a folder holding anything else is refused.
:func:`realtime.targets.check_targets` refuses, before anything heavy starts, an output that is an input or
another output, one whose folder cannot be written, and one with a ``.parts`` folder left over.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import time
import zipfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from realtime.mp4mux import MuxError, avi_chunks, avi_to_mp4
from realtime.record import FrameRecord
from realtime.signals import deferred
from realtime.parts import (FLUSH_ROWS, FLUSH_S, MANIFEST, Parts, PartsWriter, part_files,  # noqa: F401 - FLUSH_*: part of this API
                            start_folder, write_json)
from realtime.parts import finish as finish_parts
from realtime.targets import OutputError, mesh_folder_problem, output_path, parts_folder  # noqa: F401 - parts_folder: part of this API

__all__ = ["Outputs", "OutputError", "VideoRecorder", "MeshSaver", "NpzExporter", "GlbExporter", "finish",
           "letterbox", "parts_folder"]

log = logging.getLogger(__name__)

CAMERA_TO_GLTF = np.array([1.0, -1.0, -1.0], np.float32)  # x right, y down, z fwd → glTF y up
COPY_CHUNK = 1 << 22


# -- the parts folder -----------------------------------------------------------------------


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> dict:
    return {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}


def _check_parts(parts: list[Path], key: str) -> list[int]:
    """The rows of every part file (its ``key`` array fully read); a corrupt one is named, in one line."""
    counts = []
    for part in parts:
        try:
            with np.load(part) as data:
                counts.append(len(data[key]))
        except Exception as err:  # noqa: BLE001 - a truncated or damaged file: say which and what to do
            raise OutputError(f"{part.name} is corrupt ({type(err).__name__}: {err}); move it out of "
                              f"{part.parent.name} to finish without its frames") from None
    return counts


def _finish_npz(folder: Path, manifest: dict, dst: Path) -> int | None:
    parts = part_files(folder)
    fields = [(key, np.dtype(dtype), tuple(shape)) for key, dtype, shape in manifest["fields"]]
    counts = _check_parts(parts, fields[0][0])
    total = sum(counts)
    if not total:
        return None
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, dtype, shape in fields:
            with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_1_0(out, _npy_header(dtype, (total, *shape)))
                for part in parts:
                    with np.load(part) as data:
                        out.write(np.ascontiguousarray(data[key], dtype).tobytes())
        with zf.open("faces.npy", "w") as out:
            np.lib.format.write_array(out, np.load(folder / "faces.npy"))
    return total


def _finish_mp4(folder: Path, manifest: dict, dst: Path) -> int | None:
    segments = []
    for segment in sorted(folder.glob("video_*.avi")):  # one without a frame is left out, with a warning
        try:
            with open(segment, "rb") as f:
                frames = sum(1 for _ in avi_chunks(f))
        except (OSError, MuxError, struct.error) as err:
            log.warning("%s: left out %s, it is corrupt (%s)", manifest["target"], segment.name, err)
            continue
        if not frames:
            log.warning("%s: left out %s, it holds no complete frame", manifest["target"], segment.name)
            continue
        segments.append(segment)
    if not segments:
        return None
    return avi_to_mp4(segments, dst, manifest["fps"]) or None


def _finish_glb(folder: Path, manifest: dict, dst: Path) -> int | None:
    parts = part_files(folder)
    _check_parts(parts, "positions")
    metas, camera = [], None
    for part in parts:
        with np.load(part) as data:
            metas.append(data["meta"])
            if camera is None and len(data["camera"]):
                camera = tuple(float(x) for x in data["camera"][0])
    meta = np.concatenate(metas) if metas else np.zeros((0, 9))
    camera = camera or manifest.get("camera")
    if camera is None:  # no frame at all
        return None
    faces = np.load(folder / "faces.npy").astype("<u4")
    _write_glb(dst, faces, int(manifest["num_vertices"]), meta, camera, parts)
    if not len(meta):
        log.warning("no mesh in any frame: %s holds only the camera", manifest["target"])
    return len(meta)


def _finish_meshes(folder: Path, manifest: dict, dst: Path) -> int | None:
    """The ``.ply`` files of the folder moved into the folder ``dst`` (renames: no copy), which then
    replaces the target folder whole (:func:`realtime.parts.replace_output`)."""
    target = folder.parent / manifest["target"]
    problem = mesh_folder_problem(target, "the meshes' folder")  # never replace a folder of other files
    if problem:
        raise OutputError(problem)
    dst.mkdir(exist_ok=True)  # a finish cut short left it, with the files it had moved
    for ply in sorted(folder.glob("frame_*.ply")):
        os.replace(ply, dst / ply.name)
    return sum(1 for _ in dst.glob("frame_*.ply")) or None


def _finish_skeleton(folder: Path, manifest: dict, dst: Path) -> int | None:
    from realtime.skeleton_export import finish_skeleton  # fits anny's rig: imported when used

    return finish_skeleton(folder, manifest, dst)


FINISHERS: dict[str, Callable[[Path, dict, Path], int | None]] = {
    "npz": _finish_npz, "mp4": _finish_mp4, "glb": _finish_glb, "meshes": _finish_meshes,
    "bvh": _finish_skeleton, "skinned_glb": _finish_skeleton,  # realtime.skeleton_export
}


def finish(folder: Path, hint: bool = True) -> tuple[Path, int | None]:
    """Turn a ``.parts`` folder of any kind into its output (:func:`realtime.parts.finish`)."""
    return finish_parts(folder, FINISHERS, hint)


# -- the writers ----------------------------------------------------------------------------


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit inside ``size`` (width, height), centred on black."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    out[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return out


class VideoRecorder(PartsWriter):
    """The overlay as an mp4 (mp4v) at the source's frame rate, sized by the first frame.

    Frames are repeated to fill the source ticks a slow live run skipped, so the video plays in
    real time; frame-exact runs write each frame once. Frames of another size are letterboxed.
    Recorded into AVI segments ``X.parts/video_NNNNNN.avi``, each closed (complete) after
    :data:`FLUSH_ROWS` frames or :data:`FLUSH_S` seconds, so a killed run leaves them playable;
    copied into the MP4 at the end (``realtime.mp4mux``, no re-encoding).
    """

    finishers = {"mp4": _finish_mp4}

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.folder = start_folder(path, {"kind": "mp4", "fps": fps})
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._ticks = -1
        self._segments = 0
        self._in_segment = 0
        self._opened_at = 0.0

    def _open_segment(self) -> cv2.VideoWriter:
        segment = self.folder / f"video_{self._segments:06d}.avi"
        writer = cv2.VideoWriter(str(segment), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
        if not writer.isOpened():
            raise OutputError(f"cannot write video {self.path} (its segment {segment})")
        self._segments += 1
        self._in_segment, self._opened_at = 0, time.monotonic()
        return writer

    def write(self, record: FrameRecord) -> None:
        image = record.overlay
        if self._size is None:
            self._size = (image.shape[1], image.shape[0])
        if self._writer is None:
            self._writer = self._open_segment()
        if (image.shape[1], image.shape[0]) != self._size:
            image = letterbox(image, self._size)
        ticks = round(record.frame.media_time * self.fps)
        for _ in range(max(1, ticks - self._ticks)):
            self._writer.write(image)
            self._in_segment += 1
        self._ticks = max(ticks, self._ticks + 1)
        if self._in_segment >= FLUSH_ROWS or time.monotonic() - self._opened_at >= FLUSH_S:
            self._flush()  # a complete segment on disk; the next frame opens the next one

    def _flush(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class MeshSaver(PartsWriter):
    """One binary little-endian .ply per frame with a mesh, named by frame index, in the folder
    ``path``. Written into ``path.parts`` (each file under a temporary name, then renamed: every
    .ply there is complete); :meth:`close` puts the set in ``path``'s place, replacing an earlier
    run's meshes whole. ``path`` may not hold other files (:func:`realtime.targets.mesh_folder_problem`)."""

    finishers = {"meshes": _finish_meshes}

    def __init__(self, folder: Path, faces: np.ndarray) -> None:
        self.path = output_path(folder)
        problem = mesh_folder_problem(self.path)
        if problem:
            raise OutputError(problem)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.folder = start_folder(self.path, {"kind": "meshes"})
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
        path = self.folder / f"frame_{record.frame.index:06d}.ply"
        tmp = self.folder / f".{path.name}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(header.encode("ascii"))
                f.write(vertices.tobytes())
                f.write(self._faces)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _flush(self) -> None:
        """Nothing buffered: every file is complete when written."""


NPZ_FIELDS = {
    "vertices": ("<f2", ("V", 3), float("nan")), "joints": ("<f4", (17, 3), float("nan")),
    "keypoints": ("<f4", (17, 2), float("nan")), "confidence": ("<f4", (17,), 0.0),
    "person": ("?", (), False), "frame_index": ("<i8", (), -1), "timestamp": ("<f8", (), float("nan")),
    "media_time": ("<f8", (), float("nan")), "steps_used": ("<i2", (), 0), "dat_steps": ("<i2", (), 0),
    "warm": ("?", (), False), "focal": ("<f4", (2,), float("nan")), "principal": ("<f4", (2,), float("nan")),
}


class NpzExporter(PartsWriter):
    """Per-frame arrays of the whole run in one .npz (all frames, with or without a person).

    Keys: ``vertices`` (T, V, 3) float16 (NaN without a person), ``joints`` (T, 17, 3),
    ``keypoints`` (T, 17, 2), ``confidence`` (T, 17), ``person`` (T,), ``frame_index`` (T,),
    ``timestamp`` (T,) capture seconds from the first frame, ``media_time`` (T,), ``steps_used``,
    ``dat_steps``, ``warm`` (T,), ``focal``/``principal`` (T, 2), and ``faces`` (F, 3).
    While the run goes: ``X.parts/part_*.npz`` with the same keys (but ``faces``: ``faces.npy``).
    """

    finishers = {"npz": _finish_npz}

    def __init__(self, path: Path, faces: np.ndarray, num_vertices: int) -> None:
        self.path = path
        fields = {k: (dtype, tuple(num_vertices if d == "V" else d for d in shape))
                  for k, (dtype, shape, _) in NPZ_FIELDS.items()}
        fields = {"frame_index": fields.pop("frame_index"), **fields}  # counted first by finish()
        self.folder = start_folder(path, {"kind": "npz", "fields": [[k, d, list(s)] for k, (d, s) in fields.items()]})
        np.save(self.folder / "faces.npy", np.asarray(faces, np.int32))
        self._parts = Parts(self.folder, fields)
        self._missing = {k: fill for k, (_, _, fill) in NPZ_FIELDS.items()}
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
        self._parts.append(row)

    def _flush(self) -> None:
        if self.folder is not None:
            self._parts.flush()


class GlbExporter(PartsWriter):
    """An animated glTF 2.0 binary (.glb) of the run: one mesh node per frame with a person,
    shown only during its frame by a STEP scale animation (0 → 1 → 0). Opens in Blender and
    three.js; a perspective camera at the origin reproduces the video's viewpoint.
    Axes: glTF's (x right, y up, z towards the viewer), i.e. camera (x, −y, −z).
    A run with frames but no mesh gives a .glb with the camera only.
    """

    finishers = {"glb": _finish_glb}

    def __init__(self, path: Path, faces: np.ndarray, num_vertices: int, fps: float) -> None:
        self.path, self.num_vertices, self.fps = path, num_vertices, fps
        self.folder = start_folder(path, {"kind": "glb", "fps": fps, "num_vertices": num_vertices})
        np.save(self.folder / "faces.npy", np.asarray(faces, np.int64))
        # meta: start, end, frame index, min xyz, max xyz; camera: (yfov, aspect)
        self._parts = Parts(self.folder, {"positions": ("<f4", (num_vertices, 3)), "meta": ("<f8", (9,)),
                                           "camera": ("<f8", (2,))})
        self._pending: dict | None = None  # the last mesh frame, waiting for its end
        self._t0: float | None = None
        self._first_camera = False

    @property
    def frames(self) -> int:
        return self._parts.rows

    def write(self, record: FrameRecord) -> None:
        """A mesh frame stays visible until the next frame, with or without a person, arrives."""
        if self._t0 is None:
            self._t0 = record.frame.media_time
        now = record.frame.media_time - self._t0
        if not self._first_camera:  # the camera of a run without a mesh: its first frame's
            self._first_camera = True
            write_json(self.folder / MANIFEST, {**json.loads((self.folder / MANIFEST).read_text()),
                                                 "camera": _camera(record)})
        self._end_pending(now)
        if record.mesh is None:
            return
        points = record.mesh.vertices * CAMERA_TO_GLTF
        self._pending = {"positions": points, "meta": [now, now, record.frame.index, *points.min(0), *points.max(0)],
                         "camera": _camera(record)}

    def _end_pending(self, end: float) -> None:
        if self._pending is not None:
            self._pending["meta"][1] = max(end, self._pending["meta"][0] + 1e-3)
            self._parts.append(self._pending)
            self._pending = None

    def _flush(self) -> None:
        if self.folder is None:
            return
        if self._pending is not None:
            self._end_pending(self._pending["meta"][0] + 1 / self.fps)
        self._parts.flush()


def _camera(record: FrameRecord) -> list[float]:
    height, width = record.frame.image.shape[:2]
    return [2 * float(np.arctan(height / 2 / record.focal[1])), width / height]


def _write_glb(path: Path, faces: np.ndarray, num_vertices: int, meta: np.ndarray, camera: tuple,
               parts: list[Path]) -> None:
    faces = np.ascontiguousarray(faces, "<u4")
    n = len(meta)
    anim = [_keyframes(start, end) for start, end in meta[:, :2]]
    index_bytes = faces.nbytes if n else 0
    pos_bytes = n * num_vertices * 12
    anim_blob = b"".join(t.tobytes() + s.tobytes() for t, s in anim)
    gltf = _gltf_json(n, num_vertices, faces.size, camera, meta, anim, index_bytes, pos_bytes, len(anim_blob))
    json_bytes = json.dumps(gltf, separators=(",", ":")).encode()
    json_bytes += b" " * (-len(json_bytes) % 4)
    bin_len = index_bytes + pos_bytes + len(anim_blob)
    bin_pad = -bin_len % 4
    total = 12 + 8 + len(json_bytes) + ((8 + bin_len + bin_pad) if n else 0)
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(json_bytes), b"JSON") + json_bytes)
        if not n:
            return
        f.write(struct.pack("<I4s", bin_len + bin_pad, b"BIN\0"))
        f.write(faces.tobytes())
        for part in parts:
            with np.load(part) as data:
                f.write(np.ascontiguousarray(data["positions"], "<f4").tobytes())
        f.write(anim_blob + b"\0" * bin_pad)


def _gltf_json(n: int, count: int, index_count: int, camera: tuple, meta: np.ndarray, anim: list,
               index_bytes: int, pos_bytes: int, anim_bytes: int) -> dict:
    yfov, aspect = camera
    gltf = {
        "asset": {"version": "2.0", "generator": "hmdiff-live realtime.outputs"},
        "scene": 0,
        "scenes": [{"nodes": [n + 1]}],
        "cameras": [{"type": "perspective", "perspective": {"yfov": yfov, "aspectRatio": aspect, "znear": 0.05}}],
    }
    if not n:  # a run without a mesh: the camera only (glTF allows no empty arrays)
        gltf["nodes"] = [{"name": "camera", "camera": 0}, {"name": "hmdiff_run", "children": [0]}]
        gltf["scenes"] = [{"nodes": [1]}]
        return gltf
    accessors = [{"bufferView": 0, "componentType": 5125, "count": index_count, "type": "SCALAR"}]
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
    gltf.update({
        "nodes": nodes,
        "meshes": meshes,
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
    })
    return gltf


def _keyframes(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """STEP scale keys showing a node from ``start`` to ``end`` > ``start`` (hidden before and after)."""
    times = [start, end] if start <= 0 else [0.0, start, end]
    scales = [[1, 1, 1], [0, 0, 0]] if start <= 0 else [[0, 0, 0], [1, 1, 1], [0, 0, 0]]
    return np.asarray(times, "<f4"), np.asarray(scales, "<f4")


class Outputs:
    """All requested outputs behind one ``write(record)`` / ``close()``; counts the frames that
    reached them (``frames``), with a person (``with_person``) and with a mesh (``with_mesh``)."""

    def __init__(
        self,
        faces: np.ndarray,
        num_vertices: int,
        fps: float,
        record: Path | None = None,
        save_meshes: Path | None = None,
        export: Path | None = None,
        export_glb: Path | None = None,
        export_bvh: Path | None = None,
        skinned_glb: bool = False,
        smooth_skeleton: bool = False,
    ) -> None:
        self.writers: list = []
        self.frames = self.with_person = self.with_mesh = 0
        self.unwritten: list[Path] = []  # after close: the outputs asked for that were not written
        try:
            if record:
                self.writers.append(VideoRecorder(record, fps))
            if save_meshes:
                self.writers.append(MeshSaver(save_meshes, faces))
            if export:
                self.writers.append(NpzExporter(export, faces, num_vertices))
            if export_glb and not skinned_glb:
                self.writers.append(GlbExporter(export_glb, faces, num_vertices, fps))
            if export_bvh or (export_glb and skinned_glb):  # anny's rig fitted to the meshes
                from realtime.skeleton_export import skeleton_writers

                self.writers += skeleton_writers(fps, export_bvh, export_glb if skinned_glb else None, smooth_skeleton)
        except BaseException:
            self.close()  # no frame yet: removes the .parts folders made so far, touches no output
            raise

    def write(self, record: FrameRecord) -> None:
        self.frames += 1
        self.with_person += bool(record.person)
        self.with_mesh += record.mesh is not None
        for writer in self.writers:
            writer.write(record)

    def close(self) -> None:
        """Finalise every output, each in turn whatever happens to the others; stop signals wait
        until all are done. Raises one :class:`OutputError` if any failed (a ``KeyboardInterrupt``
        raised inside is re-raised once all are closed)."""
        failures, interrupt = [], None
        with deferred():
            for writer in self.writers:
                try:
                    if isinstance(writer, PartsWriter) and not self.frames:
                        writer.quiet = True  # a run that reached no frame says so itself
                    writer.close()
                    if getattr(writer, "written", None) is False:
                        self.unwritten.append(writer.path)
                except (KeyboardInterrupt, SystemExit) as err:
                    interrupt = interrupt or err
                except OutputError as err:
                    failures.append(str(err))
                except Exception as err:  # noqa: BLE001 - finalise the others anyway
                    failures.append(f"{type(writer).__name__}: {type(err).__name__}: {err}")
        if interrupt is not None:
            raise interrupt
        if failures:
            raise OutputError("could not finalise outputs: " + "; ".join(failures))
