"""The body's shape: the full mesh of the default body, of the shape estimated along a track and of
the true shape, against v20's blend of the coarse vertices; the estimate on real motion.

``python -m bench.shape [--people 16] [--frames 32] [--recovered-people 48] [--motion-people 30]
[--h36m-per-subject 8] [--estimator FILE]``

Synthetic people of known anny shape (``models.synth.shapes.sample_shapes``), each in ``--frames``
random poses (``models.synth.poses.sample_poses``) read as one track (the shape pooled by
``ShapeTrack`` frame after frame, the track's shape at each frame used for that frame's mesh):

- **exact**: the true coarse vertices and COCO-17 joints of anny's full mesh, and the same with
  independent Gaussian noise of ``--sigma`` (per coordinate) on every vertex and joint (the
  estimator is fitted on the network's output, not on these);
- **recovered**: HMDiff's own output, as a stream runs it, on simulated detections of the same
  kind of people (``tools.build_phenotype.recovered_bodies``; seeds apart from the training's).

Rows: v20's mesh (``CoarseMesh.upsample``), the shaped body of the default shape, of the
estimated (pooled) shape and of the true shape (an oracle: what a perfect estimate would give).
Columns: full-mesh MPVE after root alignment (pelvis: the Human3.6M-17 regressor's joint 0 of
each mesh, as ``models.evaluate``) and after Procrustes (similarity, over all vertices), mm. Then
the estimate's errors (mean |estimate - truth| of the track's shape at its last frame; gender on
adults aged 18 or more), the gender error against the frames pooled, and the shape's mean
frame-to-frame change (max over the 6 values) against the single frame's estimate's. Then the
cost per frame (batch 1, one thread, median ms).

**Synthetic motion**: ``--motion-people`` people, each moving through 3 windows of 100
consecutive frames of test-split mocap clips, as a video shows a person (poses that follow one
motion, not independent ones): the estimate pooled per clip, its error and how much one person's
estimates spread over their clips against how much the people's means spread.

**Real motion**: Human3.6M sequences (``--h36m``, exact 2D through the evaluation's COCO
definition map) through the shipped stream with ``--body-shape estimate``: the gender at each
sequence's end per actor, against the actors' sexes (the dataset's public subject list), and
the same spread within an actor against between actors (which needs no labels). ``--estimator
FILE`` measures another estimator (``tools/build_phenotype.py --out FILE``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from models.body import load_body_model
from models.body.anny_lbs import load_anny_lbs
from models.body.coarse import load_coarse_mesh
from models.body.joints import regressor
from models.body.phenotype import ShapeTrack, load_phenotype_estimator
from models.body_shape import DEFAULT_SHAPE, ESTIMATE
from models.body.shaped import ShapedUpsampler
from models.metrics import mpve, procrustes_align
from models.synth.anatomy import PoseSpace
from models.synth.poses import sample_poses
from models.synth.shapes import SHAPE_NAMES, sample_shapes, years_to_anny_age
from tools.build_phenotype import pooled_features, recovered_bodies, recovered_clips

SHARED = Path(__file__).resolve().parents[2] / "shared"  # the team's shared data, beside the repository


def exact_people(body, lbs, people: int, frames: int, seed: int) -> dict[str, torch.Tensor]:
    """People of one random shape each in ``frames`` random poses: anny's full meshes (canonical)."""
    rng = np.random.default_rng(seed)
    shape = torch.as_tensor(sample_shapes(people, rng)).repeat_interleave(frames, 0)
    pose = sample_poses(len(shape), rng, PoseSpace(lbs.skeleton())).pose.float()
    with torch.no_grad():
        full = torch.cat([body(pose=pose[i:i + 64], shape=shape[i:i + 64]).vertices for i in range(0, len(shape), 64)])
    return {"shape": shape, "full": full}


def pooled_shapes(estimator, coarse: torch.Tensor, joints: torch.Tensor, frames: int) -> torch.Tensor:
    """Each frame's shape along its person's track (a ShapeTrack reset per person)."""
    track, out = ShapeTrack(estimator), []
    for i in range(len(coarse)):
        if i % frames == 0:
            track.reset()
        out.append(torch.as_tensor(track.update(coarse[i], joints[i])))
    return torch.stack(out)


def frame_change(values: torch.Tensor, frames: int, later: bool = False) -> float:
    """Mean over consecutive frames of one track (``later``: of its second half) of the largest
    absolute change of the 6 values."""
    v = values.view(-1, frames, values.shape[-1])
    step = (v[:, 1:] - v[:, :-1]).abs().amax(-1)
    return float((step[:, frames // 2:] if later else step).mean())


def section(name: str, full_gt, coarse, joints, shape, frames, estimator, upsampler, coarse_mesh, h36m) -> list[str]:
    estimates = estimator.estimate(coarse, joints)
    pooled = pooled_shapes(estimator, coarse, joints, frames)
    rows = {"blend of the coarse vertices (v20)": coarse_mesh.upsample(coarse),
            "shaped, the default body": upsampler(coarse, torch.tensor([DEFAULT_SHAPE])),
            "shaped, estimated (--body-shape estimate)": upsampler(coarse, pooled),
            "shaped, true shape (oracle)": upsampler(coarse, shape)}
    adult = shape[:, 1] >= float(years_to_anny_age(np.array(18.0)))
    last = torch.arange(len(shape)) % frames == frames - 1
    err = (pooled - shape).abs()
    by_frames = ", ".join(f"{n}: {err[(torch.arange(len(shape)) % frames == n - 1) & adult, 0].mean():.3f}"
                          for n in (1, 2, 4, 8, 16, 32, 64) if n <= frames)
    lines = [f"{name}: {len(shape)} frames, {len(shape) // frames} people; the track's shape after {frames} frames, "
             f"error: gender (adults) {err[last & adult, 0].mean():.3f}, age {err[last, 1].mean():.3f}, "
             f"muscle {err[last, 2].mean():.3f}, weight {err[last, 3].mean():.3f}, height {err[last, 4].mean():.3f}, "
             f"proportions {err[last, 5].mean():.3f} (predicting the mean: gender "
             f"{(shape[adult, 0] - shape[:, 0].mean()).abs().mean():.3f}, height "
             f"{(shape[:, 4] - shape[:, 4].mean()).abs().mean():.3f}); the sex right (adults) "
             f"{((pooled[:, 0] > 0.5) == (shape[:, 0] > 0.5))[last & adult].float().mean():.0%}",
             f"  gender error (adults) after N frames: {by_frames}",
             f"  frame-to-frame change: the track's shape {frame_change(pooled, frames):.4f} (second half "
             f"{frame_change(pooled, frames, True):.4f}), the single frame's estimate {frame_change(estimates, frames):.4f}",
             f"  {'mesh':42s} {'MPVE mm':>8} {'PA-MPVE mm':>11}"]
    gt_root = (h36m @ full_gt)[:, 0]
    for label, full in rows.items():
        root = mpve(full, full_gt, (h36m @ full)[:, 0], gt_root).mean()
        pa = (procrustes_align(full, full_gt) - full_gt).norm(dim=-1).mean() * 1000
        lines.append(f"  {label:42s} {root:8.1f} {pa:11.1f}")
    return lines


def motion_section(estimator, lbs, people: int, seed: int, clips: int = 3, frames: int = 100) -> list[str]:
    """Synthetic people each moving through ``clips`` windows of ``frames`` consecutive frames of
    mocap clips of the test split (``tools.build_phenotype.recovered_clips``), as a video shows
    them: the estimate pooled over each clip; its error and its spread within a person."""
    shapes = torch.as_tensor(sample_shapes(people, np.random.default_rng(seed)))
    estimates = []
    for k in range(clips):
        pooled, _ = pooled_features(recovered_clips(lbs, people, frames, 1, seed + 1 + k, "test", shapes=shapes),
                                    estimator.pairs)
        estimates.append(estimator(pooled).numpy())
    est, truth = np.stack(estimates, 1), shapes.numpy()  # (people, clips, 6), (people, 6)
    adult = truth[:, 1] >= years_to_anny_age(np.array(18.0))
    err = np.abs(est - truth[:, None])
    right = ((est[adult, :, 0] > 0.5) == (truth[adult, None, 0] > 0.5)).mean()
    return [f"HMDiff's recovery of synthetic people in mocap motion ({people} people x {clips} test-split clips of "
            f"{frames} frames, pooled per clip): gender error (adults) {err[adult, :, 0].mean():.3f}, the sex right "
            f"{right:.0%}, height error {err[:, :, 4].mean():.3f}; spread of one person's estimates over clips / of "
            f"the people's means: gender {est[:, :, 0].std(1).mean():.3f} / {est[:, :, 0].mean(1).std():.3f}, "
            f"height {est[:, :, 4].std(1).mean():.3f} / {est[:, :, 4].mean(1).std():.3f}"]


# Human3.6M's actors by sex (the dataset's public subject list; our shared copy carries no labels).
H36M_SEX = {"S1": "female", "S5": "female", "S6": "male", "S7": "female", "S8": "male"}


def h36m_section(model, estimator, body, path: Path, per_subject: int) -> list[str]:
    """Real motion: each Human3.6M sequence (exact 2D, 200 frames) through the shipped stream with
    the shape estimated by ``estimator``; the track's shape at its end, per subject (S8 is the
    report split)."""
    from models.body.joints import fit_definition_map
    from models.evaluate.track import load_sequences, sequence_inputs
    from models.stream import StreamRecovery, StreamSettings

    definition_map = fit_definition_map(body)
    stream = StreamRecovery(model, StreamSettings(shape=ESTIMATE))
    stream.shape_track = ShapeTrack(estimator)
    per_actor = []
    lines = [f"Human3.6M sequences through the stream (exact 2D, {per_subject} per subject): the track's "
             "estimate at the last frame (anny: gender 0 male, 1 female)"]
    for subject, sex in H36M_SEX.items():
        changes, estimates = [], []
        for sequence in load_sequences(path, (subject,), per_subject):
            prior, keypoints, confidence = sequence_inputs(sequence, definition_map, None, np.random.default_rng(0))
            stream.reset()  # a new track
            shapes = np.stack([stream(prior.index(i), keypoints[i], confidence[i], t=i / sequence["fps"]).shape
                               for i in range(len(keypoints))])
            estimates.append(shapes[-1])
            changes.append(float(np.abs(np.diff(shapes[len(shapes) // 2:], axis=0)).max(1).mean()))
        estimates = np.stack(estimates)
        genders = estimates[:, 0]
        right = np.mean((genders > 0.5) == (sex == "female"))
        lines.append(f"  {subject} ({sex:6s}): gender {genders.mean():.2f} (min {genders.min():.2f}, max "
                     f"{genders.max():.2f}), the sex right in {right:.0%} of {len(genders)}; height "
                     f"{estimates[:, 4].mean():.2f}; frame-to-frame change in the second half {np.mean(changes):.4f}")
        per_actor.append(estimates)
    within = np.mean([e.std(0) for e in per_actor], 0)
    between = np.std([e.mean(0) for e in per_actor], 0)
    lines.append("  spread of one actor's estimates over sequences / of the actors' means: " + ", ".join(
        f"{name} {w:.3f} / {b:.3f}" for name, w, b in zip(SHAPE_NAMES, within, between)))
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
    parser.add_argument("--frames", type=int, default=32, help="poses per person (one track)")
    parser.add_argument("--sigma", type=float, default=0.025, help="vertex/joint noise std, metres per coordinate")
    parser.add_argument("--recovered-people", type=int, default=48, help="0: skip the recovered section")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--h36m", type=Path, default=SHARED / "data" / "real" / "h36m_lift_seq",
                        help="Human3.6M tracking set for the real-motion section")
    parser.add_argument("--h36m-per-subject", type=int, default=8, help="sequences per subject (0: skip)")
    parser.add_argument("--motion-people", type=int, default=30,
                        help="people in the synthetic-motion section (3 clips each; 0: skip)")
    parser.add_argument("--estimator", type=Path, help="another phenotype estimator file (default: the shipped one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    body, lbs = load_body_model("anny"), load_anny_lbs()
    coarse_mesh, estimator = load_coarse_mesh("anny", 256), load_phenotype_estimator(args.estimator)
    upsampler = ShapedUpsampler(coarse_mesh, lbs)
    h36m, coco = regressor(body, "h36m17"), regressor(body, "coco17")
    common = dict(estimator=estimator, upsampler=upsampler, coarse_mesh=coarse_mesh, h36m=h36m)
    lines = [f"shaped upsampler: groups={'bones' if upsampler.blend is not None else 'geodesic'}, "
             f"beta={upsampler.beta}; torch threads {torch.get_num_threads()}"]

    # Cost first: measured later (after HMDiff and anny ran) the same calls read 20-60x slower here.
    one_c = lbs.rest_coarse(torch.full((1, 6), 0.4)) + 0.01
    one_j = torch.zeros(1, 17, 3)
    track = ShapeTrack(estimator)
    shape = torch.as_tensor(track.update(one_c, one_j))[None]
    upsampler(one_c, shape)  # the template cached, as along a track
    costs = {
        "today: upsample": median_ms(lambda: coarse_mesh.upsample(one_c)),
        "ShapeTrack.update (proportions, pooling, estimate)": median_ms(lambda: track.update(one_c, one_j)),
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

    if args.motion_people:
        lines += motion_section(estimator, lbs, args.motion_people, args.seed + 7)
    if args.h36m_per_subject:
        from models.hmdiff import load_hmdiff

        lines += h36m_section(load_hmdiff().eval(), estimator, body, args.h36m, args.h36m_per_subject)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
