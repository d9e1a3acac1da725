"""Build anny's joint regressors (``models/assets/anny_regressors.npz``):

    python tools/build_regressors.py [--build | --recompose]

The library is ``models.body.joints``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body import load_body_model  # noqa: E402
from models.body.joints import (ANNY_REGRESSORS, JOINT_SETS, anny_regressors_from, build_anny_regressors,  # noqa: E402
                                regressor, save_anny_regressors, stored_anny_anchors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build models/assets/anny_regressors.npz")
    parser.add_argument("--build", action="store_true", help="fit every anchor again (minutes)")
    parser.add_argument("--recompose", action="store_true",
                        help="only re-derive the composed sets (h36m17, lsp14) from the stored anchors, "
                             "after a change of ANNY_H36M")
    args = parser.parse_args(argv)
    model = load_body_model("anny")
    if args.build or not ANNY_REGRESSORS.is_file():
        save_anny_regressors(build_anny_regressors(model))
    elif args.recompose:
        save_anny_regressors(anny_regressors_from(stored_anny_anchors(model)))
    for name in JOINT_SETS:
        matrix = regressor(model, name)
        print(f"{name}: {tuple(matrix.shape)}, {int((matrix != 0).sum())} non-zeros, "
              f"row sums {matrix.sum(1).min():.4f}..{matrix.sum(1).max():.4f}")



if __name__ == "__main__":
    main()
