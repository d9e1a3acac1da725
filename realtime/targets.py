"""Output paths, checked before anything heavy starts (a light module: no numpy, no OpenCV).

:func:`check_targets` refuses an output that is an input or another output, a file output that is
a folder, a ``.parts`` folder left by a killed run (see ``realtime.outputs``) and a folder where
no file can be created, each with one line.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

PARTS_SUFFIX = ".parts"
MESH_FILE = re.compile(r"frame_\d+\.ply|\.frame_\d+\.ply\.tmp")  # what --save-meshes writes in its folder


class OutputError(RuntimeError):
    """An output could not be written; the message is one line for the user."""


def parts_folder(target: Path) -> Path:
    """The folder where output ``target`` is written while the run goes (``X`` → ``X.parts``)."""
    target = Path(target)
    if not target.name:  # "." or "/": name it
        target = output_path(target)
    return target.with_name(target.name + PARTS_SUFFIX)


def finish_hint(folder: Path, command: bool = True) -> str:
    """Where a run's frames are kept; with ``command``, how to finish them (not said by the finisher itself)."""
    if not command:
        return f"its frames are kept in {folder}"
    return f"its frames are kept in {folder} (python -m realtime.outputs {folder} finishes it)"


def output_path(path: Path) -> Path:
    """``path`` made absolute without resolving links: ``.`` and ``dir/`` get a name for their ``.parts``."""
    return Path(os.path.abspath(path))


def mesh_folder_problem(folder: Path, flag: str = "--save-meshes") -> str | None:
    """Why ``folder`` cannot take a run's meshes (None if it can): it may be new, empty, or hold an
    earlier run's meshes only (``frame_NNNNNN.ply``, replaced whole by a complete new set); anything
    else in it would be lost, so it is refused."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{flag}: not a folder: {folder}"
    try:
        others = sorted(p.name for p in folder.iterdir() if not MESH_FILE.fullmatch(p.name))
    except OSError as err:
        return f"{flag}: cannot list {folder}: {err.strerror or err}"
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        return (f"{flag} {folder} holds files that are not an earlier run's meshes ({shown}): the folder is "
                f"replaced whole, so give a new or empty one")
    return None


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (symlinks and hard links included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _probe_writable(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (None if they can): tries one."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".hmdiff-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def check_targets(outputs: dict[str, Path | None], inputs: dict[str, Path | None],
                  folders: tuple[str, ...] = ()) -> None:
    """Refuse, with one line (:class:`OutputError`), outputs that would destroy or collide.

    ``outputs`` and ``inputs`` map a flag (``--record``) to its path (None: not given);
    ``folders`` names the output flags that are folders (``--save-meshes``). An output may not be
    an input, another output or another output's ``.parts`` folder; a file output may not be an
    existing folder; a ``.parts`` folder left by a killed run must be finished or removed first;
    every output's folder must accept a new file (tried, not guessed).
    """
    given = {flag: Path(path) for flag, path in outputs.items() if path is not None}
    sources = {flag: Path(path) for flag, path in inputs.items() if path is not None}
    for flag, path in given.items():
        for other, source in sources.items():
            if _same(path, source):
                raise OutputError(f"{flag} {path} is the input ({other}): refusing to overwrite it")
        for other, taken in given.items():
            if other != flag and (_same(path, taken) or _same(path, parts_folder(taken))):
                raise OutputError(f"{flag} {path} is also {other}: give each output its own path")
        if flag in folders:  # written into its .parts folder beside it, then put in its place
            problem = mesh_folder_problem(path, flag)
            if problem:
                raise OutputError(problem)
            path = output_path(path)
            probe_in = path.parent
            while not probe_in.exists():
                probe_in = probe_in.parent
        else:
            if path.is_dir():
                raise OutputError(f"{flag} {path} is a folder, not a file")
            probe_in = path.parent
        leftover = parts_folder(path)
        if leftover.exists():
            raise OutputError(f"{flag}: {leftover} is left from a run that was killed: finish it with "
                              f"python -m realtime.outputs {leftover}, or remove it")
        problem = _probe_writable(probe_in)
        if problem:
            raise OutputError(f"{flag}: cannot write in {probe_in.resolve()}: {problem}")
