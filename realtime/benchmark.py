"""FPS benchmark: the full pipeline against a detector-only run on the same source."""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Sequence

import numpy as np

from realtime.pipeline import Pipeline, RunSummary, Sink, Stage
from realtime.record import FrameRecord
from realtime.sources import Source


class Collector:
    """Wraps a sink and keeps, per rendered frame, the latency from capture and per-stage ms."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.latency_ms: list[float] = []
        self.stage_ms: dict[str, list[float]] = defaultdict(list)
        self.steps: list[int] = []
        self.warm = 0

    def __call__(self, record: FrameRecord) -> bool:
        t0 = time.perf_counter()
        keep_going = self.sink(record)
        t1 = time.perf_counter()
        self.latency_ms.append((t1 - record.frame.timestamp) * 1e3)
        for name, ms in record.stage_ms.items():
            self.stage_ms[name].append(ms)
        self.stage_ms["render"].append((t1 - t0) * 1e3)
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
        }


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
    for name in dict.fromkeys([*full["stages_ms"], *det["stages_ms"]]):
        none = {"p50": None}
        rows.append((f"  {name} p50 / p95 ms", pct(full["stages_ms"].get(name, none)), pct(det["stages_ms"].get(name, none))))
    rows += [
        ("frames rendered / captured", f"{full['frames']} / {full['captured']}", f"{det['frames']} / {det['captured']}"),
        ("frames dropped / skipped", f"{full['dropped']} / {full['skipped']}", f"{det['dropped']} / {det['skipped']}"),
        ("frames with a mesh", str(full["mesh_frames"]), "-"),
        ("DDIM steps per frame", "-" if full["steps_mean"] is None else f"{full['steps_mean']:.2f}", "-"),
        ("warm-started frames", "-" if full["warm_fraction"] is None else f"{100 * full['warm_fraction']:.0f}%", "-"),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':{width}}{'full pipeline':>18}{'detector only':>18}"]
    lines += [f"{a:{width}}{b:>18}{c:>18}" for a, b, c in rows]
    ratio = result["fps_ratio"]
    lines.append(f"FPS ratio full / detector-only: {'-' if ratio is None else f'{ratio:.3f}'}")
    return "\n".join(lines)
