"""Build the coarse mesh of anny and its upsampler (``models/assets/anny_coarse_256.npz``):

    python tools/build_coarse.py --build [--num-vertices 256]   # or --refit: the upsampler only

The library is ``models.body.coarse``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body import load_body_model  # noqa: E402
from models.body.coarse import build_coarse_mesh, coarse_path, load_coarse_mesh, save_coarse_mesh  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="(re)build and store the coarse mesh")
    parser.add_argument("--refit", action="store_true",
                        help="fit the upsampler again on the stored coarse vertices, in their order "
                             "(trained weights depend on both; farthest-point sampling can break ties "
                             "differently on another machine's anny build)")
    parser.add_argument("--num-vertices", type=int, default=256)
    args = parser.parse_args(argv)
    path = coarse_path("anny", args.num_vertices)
    if args.build or args.refit:
        keep = load_coarse_mesh("anny", args.num_vertices).indices.numpy() if args.refit else None
        save_coarse_mesh(build_coarse_mesh(load_body_model("anny"), args.num_vertices, indices=keep), path)
    mesh = load_coarse_mesh("anny", args.num_vertices)
    print(f"{path}: {mesh.num_vertices} coarse vertices, {len(mesh.faces)} faces, k={mesh.neighbors.shape[1]}")



if __name__ == "__main__":
    main()
