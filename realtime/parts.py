"""The ``.parts`` folder of a run output ``X`` (see :mod:`realtime.outputs`): its manifest, rows of
arrays flushed as numbered part files, and the finishing that turns the folder into ``X``.

Shared by the writers of :mod:`realtime.outputs` and :mod:`realtime.skeleton_export`; each writer
names the finisher of its kind (``PartsWriter.finishers``), :func:`realtime.outputs.finish` knows
them all (for ``python -m realtime.outputs X.parts``).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from realtime.targets import OutputError, finish_hint, parts_folder

log = logging.getLogger("realtime.outputs")

MANIFEST = "manifest.json"
FLUSH_ROWS = 30  # a part file every this many frames ...
FLUSH_S = 1.0  # ... or this many seconds, whichever comes first
Finisher = Callable[[Path, dict, Path], "int | None"]  # (folder, manifest, dst) -> frames written, None for none


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def start_folder(target: Path, manifest: dict) -> Path:
    """Create ``target``'s ``.parts`` folder with its manifest (fails if one exists)."""
    folder = parts_folder(target)
    try:
        folder.mkdir()
    except FileExistsError:
        raise OutputError(f"{folder} already exists (a run that was killed left it: finish it with "
                          f"python -m realtime.outputs {folder}, or remove it)") from None
    except OSError as err:
        raise OutputError(f"cannot create {folder}: {err.strerror or err}") from None
    write_json(folder / MANIFEST, {"format": 1, "target": target.name, **manifest})
    return folder


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part_*.npz"))


class Parts:
    """Rows of named fixed-shape arrays, flushed as numbered part files: each a complete .npz
    written under a temporary name and renamed, so a killed run leaves only whole parts."""

    def __init__(self, folder: Path, fields: dict[str, tuple[str, tuple[int, ...]]],
                 flush_rows: int = FLUSH_ROWS, flush_s: float = FLUSH_S) -> None:
        self.folder, self.flush_rows, self.flush_s = folder, flush_rows, flush_s
        self.fields = {k: (np.dtype(dtype), tuple(shape)) for k, (dtype, shape) in fields.items()}
        self._buffer: dict[str, list[np.ndarray]] = {k: [] for k in fields}
        self._buffered = 0
        self._flushed_at = time.monotonic()
        self.rows = 0
        self.parts = 0

    def append(self, row: dict[str, object]) -> None:
        for key, (dtype, shape) in self.fields.items():
            self._buffer[key].append(np.array(np.broadcast_to(np.asarray(row[key], dtype), shape)))
        self.rows += 1
        self._buffered += 1
        if self._buffered >= self.flush_rows or time.monotonic() - self._flushed_at >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._flushed_at = time.monotonic()
        if not self._buffered:
            return
        arrays = {k: np.stack(v) for k, v in self._buffer.items()}
        name = f"part_{self.parts:06d}.npz"
        tmp = self.folder / (name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, self.folder / name)
        self.parts += 1
        for rows in self._buffer.values():
            rows.clear()
        self._buffered = 0


def replace_output(new: Path, target: Path, folder: Path) -> None:
    """Put the complete output ``new`` (made inside the ``.parts`` ``folder``) in ``target``'s place.

    A file is renamed over the old one. A folder (``--save-meshes``) cannot be: the old one is first
    moved into ``folder`` (``replaced``), then ``new`` renamed into place, and ``folder`` removed
    afterwards with it. A kill in between leaves both in ``folder``; finishing it again completes the move.
    """
    if not new.is_dir():
        os.replace(new, target)
        return
    if target.is_dir() and not target.is_symlink():
        aside = folder / "replaced"
        shutil.rmtree(aside, ignore_errors=True)  # an even older one, from a finish cut short
        os.replace(target, aside)
    os.replace(new, target)


def finish(folder: Path, finishers: Mapping[str, Finisher], hint: bool = True) -> tuple[Path, int | None]:
    """Turn a ``.parts`` folder into its output (beside it) and remove the folder.

    Returns the output's path and its frame count, None when there was no frame to write (the
    output is then left as it was). On failure the folder is kept and :class:`OutputError` says
    why (with ``hint``, how to finish it later: not for the finisher's own command); a temporary
    file is always removed (a temporary folder holds frames: it stays in the kept folder).
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        finisher = finishers[manifest["kind"]]
    except (OSError, ValueError, KeyError) as err:
        raise OutputError(f"{folder} is not an output's .parts folder ({type(err).__name__}: {err})") from None
    target = folder.parent / manifest["target"]
    partial = folder / f"finishing{target.suffix}"
    try:
        frames = finisher(folder, manifest, partial)
        if frames is not None:
            replace_output(partial, target, folder)
    except Exception as err:  # noqa: BLE001 - one line; the parts stay
        why = str(err) if isinstance(err, OutputError) else f"{type(err).__name__}: {err}"
        raise OutputError(f"{target} not written ({why}); {finish_hint(folder, hint)}") from None
    finally:
        if not partial.is_dir():
            partial.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    return target, frames


class PartsWriter:
    """Base of the outputs written through a ``.parts`` folder: ``close`` finishes it."""

    path: Path
    folder: Path | None = None
    finishers: Mapping[str, Finisher] = {}  # kind -> finisher, of this writer's kinds
    written: bool | None = None  # after close: whether the output was written (None: not closed yet)
    quiet = False  # no warning when not written (set by Outputs for a run that reached no frame)
    says_why = False  # its finisher warns itself, with the reason, when it writes nothing

    def close(self) -> None:
        self._flush()
        if self.folder is None:
            return
        folder, self.folder = self.folder, None
        target, frames = finish(folder, self.finishers)
        self.written = frames is not None
        if frames is None and (self.quiet or self.says_why):
            pass
        elif frames is None and not target.exists():
            log.warning("%s not written: this run had nothing to write in it", target)
        elif frames is None:
            log.warning("%s not written: this run had nothing to write in it (the file there is an earlier "
                        "run's)", target)

    def _flush(self) -> None:
        """Write out what is buffered (subclasses)."""
