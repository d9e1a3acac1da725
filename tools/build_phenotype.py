"""Build ``models/assets/anny_phenotype.npz``, the phenotype estimator of ``models.body.phenotype``.

``python tools/build_phenotype.py [--bodies 2048] [--people 1600] [--per-person 16] [--seed 0]``
(about 4 minutes on two CPU threads, most of it HMDiff's recovery, kept in ``.cache/phenotype``;
anny itself is not needed, only its compact LBS export):

1. **Pairs**: ``--bodies`` random bodies (``models.synth.poses.sample_poses``,
   ``models.synth.shapes.sample_shapes``) posed and at zero pose; among coarse-vertex pairs closer
   than 35 cm on the average body at rest, the ``NUM_PAIRS`` with the largest ratio of their
   distance's spread over shapes (zero pose) to its change with the pose (+1 cm).
2. **Training samples**: the recovery's own output, as a stream runs it (``StreamSettings``: 2
   DDIM steps, a sample and its mirror image, DAT), on simulated detections
   (``models.synth.corruption``) of ``--people`` synthetic people in ``--per-person`` random poses
   and cameras each; each person's proportions averaged over their poses (what a track pools).
3. **Regression** on standardised features: ridge for the 6 values (``--ridge`` times the sample
   count on the diagonal), then gender replaced by a logistic regression (``--decay``); the
   values are clamped to [0, 1] at use.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import roma
import torch

if __package__ in (None, ""):  # run as a script: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.body.anny_lbs import AnnyLBS, load_anny_lbs  # noqa: E402
from models.body_shape import BLEND  # noqa: E402
from models.stream import StreamSettings  # noqa: E402
from models.body.phenotype import JOINT_PAIRS, NUM_PAIRS, PHENOTYPE_PATH, body_proportions, save_phenotype_estimator  # noqa: E402
from models.synth.anatomy import PoseSpace  # noqa: E402
from models.synth.poses import sample_poses  # noqa: E402
from models.synth.shapes import SHAPE_NAMES, sample_shapes  # noqa: E402

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "phenotype"
PAIR_RADIUS = 0.35  # metres, at rest
POSE_SLACK = 0.01  # metres added to a pair's pose change in the selection ratio


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


def recover_detected(model, settings: StreamSettings, joints: torch.Tensor, transl: torch.Tensor, focal: torch.Tensor,
                     principal: torch.Tensor, size: torch.Tensor, rng: np.random.Generator):
    """HMDiff's recovery (``settings``: a stream's) from simulated detections of camera-frame COCO-17
    ``joints`` (B, 17, 3) with pelvis ``transl`` (B, 3): detector-like 2D (``models.synth.corruption``)
    and MediaPipe-like world landmarks, as the training stream draws them."""
    from models.camera import project
    from models.prior import build_prior
    from models.synth.corruption import corrupt, simulate_world

    gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    noisy = corrupt(project(joints, focal, principal), joints, focal, size, gen)
    world, confidence = simulate_world(joints - transl[:, None], gen)
    prior = build_prior(noisy.keypoints, noisy.confidence, focal, principal, size, world=world,
                        world_confidence=confidence)
    with torch.no_grad():
        return model.recover(prior, steps=settings.steps, hypotheses=settings.hypotheses, dat=settings.dat,
                             mirror=settings.mirror, generator=gen, shape=BLEND)


def recovered_bodies(lbs: AnnyLBS, people: int, per_person: int, seed: int, model=None,
                     settings: StreamSettings = StreamSettings()) -> dict[str, torch.Tensor]:
    """HMDiff's recovery of ``people`` synthetic people (one random shape each) in ``per_person``
    random poses and cameras each, on simulated detections (as the training stream draws them),
    with a stream's ``settings`` (steps, samples, mirroring, DAT; cold, from fresh noise).

    Returns the truth (``shape``, ``pose``, ``rot``/``transl``: canonical body -> camera, exact
    ``coarse``/``joints`` in the camera) and the recovery (``rec_coarse``, ``rec_joints``, camera
    frame), plus ``person`` (N,) ids; samples of one person are consecutive.
    """
    from models.hmdiff import load_hmdiff
    from models.synth.camera import sample_cameras

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
        rec = recover_detected(model, settings, joints, transl, focal, principal, size, rng)
        parts.append({"shape": shape, "pose": pose, "rot": rot, "transl": transl, "coarse": coarse, "joints": joints,
                      "rec_coarse": rec.coarse, "rec_joints": rec.joints})
    out = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    out["person"] = torch.arange(people).repeat_interleave(per_person)
    return out


def recovered_clips(lbs: AnnyLBS, clips: int, frames: int, stride: int, seed: int, split: str = "train",
                    model=None, settings: StreamSettings = StreamSettings(),
                    shapes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """HMDiff's recovery of ``clips`` synthetic people (one random shape each), each moving through
    a window of a real mocap clip of ``split`` (``models.synth.mocap.sample_mocap_sequence`` at
    25 fps, every ``stride``-th of ``frames * stride`` frames kept) before one static camera, on
    simulated detections, with a stream's ``settings``: what a track pools, where a person's poses
    follow one motion (random poses, :func:`recovered_bodies`, are each unlike the last). Returns
    ``shape``, ``rec_coarse``, ``rec_joints`` and ``person`` (the clip, N,), as
    :func:`recovered_bodies`. ``shapes`` (clips, 6): the people's shapes (default: drawn)."""
    from models.hmdiff import load_hmdiff
    from models.synth.camera import sample_sequence_camera
    from models.synth.mocap import sample_mocap_sequence

    model = model or load_hmdiff()
    model.eval()
    rng = np.random.default_rng(seed)
    shapes = torch.as_tensor(sample_shapes(clips, rng)) if shapes is None else shapes
    parts = []
    for clip in range(clips):
        motion = sample_mocap_sequence(frames * stride, 25.0, rng, split)
        keep = slice(0, frames * stride, stride)
        shape = shapes[clip:clip + 1].repeat(frames, 1)
        with torch.no_grad():
            body = lbs(motion.pose[keep].float(), shape)
        cams = sample_sequence_camera(body.coarse, motion.global_orient[keep], motion.transl[keep], rng)
        rot = roma.rotvec_to_rotmat(torch.as_tensor(cams.global_orient[0]))
        transl = torch.as_tensor(cams.transl[0])
        joints = body.joints @ rot.transpose(1, 2) + transl[:, None]
        t = lambda a: torch.as_tensor(np.repeat(np.asarray(a, np.float32), frames, 0))  # noqa: E731
        focal, principal, size = t(cams.focal), t(cams.principal), t(cams.image_size)
        rec = recover_detected(model, settings, joints, transl, focal, principal, size, rng)
        parts.append({"shape": shape, "rec_coarse": rec.coarse, "rec_joints": rec.joints,
                      "person": torch.full((frames,), clip)})
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


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


def fit_logistic(z: torch.Tensor, target: torch.Tensor, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (F,) and bias of a logistic regression of ``target`` (N,) in [0, 1] on standardised
    features ``z`` (N, F), with ``decay`` times the squared weights added to the mean cross-entropy."""
    z, target = z.double(), target.double()
    w = torch.zeros(z.shape[1], dtype=z.dtype, requires_grad=True)
    b = torch.zeros(1, dtype=z.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, target) + decay * (w ** 2).sum()
        value.backward()
        return value

    opt.step(loss)
    return w.detach(), b.detach()


def pooled_features(recovered: dict[str, torch.Tensor], pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each person's mean proportions over their frames (people, F) and their shapes (people, 6)."""
    x = body_proportions(recovered["rec_coarse"], recovered["rec_joints"], pairs, torch.tensor(JOINT_PAIRS))
    person = recovered["person"]
    count = torch.bincount(person).double()
    pooled = torch.zeros(len(count), x.shape[1], dtype=torch.float64).index_add_(0, person, x.double()) / count[:, None]
    shape = torch.zeros(len(count), 6).index_copy_(0, person, recovered["shape"])
    return pooled, shape


def cached(name: str, make: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``make()``'s recovered bodies (what :func:`pooled_features` reads of them), kept in
    ``.cache/phenotype/NAME`` once made."""
    path = CACHE_DIR / name
    if path.is_file():
        return torch.load(path, weights_only=True)
    out = {key: value for key, value in make().items() if key in ("shape", "rec_coarse", "rec_joints", "person")}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return out


def build(bodies: int = 2048, people: int = 1600, per_person: int = 16, seed: int = 0, ridge: float = 0.02,
          decay: float = 0.01, clips: int = 0) -> dict[str, np.ndarray]:
    lbs = load_anny_lbs()
    start = time.perf_counter()
    pairs = select_pairs(lbs_bodies(lbs, bodies, seed))
    print(f"{bodies} LBS bodies and {len(pairs)} pairs: {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    if clips:  # people moving through mocap clips (40 frames, every 4th), one person a clip
        x, y = pooled_features(cached(f"clips_train_s{seed + 2}_{clips}x40x4.pt",
                                      lambda: recovered_clips(lbs, clips, 40, 4, seed + 2)), pairs)
        print(f"{clips} mocap clips x 40 recovered bodies: {time.perf_counter() - start:.0f} s", flush=True)
    else:
        x, y = pooled_features(cached(f"recovered_s{seed + 1}_{people}x{per_person}.pt",
                                      lambda: recovered_bodies(lbs, people, per_person, seed + 1)), pairs)
        print(f"{people} x {per_person} recovered bodies: {time.perf_counter() - start:.0f} s", flush=True)
    arrays = fit_ridge(x, y, ridge)
    z = (x - torch.as_tensor(arrays["mean"]).double()) / torch.as_tensor(arrays["scale"]).double()
    w, b = fit_logistic(z, y[:, 0], decay)  # gender: mostly near either end, a logistic fits it better
    arrays["weight"][:, 0], arrays["bias"][0] = w.float().numpy(), float(b)
    arrays |= {"pairs": pairs.numpy().astype(np.int16), "joint_pairs": np.array(JOINT_PAIRS, np.int8),
               "logistic": np.array([True, False, False, False, False, False]),
               "shape_names": np.array(SHAPE_NAMES), "ridge": np.array(ridge), "decay": np.array(decay),
               "trained_on": np.array([bodies, 0 if clips else people, per_person, seed, clips])}
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=2048, help="random LBS bodies (pair selection and training)")
    parser.add_argument("--people", type=int, default=1600, help="synthetic people run through HMDiff and fitted on")
    parser.add_argument("--per-person", type=int, default=16, help="poses per person, pooled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ridge", type=float, default=0.02)
    parser.add_argument("--decay", type=float, default=0.01, help="the gender logistic's weight decay")
    parser.add_argument("--clips", type=int, default=0,
                        help="fit instead on this many people each moving through a mocap clip (1200 measured: "
                             "better on synthetic motion, every Human3.6M actor male; not shipped, BENCHMARKS.md)")
    parser.add_argument("--out", type=Path, default=PHENOTYPE_PATH)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    arrays = build(args.bodies, args.people, args.per_person, args.seed, args.ridge, args.decay, args.clips)
    path = save_phenotype_estimator(arrays, args.out)
    print(f"{path}: {path.stat().st_size / 1e3:.1f} kB, {len(arrays['pairs'])} pairs + {len(JOINT_PAIRS)} segments")


if __name__ == "__main__":
    main()
