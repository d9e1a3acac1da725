"""Build, check or compare the compact LBS export of anny (``models/assets/anny_lbs_256.npz``):

    python tools/build_anny_lbs.py [--build] [--check] [--compare-shape-models] [--num 1024]

The library is ``models.body.anny_lbs`` (its docstring has the measured errors).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body.anny_lbs import (build_anny_lbs, check_against_anny, compare_shape_models, lbs_path,  # noqa: E402
                                   load_anny_lbs, save_anny_lbs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="(re)build and store the export from anny")
    parser.add_argument("--check", action="store_true", help="errors against anny's full forward")
    parser.add_argument("--compare-shape-models", action="store_true", help="shape bank / affine basis errors")
    parser.add_argument("--num", type=int, default=1024)
    args = parser.parse_args(argv)
    path = lbs_path()
    if args.build:
        save_anny_lbs(build_anny_lbs(), path)
    lbs = load_anny_lbs()
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {lbs.num_coarse} coarse vertices, {lbs.num_bones} bones, "
          f"{lbs.num_pairs} joint-bone pairs, {lbs.num_shape_coeffs} shape coefficients")
    if args.check:
        for name, row in check_against_anny(lbs, num=args.num).items():
            print(f"{name}: mean {row['mean']:.4f} p95 {row['p95']:.4f} max {row['max']:.4f} mm")
    if args.compare_shape_models:
        for name, row in compare_shape_models(lbs).items():
            print(f"{name}: mean {row['mean']:.2f} p95 {row['p95']:.2f} max {row['max']:.2f} mm")



if __name__ == "__main__":
    main()
