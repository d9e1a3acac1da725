"""Evaluate HMDiff: ``python -m models.evaluate [--test DIR] [--rendered DIR] [--real DIR] [--lift DIR] [--ablation]``.

Metrics in mm: MPJPE (root-aligned) and PA-MPJPE on Human3.6M-17 and LSP-14 joints regressed from
the full mesh, and MPVE, printed as a table and written as JSON (``--json``). Sections, each a
module of ``models.evaluate`` with its own arguments:
1. ``--test``: a held-out synthetic test set with its stored detector-like corruption, split easy / occluded;
2. ``--rendered``: rendered frames run end to end through MediaPipe (image → landmarks → prior → mesh);
3. ``--lift``: real poses from their exact 2D projections (``shared/data/real/h36m_lift``, evaluation
   only), a COCO-17 prior with the eyes and ears missing (confidence 0 at (0, 0));
4. ``--real``: real frames in the generic format of ``models.evaluate.realsets`` (e.g. Human3.6M),
   beside MediaPipe's own 3D world landmarks on the 12 limb joints;
5. ``--warmstart``: warm start vs cold start on synthetic sequences (jitter and steps per frame);
6. ``--track``: the stream's settings on real motion (``shared/data/real/h36m_lift_seq``, evaluation
   only), frame by frame through ``models.stream.StreamRecovery``: PA-MPJPE, acceleration error,
   jitter and lag, beside the photo setting on the same frames (``models.evaluate.track``).
The main variant is run_live.py's setting for a photo: 2 DDIM steps with DAT, the mean of 8
hypotheses, half of them on the mirrored image (``--steps``, ``--hypotheses``, ``--no-mirror``).
``--ablation`` adds, each like the main variant but for one change: on the synthetic set one-shot
regression, no DAT, DAT without the activation strategy, DDIM steps 1/2/5/10/25, the other number
of hypotheses (1, or 8), no mirroring and DAT on the uncorrupted 2D keypoints (an oracle: how much
of the error the detector's noise causes); on the sets through MediaPipe no DAT, no 3D prior
anywhere, DAT with or without the 3D prior's pull, 5 steps, the other number of hypotheses and no
mirroring; on ``--lift`` the same but for the 3D prior's rows (it has none).

A new section is one module with ``add_arguments(parser)`` and ``run(args, model, judge,
main_variant) -> dict | None`` (None: not asked for), and one entry in :data:`SECTIONS`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from models.body import load_body_model
from models.evaluate import lift, real, rendered, synthetic, track, warmstart
from models.evaluate.judge import PHOTO_HYPOTHESES, PHOTO_MIRROR, PHOTO_STEPS, Judge, Variant
from models.hmdiff import CheckpointError, load_hmdiff

# The sections in the order they run; each one's result goes to the JSON under its key.
SECTIONS = {"synthetic": synthetic, "rendered": rendered, "lift": lift, "real": real, "warmstart": warmstart,
            "track": track}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    for section in SECTIONS.values():
        section.add_arguments(parser)
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--steps", type=int, default=PHOTO_STEPS, help=f"DDIM steps from noise ({PHOTO_STEPS})")
    parser.add_argument("--hypotheses", type=int, default=PHOTO_HYPOTHESES,
                        help=f"samples averaged per frame ({PHOTO_HYPOTHESES})")
    parser.add_argument("--no-mirror", action="store_true", help="no test-time mirroring of half the hypotheses")
    parser.add_argument("--backend", default="auto", help="denoiser backend (models/hmdiff/backends.py)")
    parser.add_argument("--json", help="write the results here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.manual_seed(0)
    try:
        model = load_hmdiff(args.weights)
        model.use_backend(args.backend)
        judge = Judge(load_body_model("anny"))
        mirror = PHOTO_MIRROR and not args.no_mirror and args.hypotheses % 2 == 0
        main_variant = Variant(f"diffusion + DAT ({args.steps} steps, {args.hypotheses} hypotheses"
                               f"{', half mirrored' if mirror else ''})", steps=args.steps,
                               dat=model.config.dat, hypotheses=args.hypotheses, mirror=mirror)
        results: dict = {"weights": str(args.weights or "shipped")}
        for key, section in SECTIONS.items():
            result = section.run(args, model, judge, main_variant)
            if result is not None:
                results[key] = result
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0
