"""Run a recipe: the data builds and training stages of a set of weights, in order, resuming.

``python -m models.train --recipe recipes/hmdiff_anny.toml [--dry-run]``. A recipe is a TOML file::

    [recipe]
    name = "hmdiff_anny"

    [[step]]
    name = "data train60k"
    run = "python -m models.synth --out .cache/data/train60k --num 60000 --seed 0"
    done = ".cache/data/train60k/index.json"   # optional: the step is done when this path exists

    [[step]]
    name = "train cpu_v1"
    run = "python -m models.train --data .cache/data/train60k --out runs/cpu_v1 --preset cpu"
    resume = "--resume"                          # optional: appended when a started step runs again

A step without ``done`` is done when the runner's own marker exists: written in the state folder
(``runs/.recipe/NAME/``) once its command exited 0. A step is marked started before it runs; a
started, unfinished step runs again with its ``resume`` arguments. The first failing step stops
the recipe with its exit code. Commands run from the current folder; a leading ``python`` is this
interpreter. One line per step is printed: its number, ``done`` / ``run`` / ``resume``, the command.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

STATE_DIR = Path("runs/.recipe")


@dataclass(frozen=True)
class Step:
    index: int  # 1-based, in the recipe's order
    name: str
    run: str
    done: str | None = None
    resume: str | None = None

    @property
    def slug(self) -> str:
        return f"{self.index:02d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_")


def load_recipe(path: str | Path) -> tuple[str, list[Step]]:
    """The recipe's name and steps; ValueError (one line) for a file that is not a recipe."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"cannot read the recipe {path}: {err}") from None
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{path} has no [[step]]")
    out = []
    for i, step in enumerate(steps, 1):
        if not isinstance(step.get("run"), str) or not step["run"].strip():
            raise ValueError(f"{path}: step {i} has no run command")
        out.append(Step(i, str(step.get("name", f"step {i}")), step["run"], step.get("done"), step.get("resume")))
    return str(data.get("recipe", {}).get("name", path.stem)), out


def command(step: Step, resuming: bool) -> list[str]:
    """The step's argument list (a leading ``python`` is this interpreter; ``resume`` appended when resuming)."""
    args = shlex.split(step.run)
    if args and args[0] == "python":
        args[0] = sys.executable
    if resuming and step.resume:
        args += shlex.split(step.resume)
    return args


def run_recipe(path: str | Path, dry_run: bool = False, state_dir: str | Path | None = None,
               runner: Callable[[list[str]], int] | None = None, echo=print) -> int:
    """Run the steps not done yet, in order; returns 0, or the exit code of the first failing step."""
    name, steps = load_recipe(path)
    state = Path(state_dir) if state_dir is not None else STATE_DIR / name
    runner = runner or (lambda args: subprocess.run(args).returncode)
    for step in steps:
        marker = state / f"{step.slug}.done"
        started = state / f"{step.slug}.started"
        done = Path(step.done).exists() if step.done else marker.exists()
        resuming = not done and started.exists() and bool(step.resume)
        status = "done" if done else "resume" if resuming else "run"
        shown = step.run + (f" {step.resume}" if resuming else "")
        echo(f"[{step.index}/{len(steps)}] {status:6} {shown}")
        if done or dry_run:
            continue
        state.mkdir(parents=True, exist_ok=True)
        started.touch()
        code = runner(command(step, resuming))
        if code != 0:
            echo(f"step {step.index} ({step.name}) failed with exit code {code}; run the recipe again to resume")
            return code
        marker.touch()
    return 0
