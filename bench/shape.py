"""The body's shape: today's upsampler (an average body) against the shaped one, on synthetic people.

``python -m bench.shape [--people 16] [--frames 8] [--recovered-people 24] [--seed 1234]``

Synthetic people of known anny shape (``models.synth.shapes.sample_shapes``), each in ``--frames``
random poses (``models.synth.poses.sample_poses``) read as one track (the shape pooled by
``ShapeTrack`` frame after frame, the pooled value at each frame used for that frame's mesh):

- **exact**: the true coarse vertices and COCO-17 joints of anny's full mesh, and the same with
  independent Gaussian noise of ``--sigma`` (per coordinate) on every vertex and joint;
- **recovered**: HMDiff's own output (2 DDIM steps, one hypothesis) on simulated detections of the
  same kind of people (``tools.build_phenotype.recovered_bodies``; seeds apart from the training's).

Rows: today (``CoarseMesh.upsample``), the shaped upsampler with the estimated (pooled) shape, with
the true shape (an oracle: what a perfect estimate would give) and with the average shape.
Columns: full-mesh MPVE after root alignment (pelvis: the Human3.6M-17 regressor's joint 0 of
each mesh, as ``models.evaluate``) and after Procrustes (similarity, over all vertices), mm; the
phenotype errors (mean |estimate - truth| of the pooled shape; gender on adults aged 18 or more);
the pooled shape's mean frame-to-frame change (max over the 6 values) against the per-frame
estimate's. Then the cost per frame (batch 1, one thread, median ms).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.body import load_body_model
from models.body.anny_lbs import load_anny_lbs
from models.body.coarse import load_coarse_mesh
from models.body.joints import regressor
from models.body.phenotype import ShapeTrack, load_phenotype_estimator
from models.body.shaped import ShapedUpsampler
from models.metrics import mpve, procrustes_align
from models.synth.anatomy import PoseSpace
from models.synth.poses import sample_poses
from models.synth.shapes import sample_shapes, years_to_anny_age
from tools.build_phenotype import recovered_bodies


def exact_people(body, lbs, people: int, frames: int, seed: int) -> dict[str, torch.Tensor]:
    """People of one random shape each in ``frames`` random poses: anny's full meshes (canonical)."""
    rng = np.random.default_rng(seed)
    shape = torch.as_tensor(sample_shapes(people, rng)).repeat_interleave(frames, 0)
    pose = sample_poses(len(shape), rng, PoseSpace(lbs.skeleton())).pose.float()
    with torch.no_grad():
        full = torch.cat([body(pose=pose[i:i + 64], shape=shape[i:i + 64]).vertices for i in range(0, len(shape), 64)])
    return {"shape": shape, "full": full}


def pooled_shapes(estimates: torch.Tensor, frames: int) -> torch.Tensor:
    """Each frame's pooled shape along its person's track (a ShapeTrack reset per person)."""
    track, out = ShapeTrack(), []
    for i, estimate in enumerate(estimates):
        if i % frames == 0:
            track.reset()
        out.append(torch.as_tensor(track.update(estimate)))
    return torch.stack(out)


def frame_change(values: torch.Tensor, frames: int, later: bool = False) -> float:
    """Mean over consecutive frames of one track (``later``: of its second half) of the largest
    absolute change of the 6 values."""
    v = values.view(-1, frames, values.shape[-1])
    step = (v[:, 1:] - v[:, :-1]).abs().amax(-1)
    return float((step[:, frames // 2:] if later else step).mean())


def section(name: str, full_gt, coarse, joints, shape, frames, estimator, upsampler, coarse_mesh, h36m) -> list[str]:
    estimates = estimator(coarse, joints)
    pooled = pooled_shapes(estimates, frames)
    average = torch.full((1, 6), 0.5)
    rows = {"today (average-body upsample)": coarse_mesh.upsample(coarse),
            "shaped, estimated shape": upsampler(coarse, pooled),
            "shaped, true shape (oracle)": upsampler(coarse, shape),
            "shaped, average shape": upsampler(coarse, average)}
    adult = shape[:, 1] >= float(years_to_anny_age(np.array(18.0)))
    err = (pooled - shape).abs()
    lines = [f"{name}: {len(shape)} frames, {len(shape) // frames} people; pooled-shape error: gender (adults) "
             f"{err[adult, 0].mean():.3f}, age {err[:, 1].mean():.3f}, muscle {err[:, 2].mean():.3f}, "
             f"weight {err[:, 3].mean():.3f}, height {err[:, 4].mean():.3f}, proportions {err[:, 5].mean():.3f} "
             f"(predicting the mean: gender {(shape[adult, 0] - shape[:, 0].mean()).abs().mean():.3f}, "
             f"height {(shape[:, 4] - shape[:, 4].mean()).abs().mean():.3f}); frame-to-frame change: pooled "
             f"{frame_change(pooled, frames):.4f} (second half {frame_change(pooled, frames, True):.4f}), per-frame "
             f"estimate {frame_change(estimates, frames):.4f}",
             f"  {'mesh':32s} {'MPVE mm':>8} {'PA-MPVE mm':>11}"]
    gt_root = (h36m @ full_gt)[:, 0]
    for label, full in rows.items():
        root = mpve(full, full_gt, (h36m @ full)[:, 0], gt_root).mean()
        pa = (procrustes_align(full, full_gt) - full_gt).norm(dim=-1).mean() * 1000
        lines.append(f"  {label:32s} {root:8.1f} {pa:11.1f}")
    return lines


def median_ms(fn, repeats: int = 100) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16, help="poses per person (one track)")
    parser.add_argument("--sigma", type=float, default=0.025, help="vertex/joint noise std, metres per coordinate")
    parser.add_argument("--recovered-people", type=int, default=24, help="0: skip the recovered section")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    body, lbs = load_body_model("anny"), load_anny_lbs()
    coarse_mesh, estimator = load_coarse_mesh("anny", 256), load_phenotype_estimator()
    upsampler = ShapedUpsampler(coarse_mesh, lbs)
    h36m, coco = regressor(body, "h36m17"), regressor(body, "coco17")
    common = dict(estimator=estimator, upsampler=upsampler, coarse_mesh=coarse_mesh, h36m=h36m)
    lines = [f"shaped upsampler: groups={'bones' if upsampler.blend is not None else 'geodesic'}, "
             f"beta={upsampler.beta}; torch threads {torch.get_num_threads()}"]

    # Cost first: measured later (after HMDiff and anny ran) the same calls read 20-60x slower here.
    one_c = lbs.rest_coarse(torch.full((1, 6), 0.4)) + 0.01
    one_j = torch.zeros(1, 17, 3)
    shape = estimator(one_c, one_j)
    track = ShapeTrack()
    upsampler(one_c, shape)  # the template cached, as along a track
    costs = {
        "today: upsample": median_ms(lambda: coarse_mesh.upsample(one_c)),
        "phenotype estimate": median_ms(lambda: estimator(one_c, one_j)),
        "ShapeTrack.update": median_ms(lambda: track.update(shape[0])),
        "shaped upsample (template cached)": median_ms(lambda: upsampler(one_c, shape)),
        "template of a new shape (cache miss)": median_ms(lambda: (upsampler._cache.clear(), upsampler.template(shape)), 20),
    }
    lines.append("cost per frame, batch 1, ms (median of 100):")
    lines += [f"  {name:40s} {ms:7.3f}" for name, ms in costs.items()]

    data = exact_people(body, lbs, args.people, args.frames, args.seed)
    full = data["full"]
    gen = torch.Generator().manual_seed(args.seed)
    for sigma in (0.0, args.sigma):
        coarse = full[:, coarse_mesh.indices]
        joints = coco @ full
        coarse = coarse + sigma * torch.randn(coarse.shape, generator=gen)
        joints = joints + sigma * torch.randn(joints.shape, generator=gen)
        lines += section(f"exact coarse vertices, noise {100 * sigma:.1f} cm", full, coarse, joints, data["shape"],
                         args.frames, **common)

    if args.recovered_people:
        rec = recovered_bodies(lbs, args.recovered_people, args.frames, args.seed + 1)
        canon = torch.cat([body(pose=rec["pose"][i:i + 64], shape=rec["shape"][i:i + 64]).vertices
                           for i in range(0, len(rec["shape"]), 64)])
        gt = canon @ rec["rot"].transpose(1, 2) + rec["transl"][:, None]
        lines += section("HMDiff's recovery (simulated detections)", gt, rec["rec_coarse"], rec["rec_joints"],
                         rec["shape"], args.frames, **common)

    print("\n".join(lines))


if __name__ == "__main__":
    main()
