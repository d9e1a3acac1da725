"""``python -m models.train --recipe``: steps in order, a dry run that runs nothing, resuming."""
from __future__ import annotations

import sys

from models.train import cli as train
from models.train.recipe import load_recipe, run_recipe

PY = 'python -c "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[-1])"'  # writes its last argument


def _recipe(tmp_path, fail_second: bool = False) -> str:
    a, b, c = (tmp_path / n for n in ("a.txt", "b.txt", "c.txt"))
    second = 'python -c "import sys; sys.exit(3)"' if fail_second else f"{PY} {b}"
    text = f"""[recipe]
name = "fake"

[[step]]
name = "first"
run = '{PY} {a}'
done = "{a}"

[[step]]
name = "second"
run = '{second}'
resume = "resumed"

[[step]]
name = "third"
run = '{PY} {c} done'
"""
    path = tmp_path / "fake.toml"
    path.write_text(text)
    return str(path)


def test_dry_run_prints_every_step_and_runs_nothing(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert train.main(["--recipe", recipe, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["[1/3]", "run"], ["[2/3]", "run"], ["[3/3]", "run"]]
    assert "a.txt" in lines[0] and "c.txt done" in lines[2]
    assert not list(tmp_path.glob("*.txt"))


def test_runs_in_order_and_resumes_where_it_stopped(tmp_path):
    state = tmp_path / "state"
    calls = []

    def runner(args):
        calls.append(args)
        import subprocess

        return subprocess.run(args).returncode

    assert run_recipe(_recipe(tmp_path, fail_second=True), state_dir=state, runner=runner, echo=lambda s: None) == 3
    assert (tmp_path / "a.txt").exists() and not (tmp_path / "c.txt").exists()
    assert calls[0][0] == sys.executable and len(calls) == 2
    calls.clear()
    log = []
    assert run_recipe(_recipe(tmp_path), state_dir=state, runner=runner, echo=log.append) == 0
    assert [line.split()[1] for line in log] == ["done", "resume", "run"]  # the first is not run again
    assert len(calls) == 2 and calls[0][-1] == "resumed"
    assert (tmp_path / "c.txt").read_text() == "done"
    log.clear()
    assert run_recipe(_recipe(tmp_path), state_dir=state, runner=runner, echo=log.append) == 0
    assert [line.split()[1] for line in log] == ["done", "done", "done"] and len(calls) == 2


def test_the_shipped_recipe_lists_every_stage_of_the_weights():
    import json
    from pathlib import Path

    name, steps = load_recipe("recipes/hmdiff_anny.toml")
    history = json.loads(Path("models/weights/hmdiff_anny.history.json").read_text())
    stages = {h["stage"] for h in history}
    outs = [s.run.split("--out ")[1].split()[0] for s in steps if "models.train" in s.run]
    assert name == "hmdiff_anny" and len(outs) == 21 and outs[-1] == "runs/v20"
    for stage in stages:  # every recorded stage names its run folder, and the recipe trains it
        assert any(f"({out}," in stage or f"({out}/run," in stage for out in outs), stage

