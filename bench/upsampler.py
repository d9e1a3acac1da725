"""Upsampling error and speed of the coarse anny mesh on held-out bodies.

``python -m bench.upsampler [--num-vertices 128 256 512] [--bodies 256]``: vertex error
on random poses and shapes, and on CMU mocap poses of the test split; on the latter also the error
of the Human3.6M-17 joints regressed from the upsampled mesh (all, and the knees), which sit deep
in the mesh and weigh its small errors. Coarse meshes without a stored file are built in memory
(about 40 s each), not stored.
"""
from __future__ import annotations

import argparse
import time

import torch

from models.body.factory import load_body_model
from models.body.coarse import CoarseMesh, build_coarse_mesh, coarse_path, load_coarse_mesh
from models.body.joints import H36M17, regressor
from models.body.linear_fit import mocap_anny_bodies, random_anny_bodies

HELD_OUT_SEED = 1234  # the fits use seeds 0 and 1
KNEES = [H36M17.index("l_knee"), H36M17.index("r_knee")]


def upsampled(mesh: CoarseMesh, vertices: torch.Tensor) -> torch.Tensor:
    """``vertices`` (B, V, 3) through the coarse mesh: their coarse subset upsampled back."""
    with torch.no_grad():
        return mesh.upsample(mesh.downsample(vertices))


def p95(errors: torch.Tensor) -> float:
    """95th percentile of a flat tensor (the lower of the two values around it)."""
    return float(errors.sort().values[int(0.95 * (len(errors) - 1))])


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
    mocap = torch.cat([out.vertices for out in mocap_anny_bodies(model, args.bodies, HELD_OUT_SEED, split="test")])
    h36m = regressor(model, "h36m17")
    print(f"held-out: {args.bodies} random poses and shapes, {args.bodies} mocap poses (test split), "
          f"{vertices.shape[1]} vertices; torch threads {torch.get_num_threads()}")
    print(f"{'Vc':>5} {'mean mm':>8} {'p95 mm':>8} {'max mm':>8} {'mocap mean':>11} {'mocap p95':>10} "
          f"{'H36M-17 mm':>11} {'knees mm':>9} {'ms (B=1)':>9}")
    for num in args.num_vertices:
        stored = coarse_path("anny", num).is_file()
        mesh = load_coarse_mesh("anny", num) if stored else build_coarse_mesh(model, num)
        errors = 1000.0 * (upsampled(mesh, vertices) - vertices).norm(dim=-1).flatten()
        real_up = upsampled(mesh, mocap)
        real = 1000.0 * (real_up - mocap).norm(dim=-1).flatten()
        joints = 1000.0 * (h36m @ real_up - h36m @ mocap).norm(dim=-1)
        print(f"{num:>5} {errors.mean():8.2f} {p95(errors):8.2f} {errors.max():8.1f} {real.mean():11.2f} "
              f"{p95(real):10.2f} {joints.mean():11.1f} {joints[:, KNEES].mean():9.1f} {upsample_ms(mesh):9.3f}"
              + ("" if stored else "  (built, not stored)"))


if __name__ == "__main__":
    main()
