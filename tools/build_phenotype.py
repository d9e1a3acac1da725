"""Build ``models/assets/anny_phenotype.npz``, the phenotype estimator of ``models.body.phenotype``.

``python tools/build_phenotype.py [--bodies 2048] [--people 96] [--per-person 16] [--seed 0]``
(about 3 minutes on one busy CPU thread; anny itself is not needed, only its compact LBS export):

1. **Pairs**: ``--bodies`` random bodies (``models.synth.poses.sample_poses``,
   ``models.synth.shapes.sample_shapes``) posed and at zero pose; among coarse-vertex pairs closer
   than 35 cm on the average body at rest, the ``NUM_PAIRS`` with the largest ratio of their
   distance's spread over shapes (zero pose) to its change with the pose (+1 cm).
2. **Training samples**: those bodies' features three times, each with vertex and joint noise of
   a random std in [0, 3] cm; plus the recovery's own output (``models.hmdiff``, 2 DDIM steps, one
   hypothesis, on simulated detections: ``models.synth.corruption``) for ``--people`` people of
   ``--per-person`` random poses and cameras each, counted three times.
3. **Ridge regression** on standardised features (``--ridge`` times the sample count on the
   diagonal), phenotypes clamped to [0, 1] at use.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import roma
import torch

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body.anny_lbs import AnnyLBS, load_anny_lbs  # noqa: E402
from models.body.phenotype import JOINT_PAIRS, NUM_PAIRS, PHENOTYPE_PATH, body_lengths, save_phenotype_estimator  # noqa: E402
from models.synth.anatomy import PoseSpace  # noqa: E402
from models.synth.poses import sample_poses  # noqa: E402
from models.synth.shapes import SHAPE_NAMES, sample_shapes  # noqa: E402

PAIR_RADIUS = 0.35  # metres, at rest
POSE_SLACK = 0.01  # metres added to a pair's pose change in the selection ratio
MAX_NOISE = 0.03  # metres: training noise std drawn uniformly in [0, MAX_NOISE]


def lbs_bodies(lbs: AnnyLBS, n: int, seed: int, batch: int = 256) -> dict[str, torch.Tensor]:
    """``n`` random posed bodies and the same shapes at zero pose (canonical frame, coarse + COCO-17)."""
    rng = np.random.default_rng(seed)
    space = PoseSpace(lbs.skeleton())
    parts = []
    for start in range(0, n, batch):
        m = min(batch, n - start)
        shape = torch.as_tensor(sample_shapes(m, rng))
        pose = sample_poses(m, rng, space).pose.float()
        with torch.no_grad():
            posed, rest = lbs(pose, shape), lbs(torch.zeros_like(pose), shape)
        parts.append({"shape": shape, "pose": pose, "coarse": posed.coarse, "joints": posed.joints,
                      "rest_coarse": rest.coarse})
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def recovered_bodies(lbs: AnnyLBS, people: int, per_person: int, seed: int, model=None,
                     steps: int = 2) -> dict[str, torch.Tensor]:
    """HMDiff's recovery of ``people`` synthetic people (one random shape each) in ``per_person``
    random poses and cameras each, on simulated detections (as the training stream draws them).

    Returns the truth (``shape``, ``pose``, ``rot``/``transl``: canonical body -> camera, exact
    ``coarse``/``joints`` in the camera) and the recovery (``rec_coarse``, ``rec_joints``, camera
    frame), plus ``person`` (N,) ids; samples of one person are consecutive.
    """
    from models.hmdiff import load_hmdiff
    from models.prior import build_prior
    from models.camera import project
    from models.synth.camera import sample_cameras
    from models.synth.corruption import corrupt, simulate_world

    model = model or load_hmdiff()
    model.eval()
    space = PoseSpace(lbs.skeleton())
    rng = np.random.default_rng(seed)
    shapes = torch.as_tensor(sample_shapes(people, rng)).repeat_interleave(per_person, 0)
    parts = []
    for start in range(0, len(shapes), 64):
        shape = shapes[start:start + 64]
        poses = sample_poses(len(shape), rng, space)
        pose, orient = poses.pose.float(), poses.body_orient.float()
        with torch.no_grad():
            body = lbs(pose, shape)
        cams = sample_cameras(body.coarse, orient, rng)
        t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        focal, principal, size, transl = t(cams.focal), t(cams.principal), t(cams.image_size), t(cams.transl)
        rot = roma.rotvec_to_rotmat(t(cams.global_orient))
        coarse = body.coarse @ rot.transpose(1, 2) + transl[:, None]
        joints = body.joints @ rot.transpose(1, 2) + transl[:, None]
        gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        noisy = corrupt(project(joints, focal, principal), joints, focal, size, gen)
        world, confidence = simulate_world(joints - transl[:, None], gen)
        prior = build_prior(noisy.keypoints, noisy.confidence, focal, principal, size, world=world,
                            world_confidence=confidence)
        with torch.no_grad():
            rec = model.recover(prior, steps=steps, hypotheses=1, generator=gen)
        parts.append({"shape": shape, "pose": pose, "rot": rot, "transl": transl, "coarse": coarse, "joints": joints,
                      "rec_coarse": rec.coarse, "rec_joints": rec.joints})
    out = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    out["person"] = torch.arange(people).repeat_interleave(per_person)
    return out


def select_pairs(bodies: dict[str, torch.Tensor], num: int = NUM_PAIRS) -> torch.Tensor:
    """The ``num`` coarse-vertex pairs (num, 2) whose distance tells shapes apart best across poses."""
    rest = bodies["rest_coarse"]
    mean = rest.mean(0)
    i, j = torch.triu_indices(len(mean), len(mean), 1)
    near = (mean[i] - mean[j]).norm(dim=-1) < PAIR_RADIUS
    i, j = i[near], j[near]
    posed = (bodies["coarse"][:, i] - bodies["coarse"][:, j]).norm(dim=-1)
    still = (rest[:, i] - rest[:, j]).norm(dim=-1)
    ratio = still.std(0) / ((posed - still).std(0) + POSE_SLACK)
    best = ratio.argsort(descending=True)[:num]
    return torch.stack([i[best], j[best]], 1)


def fit_ridge(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> dict[str, np.ndarray]:
    """Standardisation and ridge weights of ``targets`` (N, 6) on ``features`` (N, F)."""
    x = features.double()
    mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
    z = torch.cat([(x - mean) / scale, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    reg = ridge * len(z) * torch.eye(z.shape[1], dtype=x.dtype)
    reg[-1, -1] = 0.0
    w = torch.linalg.solve(z.T @ z + reg, z.T @ targets.double())
    return {"mean": mean.float().numpy(), "scale": scale.float().numpy(), "weight": w[:-1].float().numpy(),
            "bias": w[-1].float().numpy()}


def training_features(bodies: dict[str, torch.Tensor], recovered: dict[str, torch.Tensor] | None,
                      pairs: torch.Tensor, seed: int, copies: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    joint_pairs = torch.tensor(JOINT_PAIRS)
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for _ in range(copies):
        sigma = MAX_NOISE * torch.rand(len(bodies["shape"]), 1, 1, generator=gen)
        coarse = bodies["coarse"] + sigma * torch.randn(bodies["coarse"].shape, generator=gen)
        joints = bodies["joints"] + sigma * torch.randn(bodies["joints"].shape, generator=gen)
        xs.append(body_lengths(coarse, joints, pairs, joint_pairs))
        ys.append(bodies["shape"])
        if recovered is not None:
            xs.append(body_lengths(recovered["rec_coarse"], recovered["rec_joints"], pairs, joint_pairs))
            ys.append(recovered["shape"])
    return torch.cat(xs), torch.cat(ys)


def build(bodies: int = 2048, people: int = 0, per_person: int = 16, seed: int = 0,
          ridge: float = 0.01) -> dict[str, np.ndarray]:
    lbs = load_anny_lbs()
    start = time.perf_counter()
    synthetic = lbs_bodies(lbs, bodies, seed)
    pairs = select_pairs(synthetic)
    print(f"{bodies} LBS bodies and {len(pairs)} pairs: {time.perf_counter() - start:.0f} s", flush=True)
    recovered = None
    if people:
        start = time.perf_counter()
        recovered = recovered_bodies(lbs, people, per_person, seed + 1)
        print(f"{people} x {per_person} recovered bodies: {time.perf_counter() - start:.0f} s", flush=True)
    x, y = training_features(synthetic, recovered, pairs, seed + 2)
    arrays = fit_ridge(x, y, ridge)
    arrays |= {"pairs": pairs.numpy().astype(np.int16), "joint_pairs": np.array(JOINT_PAIRS, np.int8),
               "shape_names": np.array(SHAPE_NAMES), "ridge": np.array(ridge),
               "trained_on": np.array([bodies, people, per_person, seed])}
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=2048, help="random LBS bodies (pair selection and training)")
    parser.add_argument("--people", type=int, default=0,
                        help="synthetic people also run through HMDiff and fitted on (0: none; 96 x 16 measured: "
                             "no gain on recovered bodies, height on exact bodies 0.02 -> 0.09 off)")
    parser.add_argument("--per-person", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge", type=float, default=0.01)
    args = parser.parse_args()
    torch.set_num_threads(1)
    arrays = build(args.bodies, args.people, args.per_person, args.seed, args.ridge)
    path = save_phenotype_estimator(arrays, PHENOTYPE_PATH)
    print(f"{path}: {path.stat().st_size / 1e3:.1f} kB, {len(arrays['pairs'])} pairs + {len(JOINT_PAIRS)} segments")


if __name__ == "__main__":
    main()
