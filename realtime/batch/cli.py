"""``hmdiff-batch VIDEOS_DIR OUT_DIR`` (or ``python -m realtime.batch``): the arguments of
:func:`realtime.batch.run_batch`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from realtime.batch import BatchError, BatchOptions, run_batch
from realtime.signals import StopSignals
from realtime.batch import __doc__ as BATCH_DOC


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.batch", description=BATCH_DOC.split("\n\n")[0])
    parser.add_argument("videos_dir", type=Path, metavar="VIDEOS_DIR")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU core; on a cluster, its CPUs)")
    parser.add_argument("--address", help="an existing Ray cluster (e.g. auto or ray://head:10001); default: local")
    parser.add_argument("--overlay", action="store_true", help="also write each video's overlay as <name>.mp4")
    parser.add_argument("--smooth-skeleton", action="store_true", help="One Euro smoothing of the exported rotations")
    parser.add_argument("--weights", type=Path, help="HMDiff checkpoint (default: the shipped weights)")
    parser.add_argument("--steps", type=int, help="DDIM steps of a cold start")
    parser.add_argument("--warm-steps", type=int, help="DDIM steps of a warm-started frame")
    parser.add_argument("--process-width", type=int, help="resize frames to this width (default: run_live's)")
    parser.add_argument("--max-frames", type=int, help="stop each video after this many frames")
    args = parser.parse_args(argv)
    for flag in ("workers", "steps", "warm_steps", "process_width", "max_frames"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if args.weights is not None and not args.weights.is_file():
        parser.error(f"--weights: no such file: {args.weights}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    options = BatchOptions(weights=str(args.weights) if args.weights else None, steps=args.steps,
                           warm_steps=args.warm_steps, process_width=args.process_width, overlay=args.overlay,
                           smooth_skeleton=args.smooth_skeleton, max_frames=args.max_frames)
    stops = StopSignals()  # SIGTERM and SIGHUP stop the batch as Ctrl+C does (exit 143, 129, 130)
    try:
        with stops:
            try:
                return run_batch(args.videos_dir, args.out_dir, options, args.workers, args.address)
            except BatchError as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print("interrupted: finished videos are kept (done.json); run again to resume", file=sys.stderr)
                return stops.exit_code(130)
            except Exception as err:  # noqa: BLE001 - the batch's own crash: one line (Ray is shut down)
                print(f"error: {type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
                return 1
    except KeyboardInterrupt:  # a second stop while the first was being reported
        return stops.exit_code(130)



def entry() -> None:
    """``hmdiff-batch`` / ``python -m realtime.batch``: :func:`main`, then an immediate exit. By then
    every output is written and Ray is shut down; the interpreter's own teardown of Ray's native
    core can still crash after a stop (SIGSEGV, seen about once in ten Ctrl+C's), so it is skipped."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
