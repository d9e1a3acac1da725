"""The threaded pipeline: capture → stages (detect, prior, diffusion) → render (sink).

Capture and every stage run on their own thread, joined by small bounded queues. The sink (the
render stage: overlay, windows, outputs) runs on the calling thread, because GUI toolkits and
SIGINT both belong to the main thread. Live runs keep one slot per queue and drop the oldest
item (latest wins, counted); frame-exact runs block instead and drop nothing.

Stops: the source ends (an end marker flows through every stage), the sink returns False or
:meth:`Pipeline.stop` is called (q/Esc, window closed), SIGINT (Ctrl+C), or an exception in any
stage, which is raised as one :class:`PipelineError` once all threads are joined. Every stop
drains the frames already captured into the sink first (see :class:`Pipeline`).
"""
from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from realtime.record import FrameRecord
from realtime.sources import Source, SourceError

log = logging.getLogger(__name__)

Stage = Callable[[FrameRecord], None]
Sink = Callable[[FrameRecord], bool]  # False asks the pipeline to stop
END = object()  # end-of-stream marker, forwarded by every stage
POLL_S = 0.05  # how often blocked queue operations look at the stop event


class PipelineError(RuntimeError):
    """A stage failed; the message is one line for the user."""


class StageQueue:
    """A bounded queue whose operations give up when ``stop`` is set.

    With ``latest_wins`` a put into a full queue discards the oldest item (counted in
    ``dropped``) instead of waiting; the end marker always waits for room.
    """

    def __init__(self, maxsize: int, stop: threading.Event, latest_wins: bool) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = stop
        self.latest_wins = latest_wins
        self.dropped = 0

    def put(self, item: object) -> bool:
        """Enqueue ``item``; False if the pipeline stopped first."""
        replace = self.latest_wins and item is not END
        while not self._stop.is_set():
            try:
                self._queue.put(item, block=not replace, timeout=POLL_S)
                return True
            except queue.Full:
                if replace:
                    self._discard_oldest()
        return False

    def _discard_oldest(self) -> None:
        try:
            self._queue.get_nowait()  # never END: one producer per queue, and END comes last
            self.dropped += 1
        except queue.Empty:
            pass

    def get(self) -> object | None:
        """The next item, or None if the pipeline stopped first."""
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return None


@dataclass
class RunSummary:
    """What a run did."""

    frames: int  # frames that reached the sink
    captured: int  # frames read from the source
    dropped: int  # stale frames discarded by latest-wins queues
    skipped: int  # unreadable frames skipped by the source
    elapsed_s: float
    reason: str  # "end", "stopped" or "interrupted"


class Pipeline:
    """Run ``source`` through ``stages`` (name, fn) on threads and ``sink`` on this thread.

    A stop (:meth:`stop`, the sink returning False, Ctrl+C, a failure) first *drains*: capture
    ends and the end marker flushes every frame already captured through the remaining stages,
    so the sink still renders and writes them. A failed stage discards its input until the end
    marker. If draining takes longer than ``drain_timeout_s`` (or on a second Ctrl+C) the
    pipeline aborts: every queue gives up and in-flight frames are lost. The capture thread
    closes the source when it ends.
    """

    def __init__(
        self,
        source: Source,
        stages: Sequence[tuple[str, Stage]],
        sink: Sink,
        max_frames: int | None = None,
        queue_size: int = 2,
        drain_timeout_s: float = 5.0,
    ) -> None:
        self.source, self.stages, self.sink = source, list(stages), sink
        self.max_frames, self.drain_timeout_s = max_frames, drain_timeout_s
        self._closing = threading.Event()  # stop capturing, drain
        self._abort = threading.Event()  # give up on every queue now
        live = not source.frame_exact
        size = 1 if live else queue_size
        self.queues = [StageQueue(size, self._abort, live) for _ in range(len(self.stages) + 1)]
        self._lock = threading.RLock()  # stop() may run in a signal handler on a thread holding it
        self._error: str | None = None
        self._reason = "end"
        self._watchdog: threading.Timer | None = None
        self.captured = 0

    def stop(self, reason: str = "stopped") -> None:
        """Stop capturing and drain (safe from any thread and from a signal handler)."""
        with self._lock:
            if self._closing.is_set():
                return
            self._reason = reason
            self._closing.set()
            self._watchdog = threading.Timer(self.drain_timeout_s, self._abort.set)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _fail(self, stage: str, err: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = str(err) if isinstance(err, SourceError) else f"{stage} stage failed: {type(err).__name__}: {err}"
                log.debug("%s stage failed", stage, exc_info=err)
        self.stop("error")

    def _capture(self) -> None:
        out = self.queues[0]
        try:
            for frame in self.source.frames():
                record = FrameRecord(frame, stage_ms={"capture": frame.read_ms}, done_at={"capture": frame.timestamp})
                if self._closing.is_set() or not out.put(record):
                    break
                self.captured += 1
                if self.max_frames is not None and self.captured >= self.max_frames:
                    break
        except BaseException as err:  # noqa: BLE001 - any failure must stop the pipeline
            self._fail("capture", err)
        finally:
            self.source.close()
            out.put(END)

    def _run_stage(self, name: str, fn: Stage, inbox: StageQueue, out: StageQueue) -> None:
        failed = False
        while (item := inbox.get()) is not None:
            if item is END:
                out.put(END)
                return
            if failed:
                continue
            try:
                _timed(name, fn, item)
            except BaseException as err:  # noqa: BLE001
                self._fail(name, err)
                failed = True
                continue
            if not out.put(item):
                return

    def _render(self) -> int:
        """The sink loop on this thread, until the end marker; returns frames rendered."""
        frames, failed = 0, False
        while (item := self.queues[-1].get()) is not None and item is not END:
            if failed:
                continue
            try:
                if not _timed("render", self.sink, item):
                    self.stop()
                frames += 1
            except KeyboardInterrupt:  # a sink that raises it: same as Ctrl+C
                self.stop("interrupted")
            except BaseException as err:  # noqa: BLE001
                self._fail("render", err)
                failed = True
        return frames

    @contextmanager
    def _sigint_stops(self) -> Iterator[None]:
        """The first Ctrl+C stops and drains, a second one aborts (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: object) -> None:
            if self._closing.is_set():
                self._abort.set()
            self.stop("interrupted")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self) -> RunSummary:
        """Run to the end or a stop; raises :class:`PipelineError` if a stage failed."""
        threads = [threading.Thread(target=self._capture, name="capture", daemon=True)]
        for (name, fn), inbox, out in zip(self.stages, self.queues, self.queues[1:]):
            threads.append(threading.Thread(target=self._run_stage, args=(name, fn, inbox, out), name=name, daemon=True))
        start = time.perf_counter()
        with self._sigint_stops():
            for thread in threads:
                thread.start()
            try:
                frames = self._render()
            finally:
                self._abort.set()  # nothing is left to drain: release any blocked thread
                if self._watchdog is not None:
                    self._watchdog.cancel()
                deadline = time.perf_counter() + self.drain_timeout_s
                for thread in threads:
                    thread.join(max(0.0, deadline - time.perf_counter()))
                hanging = [t.name for t in threads if t.is_alive()]
                if hanging:
                    log.warning("threads still busy after the run: %s", ", ".join(hanging))
        if self._error is not None:
            raise PipelineError(self._error)
        return RunSummary(
            frames=frames,
            captured=self.captured,
            dropped=sum(q.dropped for q in self.queues),
            skipped=self.source.skipped,
            elapsed_s=time.perf_counter() - start,
            reason=self._reason,
        )


def _timed(name: str, fn: Callable[[FrameRecord], object], record: FrameRecord) -> object:
    """Call ``fn(record)`` and note its duration and finish time on the record."""
    t0 = time.perf_counter()
    result = fn(record)
    t1 = time.perf_counter()
    record.stage_ms[name] = (t1 - t0) * 1e3
    record.done_at[name] = t1
    return result
