"""Many videos on Ray: ``python -m realtime.batch VIDEOS_DIR OUT_DIR`` (``hmdiff-batch``; arguments: ``realtime.batch.cli``).

Every video of ``VIDEOS_DIR`` (``*.mp4 *.mov *.avi *.mkv *.webm *.m4v``, in name order) is
processed frame-exact (every frame, no pacing) through the same per-frame recovery as
``run_live.py`` (:class:`realtime.live.LiveRecovery`: detector, intrinsics, HMDiff, warm start),
and gets a folder ``OUT_DIR/<name>/`` with ``<name>.npz`` (the per-frame arrays), ``<name>.bvh``
and ``<name>.glb`` (anny's rig fitted to the meshes, :mod:`realtime.skeleton_export`), with
``--overlay`` the overlay video ``<name>.mp4``, and last ``done.json`` (frames, time, fit
error). A video whose ``done.json`` exists is skipped, so a stopped batch resumes where it was;
one that was cut short is redone from its start.

Ray runs locally by default (``--workers`` processes, one per CPU core by default; each loads
the model once and takes videos one after another) or on an existing cluster (``--address``,
where every node must have this package installed). A progress bar per running video and one
overall (frames) are drawn on the terminal; each finished video prints one line. A video that
fails (unreadable, no person in any frame, an output that cannot be written, a crashed worker)
is reported in one line and the others are completed; the exit code is then 1.

A stop (Ctrl+C, SIGTERM, SIGHUP: exit 130, 143, 129 with one line; see ``realtime.batch.cli``) or a
crash of the batch shuts Ray down; the local Ray processes it started (GCS, raylet, agents,
workers) are stopped with it, even when the batch itself is killed (SIGKILL): a small watchdog
process (:class:`RayReaper`) holds the list of them and stops those left when the batch is gone.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("realtime.batch")

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
DONE = "done.json"
PROGRESS_EVERY = 10  # frames between a worker's progress reports
POLL_S = 0.5


class BatchError(RuntimeError):
    """A problem that stops the whole batch; the message is one line."""


class VideoError(RuntimeError):
    """A problem with one video (the batch goes on); the message is one line."""


@dataclass(frozen=True)
class BatchOptions:
    weights: str | None = None
    steps: int | None = None
    warm_steps: int | None = None
    process_width: int | None = None
    overlay: bool = False
    smooth_skeleton: bool = False
    max_frames: int | None = None


def find_videos(folder: Path) -> list[Path]:
    """The videos of ``folder`` in name order; a one-line error if there is none or it is unreadable."""
    if not folder.is_dir():
        raise BatchError(f"not a folder: {folder}")
    try:
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    except OSError as err:
        raise BatchError(f"cannot list {folder}: {err.strerror or err}") from None
    if not videos:
        raise BatchError(f"no videos ({' '.join('*' + s for s in VIDEO_SUFFIXES)}) in {folder}")
    return videos


def output_names(videos: list[Path]) -> dict[Path, str]:
    """Each video's output folder name: its stem, or its whole name when stems collide."""
    stems = [v.stem for v in videos]
    return {v: v.stem if stems.count(v.stem) == 1 else v.name.replace(".", "_") for v in videos}


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and try a file in it; a one-line error otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hmdiff-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise BatchError(f"cannot write in {folder}: {err.strerror or err}") from None


def is_done(folder: Path) -> bool:
    return (folder / DONE).is_file()


def _write_done(folder: Path, summary: dict) -> None:
    tmp = folder / (DONE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    os.replace(tmp, folder / DONE)


def process_video(video: Path, folder: Path, options: BatchOptions, live_factory, report=None) -> dict:
    """Run one video through recovery into ``folder``; returns its summary (raises on failure).

    ``live_factory()`` gives a :class:`realtime.live.LiveRecovery` for a new stream (the model
    already loaded); ``report(done, total)`` is called every few frames.

    The work runs on a thread of its own, as ``run_live.py``'s stages do: on this project's machine
    the same recovery on a process's main thread measured 20x slower (diffusion median 538 vs
    21 ms a frame, 2026-12-01; cause not found: not CPU affinity, malloc thresholds or denormals).
    """
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["summary"] = _process_video(video, folder, options, live_factory, report)
        except BaseException as err:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = err

    thread = threading.Thread(target=work, name=f"batch {video.name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["summary"]


def _process_video(video: Path, folder: Path, options: BatchOptions, live_factory, report) -> dict:
    from realtime import skeleton_export
    from realtime.outputs import Outputs
    from realtime.record import FrameRecord
    from realtime.sources import VideoSource

    from realtime.options import DEFAULTS

    started = time.perf_counter()
    source = VideoSource(video, process_width=options.process_width or DEFAULTS.process_width, every_frame=True).open()
    live = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DONE).unlink(missing_ok=True)
        for leftover in folder.glob("*.parts"):  # a run of this video that was killed: redone from the start
            shutil.rmtree(leftover, ignore_errors=True)
        name = folder.name
        live = live_factory()
        outputs = Outputs(live.faces, live.num_vertices, source.fps,
                          record=folder / f"{name}.mp4" if options.overlay else None, export=folder / f"{name}.npz",
                          export_bvh=folder / f"{name}.bvh", export_glb=folder / f"{name}.glb", skinned_glb=True,
                          smooth_skeleton=options.smooth_skeleton)
    except BaseException:
        source.close()
        if live is not None:
            live.close()
        raise
    total = min(source.length or 0, options.max_frames or (source.length or 0)) or None
    frames = 0
    failed = True  # until the video is done: its outputs are then removed (no half result is left)
    try:
        draw = None
        if options.overlay:
            from realtime.overlay import draw_overlay as draw
        for frame in source.frames():
            record = live.process_record(FrameRecord(frame))
            if draw is not None:
                record.overlay = draw(record, [f"{name}  frame {frame.index}"])
            outputs.write(record)
            frames += 1
            if report is not None and frames % PROGRESS_EVERY == 0:
                report(frames, total)
            if options.max_frames and frames >= options.max_frames:
                break
        failed = not outputs.with_person
    finally:
        source.close()
        live.close()
        try:
            outputs.close()  # every output finalised, even after a failure (and removed then)
        finally:
            if failed:
                _remove_outputs(folder, outputs)
    if not outputs.with_person:
        raise VideoError(f"no person in any frame of {video.name}")
    elapsed = time.perf_counter() - started
    fit = skeleton_export.last_fit_stats()
    summary = {"video": str(video), "frames": frames, "with_person": outputs.with_person, "fps": source.fps,
               "seconds": elapsed, "fit": fit}
    _write_done(folder, summary)  # last: the video counts as done only now
    return summary


def _remove_outputs(folder: Path, outputs) -> None:
    """What a failed video's run wrote in its folder, and the folder when nothing else is left in it."""
    for writer in outputs.writers:
        Path(writer.path).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass  # something else is there: kept


class VideoWorker:
    """One Ray worker: loads the model once, then processes videos one after another."""

    def __init__(self, options: BatchOptions) -> None:
        from realtime.live import LiveOptions, load_model

        logging.basicConfig(level=logging.WARNING)
        self.options = options
        self.error: str | None = None  # why the model could not be loaded: every video fails with it
        changes = {k: v for k, v in (("steps", options.steps), ("warm_steps", options.warm_steps),
                                     ("process_width", options.process_width)) if v is not None}
        self.live_options = LiveOptions(weights=Path(options.weights) if options.weights else None, warmup=False,
                                        torch_threads=1, **changes)  # one worker per core: torch keeps to one
        try:
            self.model = load_model(self.live_options)
        except Exception as err:  # noqa: BLE001 - reported per video, in one line
            self.error = _one_line(err)

    def run(self, video: str, folder: str, progress=None) -> dict:
        from realtime.live import LiveRecovery

        if self.error is not None:
            return {"status": "failed", "video": video, "error": self.error}
        name = Path(video).name

        def report(done: int, total: int | None) -> None:
            if progress is not None:
                progress.update.remote(name, done, total)

        try:
            summary = process_video(Path(video), Path(folder), self.options,
                                    lambda: LiveRecovery(self.live_options, model=self.model), report)
            return {"status": "done", **summary}
        except Exception as err:  # noqa: BLE001 - one line for the driver; the batch goes on
            return {"status": "failed", "video": video, "error": _one_line(err)}


def _one_line(err: BaseException) -> str:
    """Our own errors speak for themselves; others get their type."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    ours = type(err).__module__.split(".")[0] in ("realtime", "models")
    return text if ours else f"{type(err).__name__}: {text}"


class Progress:
    """A Ray actor the workers report to: frames done (and total, when known) per video."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[int, int | None]] = {}

    def update(self, name: str, done: int, total: int | None) -> None:
        self.state[name] = (done, total)

    def snapshot(self) -> dict[str, tuple[int, int | None]]:
        return dict(self.state)


# The watchdog: reads snapshots ("pid:start_time ..." a line) of the batch's descendants on stdin;
# when stdin ends (the batch finished, stopped or was killed: the pipe closes with it), it waits a
# moment for Ray's own shutdown, then kills every process it was told of that still runs (the same
# process: pid and start time).
REAPER = r"""
import sys, time
import psutil
known = {}
for line in sys.stdin:
    for item in line.split():
        pid, _, started = item.partition(":")
        known[int(pid)] = float(started)
deadline = time.monotonic() + float(sys.argv[1])
while True:
    alive = []
    for pid, started in known.items():
        try:
            process = psutil.Process(pid)
            if abs(process.create_time() - started) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.Error:
            pass
    if not alive or time.monotonic() > deadline:
        break
    time.sleep(0.1)
for process in alive:
    try:
        process.kill()
    except psutil.Error:
        pass
"""
REAPER_GRACE_S = 3.0  # Ray's own shutdown gets this long before the watchdog kills what is left
NOTE_EVERY_S = 0.2  # how often the watchdog learns of new processes (a SIGKILL may miss younger ones)


class RayReaper:
    """The watchdog of the Ray processes this batch starts (see :data:`REAPER`): :meth:`note` tells
    it the batch's current descendants, :meth:`close` (or the batch's death) lets it stop the rest."""

    def __init__(self) -> None:
        ignore = (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM))
        self._process = subprocess.Popen(
            [sys.executable, "-c", REAPER, str(REAPER_GRACE_S)], stdin=subprocess.PIPE, text=True,
            preexec_fn=lambda: [signal.signal(s, signal.SIG_IGN) for s in ignore])  # stops reach the batch only
        self._seen: set[tuple[int, float]] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._watch, name="ray reaper", daemon=True).start()

    def _watch(self) -> None:
        while not self._closed.wait(NOTE_EVERY_S):
            self.note()

    def note(self) -> None:
        """Tell the watchdog the batch's descendants now (Ray's processes among them)."""
        with self._lock:
            self._note()

    def _note(self) -> None:
        import psutil

        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        items = set()
        for child in children:
            if child.pid == self._process.pid:
                continue
            try:
                items.add((child.pid, child.create_time()))
            except psutil.Error:
                pass
        new = items - self._seen
        if new and self._process.stdin is not None:
            try:
                self._process.stdin.write(" ".join(f"{pid}:{started:.3f}" for pid, started in sorted(new)) + "\n")
                self._process.stdin.flush()
            except (OSError, ValueError):  # closed, or the watchdog is gone
                return
            self._seen |= new

    def close(self, wait: bool = True) -> None:
        """Let the watchdog stop what is left (after its grace time); ``wait`` for it."""
        self._closed.set()
        with self._lock:
            if self._process.stdin is not None:
                try:
                    self._process.stdin.close()
                except OSError:
                    pass
        if wait:
            try:
                self._process.wait(REAPER_GRACE_S + 10)
            except subprocess.TimeoutExpired:
                pass


def _frame_count(video: Path) -> int:
    import cv2

    import realtime.sources  # noqa: F401 - silences FFmpeg's own lines about broken files

    cap = cv2.VideoCapture(str(video))
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def run_batch(videos_dir: Path, out_dir: Path, options: BatchOptions, workers: int | None = None,
              address: str | None = None, echo=print) -> int:
    """Process every video not yet done; returns the exit code (0 all done, 1 any failed)."""
    videos = find_videos(videos_dir)
    check_writable(out_dir)
    names = output_names(videos)
    todo = [v for v in videos if not is_done(out_dir / names[v])]
    skipped = len(videos) - len(todo)
    if skipped:
        echo(f"{skipped} of {len(videos)} videos already done: skipped")
    if not todo:
        echo("nothing to do")
        return 0
    import ray
    from tqdm import tqdm

    from realtime.signals import StopSignals

    workers = workers or (None if address else os.cpu_count() or 1)
    reaper = RayReaper()  # first: whatever happens from here, the local Ray processes end with the batch
    # Ray's core installs a C-level SIGTERM handler that dumps a stack and aborts (before ray.init returns
    # and the stop handlers are claimed back); a stop is not a crash. Inherited by the local Ray
    # processes: their crash dumps (in Ray's log files, never shown here) go too.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        except SystemExit as exit_:  # ray.init's own SIGTERM handler (sys.exit(15)): a stop like the others
            if exit_.code != signal.SIGTERM or StopSignals.active is None:
                raise
            StopSignals.active.note(signal.SIGTERM)
            raise KeyboardInterrupt from None
        finally:
            if StopSignals.active is not None:
                StopSignals.active.claim()  # ray.init replaced the SIGTERM handler (Ray's core: a stack dump)
        workers = min(workers or int(ray.cluster_resources().get("CPU", 1)), len(todo))
        worker_cls = ray.remote(num_cpus=1, max_restarts=0)(VideoWorker)
        progress = ray.remote(num_cpus=0)(Progress).remote()
        pool = [worker_cls.remote(options) for _ in range(workers)]
        frames_total = sum(min(_frame_count(v), options.max_frames or 1 << 60) for v in todo)
        overall = tqdm(total=frames_total or None, desc="all videos", unit="frame", position=0, dynamic_ncols=True,
                       disable=None)  # bars on a terminal only; the per-video lines always
        bars: dict[str, tqdm] = {}
        queue = list(todo)
        running: dict = {}  # task -> (video, worker)
        free = list(pool)
        failed = 0
        started = time.perf_counter()
        counted: dict[str, int] = {}
        while queue or running:
            while queue and free:
                video, worker = queue.pop(0), free.pop(0)
                task = worker.run.remote(str(video), str(out_dir / names[video]), progress)
                running[task] = (video, worker)
                bars[video.name] = tqdm(total=_frame_count(video) or None, desc=video.name, unit="frame",
                                        position=len(bars) + 1, leave=False, dynamic_ncols=True, disable=None)
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for name, (count, _) in ray.get(progress.snapshot.remote()).items():
                if name in bars:
                    bars[name].update(count - bars[name].n)
                    overall.update(count - counted.get(name, 0))
                    counted[name] = count
            for task in done:
                video, worker = running.pop(task)
                try:
                    result = ray.get(task)
                except ray.exceptions.RayError as err:  # the worker process died
                    result = {"status": "failed", "video": str(video),
                              "error": f"worker crashed ({type(err).__name__})"}
                    worker = worker_cls.remote(options)
                bars.pop(video.name).close()
                free.append(worker)
                if result["status"] == "done":
                    overall.update(result["frames"] - counted.get(video.name, 0))
                    counted[video.name] = result["frames"]
                    fit = result.get("fit") or {}
                    tqdm.write(f"done {video.name}: {result['frames']} frames in {result['seconds']:.1f} s "
                               f"({result['frames'] / max(result['seconds'], 1e-9):.1f} frames/s); skeleton fit "
                               f"{fit.get('error_mm', float('nan')):.1f} mm")
                else:
                    failed += 1
                    tqdm.write(f"failed {video.name}: {result['error']}", file=sys.stderr)
        overall.close()
        elapsed = time.perf_counter() - started
        processed = sum(counted.values())
        echo(f"{len(todo) - failed} of {len(todo)} videos done, {failed} failed; {processed} frames in {elapsed:.1f} s "
             f"({processed / max(elapsed, 1e-9):.2f} frames/s with {workers} workers)")
        return 1 if failed else 0
    finally:
        from realtime.signals import deferred

        with deferred("stopping Ray", "a few seconds"):  # a second Ctrl+C does not cut the shutdown short
            reaper.note()
            try:
                ray.shutdown()
            finally:
                reaper.close()
