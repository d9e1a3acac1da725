"""``hmdiff-finish X.parts ...`` (or ``python -m realtime.outputs X.parts ...``): finish the outputs
a killed run left in ``.parts`` folders."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from realtime.outputs import finish
from realtime.targets import OutputError


def main(argv: list[str] | None = None) -> int:
    """``python -m realtime.outputs X.parts ...``: finish the outputs a killed run left."""
    parser = argparse.ArgumentParser(prog="python -m realtime.outputs",
                                     description="Finish the outputs a killed run left in .parts folders.")
    parser.add_argument("folders", nargs="+", type=Path, metavar="X.parts")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")  # e.g. a corrupt segment left out
    status = 0
    for folder in args.folders:
        try:
            target, frames = finish(folder, hint=False)  # no "run this command" from it
        except OutputError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
            continue
        print(f"{folder}: no frame to write" if frames is None else f"wrote {target} ({frames} frames)")
    return status
