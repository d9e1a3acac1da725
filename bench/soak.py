"""Soak benchmark: run_live.py headless for a long time, its memory (RSS) sampled over time.

    python -m bench.soak --minutes 30                  # the synthetic source, every frame
    python -m bench.soak --minutes 10 -- --hypotheses 4 --record /tmp/soak.mp4

run_live.py runs as a child process (exactly what a user runs) with ``--export`` into a scratch
folder; every ``--sample-s`` seconds the child's RSS and the frames its export has flushed so far
are read, and after ``--minutes`` it gets SIGINT (Ctrl+C), finalises and exits. Prints a table
and the growth of RSS from the end of warm-up (``--warmup-min``) to the last sample, with its range.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def flushed_frames(parts: Path, seen: dict[str, int]) -> int:
    """Frames in the finished part files of an export's ``.parts`` folder (each read once)."""
    for part in sorted(parts.glob("part_*.npz")) if parts.is_dir() else []:
        if part.name not in seen:
            try:
                with np.load(part) as data:
                    seen[part.name] = len(data["frame_index"])
            except (OSError, ValueError, KeyError):
                continue  # being renamed into place: counted at the next sample
    return sum(seen.values())


def soak(args: argparse.Namespace, extra: list[str]) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="hmdiff-soak-", dir=args.scratch))
    export = scratch / "soak.npz"
    command = [sys.executable, str(REPO / "run_live.py"), "--synthetic", "--no-display", "--every-frame",
               "--export", str(export), *extra]
    print("command:", " ".join(command), flush=True)
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    start, seen, rows = time.monotonic(), {}, []
    stop_at = start + args.minutes * 60
    try:
        while child.poll() is None and time.monotonic() < stop_at:
            time.sleep(min(args.sample_s, max(0.0, stop_at - time.monotonic())))
            rss = rss_mb(child.pid)
            if rss is not None:
                rows.append((time.monotonic() - start, flushed_frames(export.with_name(export.name + ".parts"), seen), rss))
                print(f"  {rows[-1][0] / 60:6.1f} min  {rows[-1][1]:7d} frames  RSS {rss:7.0f} MB", flush=True)
        stopped = time.monotonic()
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=600)
        finalise_s = time.monotonic() - stopped
    finally:
        if child.poll() is None:
            child.kill()
    print(output.strip())
    frames = 0
    if export.is_file():
        with np.load(export) as data:
            frames = len(data["frame_index"])
    print_table(rows, args.warmup_min, frames, child.returncode, finalise_s)
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if child.returncode in (0, 130) else 1


def print_table(rows: list[tuple[float, int, float]], warmup_min: float, frames: int, rc: int, finalise_s: float) -> None:
    print("\n| minute | frames flushed | FPS since previous row | RSS MB |\n|---|---|---|---|")
    previous = (0.0, 0)
    for t, n, rss in rows:
        fps = (n - previous[1]) / max(t - previous[0], 1e-9)
        print(f"| {t / 60:.1f} | {n} | {fps:.1f} | {rss:.0f} |")
        previous = (t, n)
    warm = [r for r in rows if r[0] >= warmup_min * 60 - 1]  # a sample lands a moment either side of its minute
    if len(warm) >= 2:
        first, last = warm[0][2], warm[-1][2]
        low, peak = min(r[2] for r in warm), max(r[2] for r in warm)
        print(f"\nRSS after warm-up ({warm[0][0] / 60:.1f} min) {first:.0f} MB, at the end ({warm[-1][0] / 60:.1f} min) "
              f"{last:.0f} MB: {100 * (last - first) / first:+.1f} %; between them {low:.0f} to {peak:.0f} MB "
              f"({100 * (low - first) / first:+.1f} % to {100 * (peak - first) / first:+.1f} %)")
    print(f"run_live exit code {rc}; {frames} frames in the final .npz; stop and finalisation took {finalise_s:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (30)")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between RSS samples (30)")
    parser.add_argument("--warmup-min", type=float, default=5.0,
                        help="growth is measured from this minute on (5: RSS levels off after 4-5 minutes on 2 cores)")
    parser.add_argument("--scratch", type=Path, help="folder for the run's export (default: the system temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args, extra = parser.parse_known_args(argv)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return soak(args, extra)


if __name__ == "__main__":
    sys.exit(main())
