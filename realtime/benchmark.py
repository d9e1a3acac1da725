"""FPS benchmark: the full pipeline against a detector-only run on the same source.

A frame's latency (capture to rendered) is broken down into its stages, the parts of the
diffusion stage (condition, denoiser calls, DAT and DDIM, mesh, output) and the waits between
stages (queues and thread hand-offs), each with its p50 and p95.

A benchmark can run in rounds, full and detector-only in turn (full, detector, full, detector, ...),
each round a fresh pass over the source; the frames of all rounds are pooled. Interleaving makes
the two sides share the machine's drift in speed (it does not remove the full pipeline's own
contention: MediaPipe is slower there, as the diffusion shares the cores).

It also reports how much the stream trembles: the jitter (mean ‖Δ²‖ of the hip-centred COCO-17
limb joints, mm/frame², over runs of three consecutive source frames that all have a mesh) of the
recovered joints beside that of MediaPipe's own 3D world landmarks on the same frames, and their ratio.

Besides throughput, latency and per-stage times it reports the start-up: the share of the first
:data:`FIRST_FRAMES` source frames that were dropped (never rendered) against the share of the
frames after them, so that a stall at start (first calls of MediaPipe, Numba, ONNX Runtime,
torch) shows up instead of averaging away.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Sequence

import numpy as np

from models.skeletons import COCO17_HIPS, COCO17_LIMBS, MEDIAPIPE_TO_COCO17
from models.metrics import jitter_mm
from realtime.pipeline import Pipeline, RunSummary, Sink, Stage
from realtime.record import FrameRecord
from realtime.sources import Source

FIRST_FRAMES = 30  # the first second at 30 frames/s
WAITS = "waits"  # a frame's latency outside every stage: queues and thread hand-offs


class Collector:
    """Wraps a sink and keeps, per rendered frame, the latency from capture and per-stage ms, over
    one or more runs (:meth:`run`), which it pools."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.latency_ms: list[float] = []
        self.stage_ms: dict[str, list[float]] = defaultdict(list)
        self.steps: list[int] = []
        self.warm = 0
        self.indices: list[int] = []  # source frame index of every rendered frame
        self.runs: list[tuple[RunSummary, int, int]] = []  # each run's summary and its slice of the frames
        self.motion: list[dict[int, tuple[np.ndarray, np.ndarray]]] = []  # per run: index -> (mesh, MediaPipe) joints

    def __call__(self, record: FrameRecord) -> bool:
        t0 = time.perf_counter()
        keep_going = self.sink(record)
        t1 = time.perf_counter()
        latency = (t1 - record.frame.timestamp) * 1e3
        self.latency_ms.append(latency)
        for name, ms in record.stage_ms.items():
            self.stage_ms[name].append(ms)
        self.stage_ms["render"].append((t1 - t0) * 1e3)
        # capture's time (reading the frame) comes before the frame's timestamp: not latency
        inside = sum(ms for name, ms in record.stage_ms.items() if "/" not in name and name != "capture")
        inside += (t1 - t0) * 1e3
        self.stage_ms[WAITS].append(latency - inside)
        self.indices.append(record.frame.index)
        if record.mesh is not None:
            self.steps.append(record.mesh.steps_used)
            self.warm += record.mesh.warm
            if record.landmarks is not None and record.landmarks.world is not None and self.motion:
                world = record.landmarks.world[MEDIAPIPE_TO_COCO17]
                self.motion[-1][record.frame.index] = (record.mesh.joints, world)
        return keep_going

    def run(self, source: Source, stages: Sequence[tuple[str, Stage]], max_frames: int | None) -> RunSummary:
        """One pass of a pipeline over ``source`` into this collector (raises PipelineError like any run)."""
        start = len(self.latency_ms)
        self.motion.append({})
        summary = Pipeline(source, stages, self, max_frames=max_frames).run()
        self.runs.append((summary, start, len(self.latency_ms)))
        return summary

    def report(self) -> dict:
        """Throughput, latency and per-stage percentiles, drops and DDIM steps of all runs pooled."""
        total = lambda field: sum(getattr(summary, field) for summary, _, _ in self.runs)  # noqa: E731
        frames, elapsed = total("frames"), total("elapsed_s")
        return {
            "rounds": len(self.runs),
            "frames": frames,
            "captured": total("captured"),
            "dropped": total("dropped"),
            "skipped": total("skipped"),
            "elapsed_s": round(elapsed, 3),
            "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_ms": _percentiles(self.latency_ms),
            "stages_ms": {name: _percentiles(values) for name, values in self.stage_ms.items()},
            "mesh_frames": len(self.steps),
            "steps_mean": round(float(np.mean(self.steps)), 2) if self.steps else None,
            "warm_fraction": round(self.warm / len(self.steps), 3) if self.steps else None,
            "startup": self.startup(),
            "jitter": self.jitter(),
        }

    def jitter(self) -> dict:
        """The stream's jitter and MediaPipe's world landmarks' on the same frames (mm/frame²)."""
        return jitter_beside_mediapipe(self.motion)

    def startup(self, first: int = FIRST_FRAMES) -> dict:
        """Frames not rendered (dropped as stale, or skipped) among the first ``first`` source
        frames of each run and among the rest, with their rates and the latency p95 of each part."""
        index = np.asarray(self.indices, dtype=np.int64)
        latency = np.asarray(self.latency_ms, dtype=np.float64)
        first_part = np.zeros(len(index), bool)  # rendered frames among their run's first frames
        frames = {"first": 0, "rest": 0}  # source frames read in each part
        for summary, begin, end in self.runs:
            total = summary.captured + summary.skipped
            head = min(first, total)
            first_part[begin:end] = index[begin:end] < head
            frames["first"] += head
            frames["rest"] += total - head
        out: dict = {"first_frames": first}
        for name, inside in (("first", first_part), ("rest", ~first_part)):
            missed = frames[name] - int(inside.sum())
            out[name] = {
                "frames": frames[name], "dropped": missed,
                "rate": round(missed / frames[name], 3) if frames[name] else None,
                "latency_p95_ms": round(float(np.percentile(latency[inside], 95)), 1) if inside.any() else None,
            }
        return out


def jitter_beside_mediapipe(runs: list[dict[int, tuple[np.ndarray, np.ndarray]]]) -> dict:
    """The jitter (mm/frame²) of the mesh's COCO-17 joints and of MediaPipe's world landmarks on the
    same frames: ``runs`` maps, per run, a source frame index to (mesh joints, world landmarks), both
    (17, 3); only runs of three consecutive indices count. Keys: frames, stream_mm,
    mediapipe_world_mm, ratio (None where there is nothing to compare)."""
    stream, mediapipe = [], []
    for frames in runs:
        if not frames:
            continue
        first, last = min(frames), max(frames)
        valid = np.array([i in frames for i in range(first, last + 1)])
        zeros = np.zeros((17, 3), np.float32)
        mesh = np.stack([frames.get(i, (zeros, zeros))[0] for i in range(first, last + 1)])
        world = np.stack([frames.get(i, (zeros, zeros))[1] for i in range(first, last + 1)])
        stream.append(jitter_mm(mesh, list(COCO17_HIPS), COCO17_LIMBS, valid))
        mediapipe.append(jitter_mm(world, list(COCO17_HIPS), COCO17_LIMBS, valid))
    if not stream or not sum(len(s) for s in stream):
        return {"frames": 0, "stream_mm": None, "mediapipe_world_mm": None, "ratio": None}
    ours, theirs = float(np.concatenate(stream).mean()), float(np.concatenate(mediapipe).mean())
    return {"frames": int(sum(len(s) for s in stream)), "stream_mm": round(ours, 2),
            "mediapipe_world_mm": round(theirs, 2), "ratio": round(ours / theirs, 3) if theirs > 0 else None}


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def _drops(part: dict) -> str:
    return "-" if not part["frames"] else f"{part['dropped']}/{part['frames']} ({100 * part['rate']:.0f}%)"


def _p95s(startup: dict) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    return f"{fmt(startup['first']['latency_p95_ms'])} / {fmt(startup['rest']['latency_p95_ms'])}"


def compare(full: dict, detector: dict) -> dict:
    """Both reports and the full/detector-only ratios of throughput and latency p95."""
    ratio = full["fps"] / detector["fps"] if detector["fps"] else None
    p95 = full["latency_ms"]["p95"], detector["latency_ms"]["p95"]
    p95_ratio = p95[0] / p95[1] if None not in p95 and p95[1] > 0 else None
    return {"full": full, "detector_only": detector, "fps_ratio": None if ratio is None else round(ratio, 3),
            "latency_p95_ratio": None if p95_ratio is None else round(p95_ratio, 3)}


def format_table(result: dict) -> str:
    """A plain-text table of :func:`compare`'s result."""
    full, det = result["full"], result["detector_only"]

    def pct(p: dict) -> str:
        return "-" if p["p50"] is None else f"{p['p50']:.1f} / {p['p95']:.1f}"

    rows = [
        ("throughput FPS", f"{full['fps']:.2f}", f"{det['fps']:.2f}"),
        ("latency p50 / p95 ms", pct(full["latency_ms"]), pct(det["latency_ms"])),
    ]
    names = list(dict.fromkeys([*full["stages_ms"], *det["stages_ms"]]))
    for name in sorted(names, key=lambda n: (n == WAITS, names.index(n.split("/")[0]), "/" in n)):
        none = {"p50": None}
        label = f"    {name.split('/', 1)[1]}" if "/" in name else name
        rows.append((f"  {label} p50 / p95 ms", pct(full["stages_ms"].get(name, none)), pct(det["stages_ms"].get(name, none))))
    rows += [
        ("frames rendered / captured", f"{full['frames']} / {full['captured']}", f"{det['frames']} / {det['captured']}"),
        ("frames dropped / skipped", f"{full['dropped']} / {full['skipped']}", f"{det['dropped']} / {det['skipped']}"),
        ("frames with a mesh", str(full["mesh_frames"]), "-"),
        ("DDIM steps per frame", "-" if full["steps_mean"] is None else f"{full['steps_mean']:.2f}", "-"),
        ("warm-started frames", "-" if full["warm_fraction"] is None else f"{100 * full['warm_fraction']:.0f}%", "-"),
    ]
    if "startup" in full and "startup" in det:
        n = full["startup"]["first_frames"]
        rows += [(f"dropped, first {n} frames", _drops(full["startup"]["first"]), _drops(det["startup"]["first"])),
                 (f"dropped, after frame {n}", _drops(full["startup"]["rest"]), _drops(det["startup"]["rest"])),
                 (f"latency p95 ms, first {n} / after", _p95s(full["startup"]), _p95s(det["startup"]))]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':{width}}{'full pipeline':>18}{'detector only':>18}"]
    lines += [f"{a:{width}}{b:>18}{c:>18}" for a, b, c in rows]
    ratio = result["fps_ratio"]
    lines.append(f"FPS ratio full / detector-only: {'-' if ratio is None else f'{ratio:.3f}'}")
    jitter = full.get("jitter", {})
    if jitter.get("ratio") is not None:
        lines.append(f"jitter mm/frame² (hip-centred limb joints, {jitter['frames']} frames): stream "
                     f"{jitter['stream_mm']:.1f}, MediaPipe world landmarks {jitter['mediapipe_world_mm']:.1f}, "
                     f"ratio {jitter['ratio']:.2f}")
    if result["latency_p95_ratio"] is not None:
        lines.append(f"latency p95 ratio full / detector-only: {result['latency_p95_ratio']:.2f}"
                     f" ({full['rounds']} round(s) each, interleaved, frames pooled)")
    return "\n".join(lines)
