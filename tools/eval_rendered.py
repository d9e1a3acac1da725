"""The live pipeline judged on rendered sequences: ``python -m tools.eval_rendered --data DIR``.

DIR is a rendered sequence set (``python -m models.synth --kind sequence --split test --render``).
Each sequence's frames go through the same threads and stages as ``run_live.py`` (image source,
MediaPipe in tracking mode, heatmap prior, HMDiff, render sink) twice: warm-started (every frame
after the first continues from the previous mesh re-noised with fresh noise, ``--warm-steps``) and
cold as the shipped stream runs (every frame from the same noise, ``--cold-steps``). Prints PA-MPJPE / MPJPE (H36M-17 joints regressed from the full mesh,
mm) and the acceleration error (jitter, mm/frame²) against the exact ground truth, DDIM steps per
frame and frames with a person.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body import load_body_model  # noqa: E402
from models.body.joints import regressor  # noqa: E402
from models.metrics import accel_error, mpjpe, pa_mpjpe  # noqa: E402
from models.synth.dataset import load_dataset  # noqa: E402
from realtime.live import LiveRecovery, load_model  # noqa: E402
from realtime.options import DEFAULTS, LiveOptions  # noqa: E402
from realtime.pipeline import Pipeline  # noqa: E402
from realtime.sources import ImageFolderSource  # noqa: E402

COLD_STEPS = 10  # the cold-start reference of this evaluation (every frame from noise)


@dataclass
class SequenceRun:
    """One sequence through the pipeline: per-frame results (NaN / 0 where no person was found)."""

    vertices: np.ndarray  # (T, V, 3)
    steps: np.ndarray  # (T,) DDIM steps used
    found: np.ndarray  # (T,) bool


def run_sequence(images: list[Path], focal: float, model, options: LiveOptions, num_vertices: int) -> SequenceRun:
    """Run one sequence's frames (in order) through the live pipeline, frame-exact, tracked, with
    ``options`` and the sequence's exact focal length."""
    count = len(images)
    run = SequenceRun(np.full((count, num_vertices, 3), np.nan, np.float32), np.zeros(count, int),
                      np.zeros(count, bool))

    def sink(record) -> bool:
        if record.mesh is not None:
            i = record.frame.index
            run.vertices[i], run.steps[i], run.found[i] = record.mesh.vertices, record.mesh.steps_used, True
        return True

    with tempfile.TemporaryDirectory() as folder:
        for i, image in enumerate(images):  # one folder per sequence, in frame order
            (Path(folder) / f"{i:05d}{image.suffix}").symlink_to(image.resolve())
        with LiveRecovery(options.replace(focal_px=focal, static_image_mode=False), model=model) as live:
            Pipeline(ImageFolderSource(folder, independent=False).open(), live.stages(), sink).run()
    return run


def evaluate(data_dir: str | Path, model, cold_steps: int = COLD_STEPS, warm_steps: int = DEFAULTS.warm_steps,
             limit: int | None = None, hypotheses: int = DEFAULTS.hypotheses,
             smooth: bool = DEFAULTS.smooth) -> dict[str, dict[str, float]]:
    """Warm and cold runs of every sequence (up to ``limit``); scores over frames with a person.

    With ``hypotheses`` > 1 each frame's mesh is the mean of that many samples; ``smooth``: the One
    Euro filter on the output (run_live.py ``--smooth``)."""
    data = load_dataset(data_dir, keys=["joints_h36m17", "focal", "image_paths"])
    body = load_body_model("anny")
    h36m = regressor(body, "h36m17")
    sequences = range(len(data["focal"]) if limit is None else min(limit, len(data["focal"])))
    results = {}
    for mode, warm in (("warm", True), ("cold", False)):
        pred, gt, steps, found, accel = [], [], [], [], []
        for s in sequences:
            images = [Path(p) for p in data["image_paths"][s]]
            options = DEFAULTS.replace(steps=cold_steps, warm_steps=warm_steps, warm_start=warm, hypotheses=hypotheses,
                                       smooth=smooth, fixed_noise=not warm)  # a warm start re-noises afresh
            run = run_sequence(images, float(data["focal"][s][0]), model, options, body.num_vertices)
            pred.append(torch.as_tensor(run.vertices[run.found]))
            gt.append(torch.as_tensor(data["joints_h36m17"][s][run.found]))
            steps.append(run.steps[run.found][1:])  # after each sequence's first (cold) frame
            found.append(run.found)
            sequence = h36m @ torch.as_tensor(np.nan_to_num(run.vertices))
            accel.append(accel_error(sequence, torch.as_tensor(data["joints_h36m17"][s]), torch.as_tensor(run.found)))
        joints = h36m @ torch.cat(pred)
        truth = torch.cat(gt)
        results[mode] = {
            "pa_mpjpe_h36m": round(float(pa_mpjpe(joints, truth).mean()), 1),
            "mpjpe_h36m": round(float(mpjpe(joints, truth, 0).mean()), 1),
            "accel_h36m": round(float(torch.cat(accel).mean()), 1),
            "steps_per_frame": round(float(np.concatenate(steps).mean()), 2),
            "frames_with_person": int(np.concatenate(found).sum()),
            "frames": int(sum(len(f) for f in found)),
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a rendered sequence set")
    parser.add_argument("--weights", help="HMDiff checkpoint (default: the shipped weights)")
    parser.add_argument("--backend", default=DEFAULTS.backend)
    parser.add_argument("--cold-steps", type=int, default=COLD_STEPS)
    parser.add_argument("--warm-steps", type=int, default=DEFAULTS.warm_steps)
    parser.add_argument("--hypotheses", type=int, default=DEFAULTS.hypotheses,
                        help=f"samples averaged per frame ({DEFAULTS.hypotheses})")
    parser.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=DEFAULTS.smooth,
                        help="One Euro filter on the output (run_live.py's --smooth/--no-smooth)")
    parser.add_argument("--limit", type=int, help="first N sequences only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    model = load_model(DEFAULTS.replace(weights=args.weights, backend=args.backend))
    results = evaluate(args.data, model, args.cold_steps, args.warm_steps, args.limit, args.hypotheses, args.smooth)
    print(f"warm start from step {model.config.warm_step}: {args.warm_steps} steps; cold: {args.cold_steps} steps; "
          f"{args.hypotheses} hypotheses a frame{'; One Euro smoothing' if args.smooth else ''}")
    print("| start | PA-MPJPE H36M mm | MPJPE H36M mm | acceleration error mm/frame² | DDIM steps per frame "
          "(after the first) | frames with a person |")
    print("|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {r['pa_mpjpe_h36m']} | {r['mpjpe_h36m']} | {r['accel_h36m']} | {r['steps_per_frame']} | "
              f"{r['frames_with_person']} / {r['frames']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
