"""Upsampling error and speed of the coarse anny mesh on held-out random poses and shapes.

``python -m models.body.bench_upsampler [--num-vertices 128 256 512] [--bodies 256]``: coarse
meshes without a stored file are built in memory (about 40 s each), not stored.
"""
from __future__ import annotations

import argparse
import time

import torch

from models.body.base import load_body_model
from models.body.coarse import CoarseMesh, build_coarse_mesh, coarse_path, load_coarse_mesh
from models.body.linear_fit import random_anny_bodies

HELD_OUT_SEED = 1234  # the fits use seeds 0 and 1


def upsampling_errors(mesh: CoarseMesh, vertices: torch.Tensor) -> torch.Tensor:
    """Per-vertex error (B, V) in metres of upsampling the coarse subset of ``vertices``."""
    with torch.no_grad():
        return (mesh.upsample(mesh.downsample(vertices)) - vertices).norm(dim=-1)


def upsample_ms(mesh: CoarseMesh, repeats: int = 200) -> float:
    """Median time of one batch-1 upsample, milliseconds."""
    coarse = torch.randn(1, mesh.num_vertices, 3)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            mesh.upsample(coarse)
            times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-vertices", type=int, nargs="+", default=[256])
    parser.add_argument("--bodies", type=int, default=256, help="held-out random bodies")
    args = parser.parse_args()
    model = load_body_model("anny")
    vertices = torch.cat([out.vertices for out in random_anny_bodies(model, args.bodies, HELD_OUT_SEED)])
    print(f"held-out: {args.bodies} random poses and shapes, {vertices.shape[1]} vertices; "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'Vc':>5} {'mean mm':>8} {'p95 mm':>8} {'max mm':>8} {'ms (B=1)':>9}")
    for num in args.num_vertices:
        stored = coarse_path("anny", num).is_file()
        mesh = load_coarse_mesh("anny", num) if stored else build_coarse_mesh(model, num)
        errors = 1000.0 * upsampling_errors(mesh, vertices).flatten()
        p95 = errors.sort().values[int(0.95 * (len(errors) - 1))]
        print(f"{num:>5} {errors.mean():8.2f} {p95:8.2f} {errors.max():8.1f} {upsample_ms(mesh):9.3f}"
              + ("" if stored else "  (built, not stored)"))


if __name__ == "__main__":
    main()
