"""realtime.signals: what a stop signal does inside a held (deferred) block."""
from __future__ import annotations

import os
import signal

import pytest

from realtime.signals import StopSignals, deferred


def test_held_start_up_stops_at_its_end(capsys):
    """Start-up (stop_after): the signal waits for the block's end, then stops the run there."""
    with StopSignals() as stops:
        reached_end_of_block = False
        with pytest.raises(KeyboardInterrupt):
            with deferred("starting", "soon", stop_after=True):
                os.kill(os.getpid(), signal.SIGTERM)
                reached_end_of_block = True
        assert reached_end_of_block
    assert stops.exit_code(0) == 143
    assert "starting: please wait (soon)" in capsys.readouterr().err


def test_held_finalisation_only_sets_the_exit_code():
    """Finalisation: the run is ending anyway, so the signal only decides the exit code."""
    with StopSignals() as stops:
        with deferred("finishing the outputs"):
            os.kill(os.getpid(), signal.SIGTERM)
        assert stops.exit_code(0) == 143
