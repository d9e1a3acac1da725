"""Stop signals: SIGTERM and SIGHUP end a run the way Ctrl+C does, and finalisation is not cut short.

``kill``, ``timeout``, ``docker stop`` (SIGTERM) and closing the terminal (SIGHUP) go through
whatever SIGINT does at that moment (:class:`StopSignals`): during a pipeline run, stop and drain
(a second one aborts the drain); before it, ``KeyboardInterrupt``. The run then exits with
128 + the signal number (130, 143, 129), like a shell reports a process the signal ended.

While outputs are being finalised (:func:`deferred`), SIGINT, SIGTERM and SIGHUP are noted and
acted on only once every output is complete: a second Ctrl+C cannot leave half-written files
behind. Only SIGKILL stops finalisation; what it leaves is described in the README.
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import ClassVar

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _say(text: str) -> None:
    """One line on stderr; a terminal that is gone (SIGHUP) is not an error."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class StopSignals:
    """For the length of a ``with`` block (main thread): SIGTERM / SIGHUP do what SIGINT does then,
    and the first stop signal received decides :meth:`exit_code`. A SIGINT that was ignored (a
    background job's, inherited) raises ``KeyboardInterrupt`` too: ``kill -INT`` stops a run at
    any moment, as it does during the pipeline."""

    active: ClassVar["StopSignals | None"] = None

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if _main_thread():
            if not callable(signal.getsignal(signal.SIGINT)):  # ignored (a background job's): still a stop
                self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig in STOP_SIGNALS[1:]:
                self._previous[sig] = signal.signal(sig, self._forward)
            StopSignals.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        if StopSignals.active is self:
            StopSignals.active = None

    def claim(self) -> None:
        """Install the forwarders again (a library, e.g. Ray's core worker, replaced them at C level)."""
        if _main_thread() and StopSignals.active is self:
            if signal.SIGINT in self._previous or not callable(signal.getsignal(signal.SIGINT)):
                signal.signal(signal.SIGINT, signal.default_int_handler)
            for sig in STOP_SIGNALS[1:]:
                signal.signal(sig, self._forward)

    def note(self, signum: int) -> None:
        if self.received is None:
            self.received = signum

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.note(signum)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)  # the pipeline's stop-and-drain, or KeyboardInterrupt
        else:  # SIGINT ignored or default: still a stop
            raise KeyboardInterrupt

    def exit_code(self, default: int) -> int:
        """128 + the first stop signal received, else ``default``."""
        return 128 + int(self.received) if self.received is not None else default


class deferred:
    """Context (or :meth:`begin` / :meth:`end`) during which stop signals wait (main thread only).

    Signals that arrive are noted, with one line saying what is being finished. On leaving, under
    a :class:`StopSignals` the first one only sets the exit code (the run is ending anyway), unless
    ``stop_after``: then, as outside a :class:`StopSignals`, it is delivered again to the handler
    in place before (``KeyboardInterrupt`` for SIGINT), so the run stops at this safe point. Nested
    uses are no-ops: the outermost one decides.
    """

    _depth: ClassVar[int] = 0

    def __init__(self, what: str = "finishing the outputs",
                 wait: str = "they are complete in a moment; kill -9 abandons them", stop_after: bool = False) -> None:
        self.what, self.wait, self.stop_after = what, wait, stop_after
        self.noted: list[int] = []
        self._previous: dict[int, object] = {}
        self._owner = False

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if not self.noted:
            _say(f"{self.what}: please wait ({self.wait})")
        self.noted.append(signum)
        if StopSignals.active is not None:
            StopSignals.active.note(signum)

    def begin(self) -> None:
        if self._owner or not _main_thread() or deferred._depth:
            return
        self._previous = {sig: signal.signal(sig, self._note) for sig in STOP_SIGNALS}
        self._owner = True
        deferred._depth += 1

    def end(self) -> None:
        if not self._owner:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._owner = False
        deferred._depth -= 1
        if self.noted and (self.stop_after or StopSignals.active is None):
            signal.raise_signal(self.noted[0])

    def __enter__(self) -> "deferred":
        self.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

