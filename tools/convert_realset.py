"""Convert an evaluation set to the generic format of ``models.evaluate.realsets``:

    python tools/convert_realset.py h36m SRC OUT            # ../shared/data/real/h36m -> frames for --real
    python tools/convert_realset.py synthetic-lift SRC OUT  # a synthetic set -> a lifting set for --lift
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evaluate.realsets import convert_h36m, lift_set_from_synthetic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert an evaluation set to the generic format (h36m: real "
                                                 "frames for --real; synthetic-lift: a synthetic set for --lift)")
    parser.add_argument("kind", choices=["h36m", "synthetic-lift"])
    parser.add_argument("src")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    try:
        if args.kind == "synthetic-lift":
            n = lift_set_from_synthetic(args.src, args.out)
        else:
            n = len(convert_h36m(args.src, args.out).imgname)
    except (OSError, KeyError, ValueError) as err:
        print(f"error: cannot convert {args.src}: {err}", file=sys.stderr)
        return 2
    print(f"wrote {n} {'poses' if args.kind == 'synthetic-lift' else 'frames'} to {args.out}/gt.npz")
    return 0



if __name__ == "__main__":
    sys.exit(main())
