"""FPS benchmark: the full pipeline against a detector-only run on the same source.

A frame's latency (capture to rendered) is broken down into its stages, the parts of the
diffusion stage (condition, denoiser calls, DAT and DDIM, mesh, output) and the waits between
stages (queues and thread hand-offs), each with its p50 and p95.

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

from realtime.pipeline import Pipeline, RunSummary, Sink, Stage
from realtime.record import FrameRecord
from realtime.sources import Source

FIRST_FRAMES = 30  # the first second at 30 frames/s
WAITS = "waits"  # a frame's latency outside every stage: queues and thread hand-offs


class Collector:
    """Wraps a sink and keeps, per rendered frame, the latency from capture and per-stage ms."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.latency_ms: list[float] = []
        self.stage_ms: dict[str, list[float]] = defaultdict(list)
        self.steps: list[int] = []
        self.warm = 0
        self.indices: list[int] = []  # source frame index of every rendered frame

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
        return keep_going

    def report(self, summary: RunSummary) -> dict:
        """Throughput, latency and per-stage percentiles, drops and DDIM steps of one run."""
        return {
            "frames": summary.frames,
            "captured": summary.captured,
            "dropped": summary.dropped,
            "skipped": summary.skipped,
            "elapsed_s": round(summary.elapsed_s, 3),
            "fps": round(summary.frames / summary.elapsed_s, 2) if summary.elapsed_s > 0 else 0.0,
            "latency_ms": _percentiles(self.latency_ms),
            "stages_ms": {name: _percentiles(values) for name, values in self.stage_ms.items()},
            "mesh_frames": len(self.steps),
            "steps_mean": round(float(np.mean(self.steps)), 2) if self.steps else None,
            "warm_fraction": round(self.warm / len(self.steps), 3) if self.steps else None,
            "startup": self.startup(summary),
        }

    def startup(self, summary: RunSummary, first: int = FIRST_FRAMES) -> dict:
        """Frames not rendered (dropped as stale, or skipped) among the first ``first`` source
        frames and among the rest, with their rates and the latency p95 of each part."""
        total = summary.captured + summary.skipped  # source frames read
        head = min(first, total)
        index = np.asarray(self.indices, dtype=np.int64)
        latency = np.asarray(self.latency_ms, dtype=np.float64)
        out = {"first_frames": first}
        for name, lo, hi in (("first", 0, head), ("rest", head, total)):
            inside = (index >= lo) & (index < hi)
            frames = hi - lo
            missed = frames - int(inside.sum())
            out[name] = {
                "frames": frames, "dropped": missed,
                "rate": round(missed / frames, 3) if frames else None,
                "latency_p95_ms": round(float(np.percentile(latency[inside], 95)), 1) if inside.any() else None,
            }
        return out


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def measure(source: Source, stages: Sequence[tuple[str, Stage]], sink: Sink, max_frames: int | None) -> dict:
    """Run one pipeline to its end and report it (raises PipelineError like any run)."""
    collector = Collector(sink)
    summary = Pipeline(source, stages, collector, max_frames=max_frames).run()
    return collector.report(summary)


def _drops(part: dict) -> str:
    return "-" if not part["frames"] else f"{part['dropped']}/{part['frames']} ({100 * part['rate']:.0f}%)"


def _p95s(startup: dict) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    return f"{fmt(startup['first']['latency_p95_ms'])} / {fmt(startup['rest']['latency_p95_ms'])}"


def compare(full: dict, detector: dict) -> dict:
    """Both reports and the full/detector-only throughput ratio."""
    ratio = full["fps"] / detector["fps"] if detector["fps"] else None
    return {"full": full, "detector_only": detector, "fps_ratio": None if ratio is None else round(ratio, 3)}


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
    return "\n".join(lines)
