"""Evaluate HMDiff: ``python -m models.evaluate --test DIR [--rendered DIR] [--real DIR] [--ablation]``.

Metrics in mm: MPJPE (root-aligned) and PA-MPJPE on Human3.6M-17 and LSP-14 joints regressed from
the full mesh, and MPVE, printed as a table and written as JSON (``--json``). Sets:
1. a held-out synthetic test set with its stored detector-like corruption, split easy / occluded;
2. rendered frames run end to end through MediaPipe (image → landmarks → prior → mesh);
3. real frames in the generic format of ``models.realsets`` (e.g. Human3.6M), beside MediaPipe's own
   3D world landmarks on the 12 limb joints.
``--lift DIR``: real poses from their exact 2D projections (``shared/data/real/h36m_lift``, evaluation
only), a COCO-17 prior with the eyes and ears missing (confidence 0 at (0, 0)).
The main variant is run_live.py's setting for a photo: 2 DDIM steps with DAT, the mean of 8
hypotheses, half of them on the mirrored image (``--steps``, ``--hypotheses``, ``--no-mirror``).
``--ablation`` adds, each like the main variant but for one change: on the synthetic set one-shot
regression, no DAT, DAT without the activation strategy, DDIM steps 1/2/5/10/25, the other number
of hypotheses (1, or 8), no mirroring and DAT on the uncorrupted 2D keypoints (an oracle: how much
of the error the detector's noise causes); on the sets through MediaPipe no DAT, no 3D prior
anywhere, DAT with or without the 3D prior's pull, 5 steps, the other number of hypotheses and no
mirroring; on ``--lift`` the same but for the 3D prior's rows (it has none).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from models.body import load_body_model
from models.body.joints import (COCO17, H36M17, MEDIAPIPE_H36M_ANATOMICAL, fit_definition_map, mediapipe_to_h36m17,
                                regressor)
from models.hmdiff import CheckpointError, DATConfig, HMDiff, load_hmdiff
from models.body.segments import LIMB12, LIMB_PARTS, body_frame, limb_length_ratios
from models.metrics import mpjpe, mpve, pa_errors, pa_mpjpe
from models.prior import build_prior
from models.landmarks import PoseDetector, prior_from_landmarks
from models.realsets import load_real_set
from models.synth.camera import project
from models.synth.dataset import load_dataset

ABLATION_HYPOTHESES = 8
# The main variant: run_live.py's setting for a photo (realtime.options: steps, photo_hypotheses,
# photo_mirror; models cannot import realtime, a test checks that the two agree).
PHOTO_STEPS, PHOTO_HYPOTHESES, PHOTO_MIRROR = 2, 8, True


@dataclass
class Variant:
    name: str
    steps: int = 5
    dat: DATConfig | bool = True
    regress: bool = False
    hypotheses: int = 1  # > 1: the mesh is the mean of this many samples
    clean_keypoints: bool = False  # synthetic set only: uncorrupted 2D keypoints, confidence 1 (oracle)
    world: bool = True  # False: drop the detector's 3D prior (from the condition and from DAT)
    mirror: bool = False  # half the hypotheses on the mirrored image, mirrored back (HMDiff.recover)


class Judge:
    """Full meshes → H36M-17 / LSP-14 joints → metrics (mm)."""

    def __init__(self, body) -> None:
        self.body = body
        self.h36m = regressor(body, "h36m17")
        self.lsp = regressor(body, "lsp14")

    def joints(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.h36m @ vertices, self.lsp @ vertices

    def scores(self, pred_v: torch.Tensor, gt_v: torch.Tensor) -> dict[str, torch.Tensor]:
        ph, pl = self.joints(pred_v)
        gh, gl = self.joints(gt_v)
        return {
            "mpjpe_h36m": mpjpe(ph, gh, 0), "pa_mpjpe_h36m": pa_mpjpe(ph, gh),
            "mpjpe_lsp": mpjpe(pl, gl, [2, 3]), "pa_mpjpe_lsp": pa_mpjpe(pl, gl),
            "mpve": mpve(pred_v, gt_v, ph[:, 0], gh[:, 0]),
        }


def summarise(scores: list[dict[str, torch.Tensor]], mask: torch.Tensor | None = None) -> dict[str, float]:
    out = {}
    for key in scores[0]:
        values = torch.cat([s[key] for s in scores])
        values = values if mask is None else values[mask]
        out[key] = round(float(values.mean()), 1) if len(values) else float("nan")
    out["n"] = int(len(values))
    return out


def recover(model: HMDiff, prior, variant: Variant, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    if not variant.world:
        prior = replace(prior, world=None, world_weights=None)
    if variant.regress:
        cond = model.condition(prior)
        with torch.no_grad():
            h0 = model.sampler.regress(cond)
        return model.assemble(h0, prior, 1, 1, 0)
    return model.recover(prior, steps=variant.steps, hypotheses=variant.hypotheses, dat=variant.dat, generator=gen,
                         mirror=variant.mirror)


def synthetic_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant], batch: int = 64) -> dict:
    """Stored corruption of a synthetic test set; easy and occluded halves."""
    data = load_dataset(path)
    n = len(data["transl"])
    arrays = {k: torch.as_tensor(np.asarray(data[k], np.float32)) for k in
              ("keypoints_corrupt", "keypoints_2d", "confidence", "focal", "principal", "image_size", "pose", "shape",
               "global_orient", "transl")}
    t = arrays.__getitem__
    occluded = torch.as_tensor(np.asarray(data["occluded"], bool))
    scores: dict[str, list] = {v.name: [] for v in variants}
    oracle = any(v.clean_keypoints for v in variants)
    for i in range(0, n, batch):  # ground truth once per batch, every variant on it
        sl = slice(i, min(n, i + batch))
        camera = (t("focal")[sl], t("principal")[sl], t("image_size")[sl])
        prior = build_prior(t("keypoints_corrupt")[sl], t("confidence")[sl], *camera)
        clean = build_prior(t("keypoints_2d")[sl], torch.ones_like(t("confidence")[sl]), *camera) if oracle else None
        with torch.no_grad():
            gt = judge.body(t("pose")[sl], t("shape")[sl], t("global_orient")[sl], t("transl")[sl]).vertices
        for variant in variants:
            used = clean if variant.clean_keypoints else prior
            scores[variant.name].append(judge.scores(recover(model, used, variant).vertices, gt))
    return {name: {"all": summarise(s), "easy": summarise(s, ~occluded), "occluded": summarise(s, occluded)}
            for name, s in scores.items()}


def rendered_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant]) -> dict:
    """Rendered frames with exact ground truth, through MediaPipe; each variant on the same landmarks."""
    data = load_dataset(path)
    detector = PoseDetector(static_image_mode=True)
    scores: dict[str, list] = {v.name: [] for v in variants}
    missed = 0
    for i, image_path in enumerate(data["image_paths"]):
        image = cv2.imread(str(image_path))
        landmarks = detector(image) if image is not None else None
        if landmarks is None:
            missed += 1
            continue
        size = (image.shape[1], image.shape[0])
        prior = prior_from_landmarks(landmarks, data["focal"][i], data["principal"][i], size)
        g = lambda k: torch.as_tensor(np.asarray(data[k][i : i + 1], np.float32))  # noqa: E731
        with torch.no_grad():
            gt = judge.body(g("pose"), g("shape"), g("global_orient"), g("transl")).vertices
        for variant in variants:
            scores[variant.name].append(judge.scores(recover(model, prior, variant).vertices, gt))
    detector.close()
    counts = {"frames": len(data["image_paths"]), "no_person": missed}
    return {name: {**(summarise(s) if s else {}), **counts} for name, s in scores.items()}


def real_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant]) -> dict:
    """Real frames (generic format): ours vs MediaPipe's world landmarks, PA-MPJPE on 12 limb joints."""
    real = load_real_set(path)
    detector = PoseDetector(static_image_mode=True)
    ours: dict[str, list] = {v.name: [] for v in variants}
    ours17: dict[str, list] = {v.name: [] for v in variants}
    baseline, baseline_old, missed = [], [], 0
    for i in range(len(real.imgname)):
        image = cv2.imread(str(real.image_path(i)))
        landmarks = detector(image) if image is not None else None
        if landmarks is None:
            missed += 1
            continue
        prior = prior_from_landmarks(landmarks, real.focal[i], real.principal[i], (image.shape[1], image.shape[0]))
        gt = torch.as_tensor(real.joints[i : i + 1])
        for variant in variants:
            pred = judge.h36m @ recover(model, prior, variant).vertices
            ours[variant.name].append(pa_mpjpe(pred[:, LIMB12], gt[:, LIMB12]))
            ours17[variant.name].append(pa_mpjpe(pred, gt))
        world = torch.as_tensor(landmarks.world)[None]
        mp, mp_old = mediapipe_to_h36m17(world), mediapipe_to_h36m17(world, MEDIAPIPE_H36M_ANATOMICAL)
        baseline.append(pa_mpjpe(mp[:, LIMB12], gt[:, LIMB12]))
        baseline_old.append(pa_mpjpe(mp_old[:, LIMB12], gt[:, LIMB12]))
    detector.close()
    mean = lambda xs: round(float(torch.cat(xs).mean()), 1) if xs else float("nan")  # noqa: E731
    common = {"mediapipe_world_pa_mpjpe_limb12": mean(baseline),
              "mediapipe_world_anatomical_mapping_pa_mpjpe_limb12": mean(baseline_old),
              "frames": len(real.imgname), "no_person": missed}
    return {name: {"pa_mpjpe_limb12": mean(ours[name]), "pa_mpjpe_h36m17": mean(ours17[name]), **common,
                   "per_frame_limb12": [round(float(x), 1) for x in ours[name]]} for name in ours}


# Human3.6M-17 index of each COCO-17 joint a lifting set gives (the face has none but the nose).
LIFT_COCO_FROM_H36M = {"nose": "neck_nose", **{f"{side}_{part}": f"{side[0]}_{part}" for side in ("left", "right")
                                              for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}}


def lift_prior(kp2d: np.ndarray, focal: np.ndarray, principal: np.ndarray, image_size: np.ndarray,
               definition_map: torch.Tensor | None = None):
    """COCO-17 prior from exact Human3.6M-17 projections (N, 17, 2): confidence 1, eyes and ears
    missing (confidence 0 at (0, 0), the COCO convention). ``definition_map`` (17, 17): COCO-17
    keypoints as our body defines them, from the Human3.6M-17 ones (``fit_definition_map``); without
    it each COCO keypoint is taken as its Human3.6M namesake (which means another point)."""
    n = len(kp2d)
    source = kp2d if definition_map is None else np.einsum("cj,njk->nck", definition_map.numpy(), kp2d)
    keypoints, confidence = np.zeros((n, 17, 2), np.float32), np.zeros((n, 17), np.float32)
    for coco, h36m in LIFT_COCO_FROM_H36M.items():
        keypoints[:, COCO17.index(coco)] = source[:, COCO17.index(coco) if definition_map is not None
                                                  else H36M17.index(h36m)]
        confidence[:, COCO17.index(coco)] = 1.0
    t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    return build_prior(t(keypoints), t(confidence), t(focal), t(principal), t(image_size))


TILT_BINS_DEG = (20, 40, 60)  # trunk tilt bins: upright, leaning, bent or reclining, lying


def trunk_tilt_bins(joints: np.ndarray) -> np.ndarray:
    """(N,) labels of the trunk's tilt (pelvis → thorax, Human3.6M-17 camera-frame joints, y down)
    from the camera's up axis: "0-20°", "20-40°", "40-60°", ">60°"."""
    trunk = joints[:, H36M17.index("thorax")] - joints[:, H36M17.index("pelvis")]
    tilt = np.degrees(np.arccos(np.clip(-trunk[:, 1] / np.linalg.norm(trunk, axis=1), -1, 1)))
    edges = (0, *TILT_BINS_DEG)
    labels = [f"{a}-{b}°" for a, b in zip(edges, edges[1:])] + [f">{edges[-1]}°"]
    return np.array(labels)[np.digitize(tilt, TILT_BINS_DEG)]


def lift_section(model: HMDiff, judge: Judge, path: str, variants: list[Variant], stride: int = 1,
                 batch: int = 256, naive: bool = False) -> dict:
    """Real poses from their exact 2D projections (``h36m_lift`` format), every ``stride``-th sample:
    PA-MPJPE on the 12 limb joints and all 17, overall, per subject, per action, per trunk tilt and
    per limb joint; the limb joints' error split into its part along the camera's depth axis (what
    2D cannot tell) and in the image plane (mean |z| and mean ‖xy‖ after alignment); how far the
    mesh's COCO limb joints reproject from the keypoints they were given (mean px); the median
    recovered / true length of each limb bone (Human3.6M's are rigid; ours are not under every
    posture), overall and, for the thigh, per action. The COCO-17
    prior goes through the definition map (``naive``: Human3.6M's joints taken as COCO's namesakes)."""
    definition_map = None if naive else fit_definition_map(judge.body)
    gt_file = Path(path) / "gt.npz"
    if not gt_file.is_file():
        raise FileNotFoundError(f"{path} is not a lifting set: {gt_file} is missing")
    data = np.load(gt_file)
    take = slice(None, None, stride)
    joints, kp2d, focal, principal = data["S"][take], data["kp2d"][take], data["f"][take], data["c"][take]
    size, subjects = data["img_wh"][take], data["subject"][take]
    actions = np.array([str(a).split(" ")[0] for a in data["action"][take]])  # "Walking 1" -> "Walking"
    tilts = trunk_tilt_bins(joints)
    limb: dict[str, list] = {v.name: [] for v in variants}  # (N, 12, 3) aligned error vectors, mm
    lengths: dict[str, list] = {v.name: [] for v in variants}  # {bone: (N,)} recovered / true length
    full: dict[str, list] = {v.name: [] for v in variants}
    reprojection: dict[str, list] = {v.name: [] for v in variants}
    coco_limbs = [COCO17.index(n) for n in COCO17 if n.split("_")[-1] in LIMB_PARTS]
    for i in range(0, len(joints), batch):
        sl = slice(i, i + batch)
        prior = lift_prior(kp2d[sl], focal[sl], principal[sl], size[sl], definition_map)
        gt = torch.as_tensor(joints[sl], dtype=torch.float32)
        for variant in variants:
            recovery = recover(model, prior, variant)
            pred = judge.h36m @ recovery.vertices
            limb[variant.name].append(pa_errors(pred[:, LIMB12], gt[:, LIMB12]))
            lengths[variant.name].append(limb_length_ratios(pred.numpy(), gt.numpy()))
            uv = project(recovery.joints, prior.focal, prior.principal)
            reprojection[variant.name].append((uv - prior.keypoints)[:, coco_limbs].norm(dim=-1).mean(1))
            full[variant.name].append(pa_mpjpe(pred, gt))
    frames = body_frame(joints)  # the true bodies' axes, for the systematic offsets
    out = {}
    for name in limb:
        errors, values17 = torch.cat(limb[name]), torch.cat(full[name])
        offsets = np.einsum("nij,nkj->nki", frames, errors.numpy()).mean(0)
        values = errors.norm(dim=-1).mean(1)
        per = lambda groups: {g: round(float(values[torch.as_tensor(groups == g)].mean()), 1)  # noqa: E731
                              for g in sorted(set(groups))}
        ratios = {bone: np.concatenate([part[bone] for part in lengths[name]]) for bone in lengths[name][0]}
        out[name] = {"pa_mpjpe_limb12": round(float(values.mean()), 1), "pa_mpjpe_h36m17": round(float(values17.mean()), 1),
                     "per_subject_limb12": per(subjects), "per_action_limb12": per(actions),
                     "per_trunk_tilt_limb12": per(tilts),
                     "per_joint_limb12": {H36M17[j]: round(float(e), 1)
                                          for j, e in zip(LIMB12, errors.norm(dim=-1).mean(0))},
                     "per_joint_offset_limb12_mm": {H36M17[j]: np.round(o, 1).tolist() for j, o in zip(LIMB12, offsets)},
                     "limb12_depth_mm": round(float(errors[..., 2].abs().mean()), 1),
                     "limb12_image_plane_mm": round(float(errors[..., :2].norm(dim=-1).mean()), 1),
                     "limb_reprojection_px": round(float(torch.cat(reprojection[name]).mean()), 2),
                     "limb_length_ratio": {bone: round(float(np.median(r)), 3) for bone, r in ratios.items()},
                     "thigh_length_ratio_per_action": {a: round(float(np.median(ratios["thigh"][actions == a])), 3)
                                                       for a in sorted(set(actions))},
                     "n": int(len(values))}
    return out


def other_hypotheses(main: Variant, hypotheses: int = ABLATION_HYPOTHESES) -> Variant:
    """``main`` with one hypothesis if it averages several, else averaged over ``hypotheses``."""
    if main.hypotheses > 1:
        return replace(main, name=f"DAT, 1 hypothesis ({main.steps} steps)", hypotheses=1, mirror=False)
    return replace(main, name=f"DAT, mean of {hypotheses} hypotheses ({main.steps} steps)", hypotheses=hypotheses)


def unmirrored(main: Variant) -> list[Variant]:
    """``main`` without test-time mirroring, if it mirrors."""
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    return [replace(main, name=f"DAT, no mirroring {tag}", mirror=False)] if main.mirror else []


def prior_ablation(main: Variant) -> list[Variant]:
    """For sets through MediaPipe, each like ``main`` (steps, hypotheses) but for one change: no DAT,
    no 3D prior anywhere (condition or DAT), DAT with (or without, if ``main`` has it) the 3D
    prior's pull (``rho_world``; the 3D prior stays in the condition), ``main`` itself, 5 DDIM
    steps (if ``main`` has another count), the other number of hypotheses (1, or several) and no
    mirroring (if ``main`` mirrors)."""
    dat = main.dat if isinstance(main.dat, DATConfig) else DATConfig()
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    five = [] if main.steps == 5 else [replace(main, name=f"DAT, 5 steps ({main.hypotheses} hyp.)", steps=5)]
    pull = DATConfig().rho_world
    other_pull = replace(main, name=f"DAT, 2D heatmaps only {tag}", dat=replace(dat, rho_world=0.0)) if dat.rho_world \
        else replace(main, name=f"DAT with the 3D prior's pull too (rho_world {pull}) {tag}", dat=replace(dat, rho_world=pull))
    return [replace(main, name=f"diffusion, no DAT {tag}", dat=False),
            replace(main, name=f"no 3D prior at all, DAT 2D only {tag}", world=False),
            other_pull, main, *five, other_hypotheses(main), *unmirrored(main)]


def ablation_variants(main: Variant) -> list[Variant]:
    """One-shot regression, then like ``main`` but for one change: no DAT, DAT without activation,
    DDIM steps 1/2/5/10/25, the other number of hypotheses, no mirroring (if ``main`` mirrors), the
    uncorrupted 2D keypoints (oracle)."""
    dat = main.dat if isinstance(main.dat, DATConfig) else DATConfig()
    tag = f"({main.steps} steps, {main.hypotheses} hyp.)"
    return [
        Variant("regression (one shot)", regress=True),
        replace(main, name=f"diffusion, no DAT {tag}", dat=False),
        main,
        replace(main, name=f"DAT, no activation {tag}", dat=replace(dat, activation=False)),
        *[replace(main, name=f"DAT, {s} steps ({main.hypotheses} hyp.)", steps=s) for s in (1, 2, 5, 10, 25)
          if s != main.steps],
        other_hypotheses(main),
        *unmirrored(main),
        replace(main, name=f"DAT, uncorrupted 2D keypoints, oracle {tag}", clean_keypoints=True),
    ]


def table(rows: dict[str, dict]) -> str:
    keys = ["pa_mpjpe_h36m", "mpjpe_h36m", "pa_mpjpe_lsp", "mpjpe_lsp", "mpve", "n"]
    lines = ["| variant | split | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, splits in rows.items():
        for split, m in splits.items():
            lines.append(f"| {name} | {split} | " + " | ".join(str(m.get(k, "")) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    parser.add_argument("--test", help="synthetic test set (python -m models.synth --split test)")
    parser.add_argument("--rendered", help="rendered test set (python -m models.synth --render)")
    parser.add_argument("--real", action="append", default=[], help="real set folder with gt.npz (repeatable)")
    parser.add_argument("--lift", help="real poses with exact 2D projections (h36m_lift's gt.npz format)")
    parser.add_argument("--lift-stride", type=int, default=1, help="evaluate every K-th lifting sample")
    parser.add_argument("--lift-naive", action="store_true",
                        help="take Human3.6M's joints as COCO's namesakes instead of mapping the definitions")
    parser.add_argument("--track", help="real motion with exact 2D, as sequences (h36m_lift_seq's gt.npz format): "
                        "the stream's settings (models.stream.StreamSettings) frame by frame, beside the photo setting")
    parser.add_argument("--track-subjects", help="comma-separated subjects to run (default: all), e.g. S1,S5,S6,S7")
    parser.add_argument("--track-limit", type=int, help="at most this many sequences, spread over the set")
    parser.add_argument("--track-detector", action="store_true",
                        help="detector-like 2D instead of exact (models.evaluate_track.DetectorNoise)")
    parser.add_argument("--track-photo-stride", type=int, default=5, help="the photo setting on every K-th frame (5)")
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--steps", type=int, default=PHOTO_STEPS, help=f"DDIM steps from noise ({PHOTO_STEPS})")
    parser.add_argument("--hypotheses", type=int, default=PHOTO_HYPOTHESES,
                        help=f"samples averaged per frame ({PHOTO_HYPOTHESES})")
    parser.add_argument("--no-mirror", action="store_true", help="no test-time mirroring of half the hypotheses")
    parser.add_argument("--backend", default="auto", help="denoiser backend (models/hmdiff/backends.py)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    try:
        model = load_hmdiff(args.weights)
        model.use_backend(args.backend)
        judge = Judge(load_body_model("anny"))
        mirror = PHOTO_MIRROR and not args.no_mirror and args.hypotheses % 2 == 0
        main_variant = Variant(f"diffusion + DAT ({args.steps} steps, {args.hypotheses} hypotheses"
                               f"{', half mirrored' if mirror else ''})", steps=args.steps,
                               dat=model.config.dat, hypotheses=args.hypotheses, mirror=mirror)
        results: dict = {"weights": str(args.weights or "shipped")}
        if args.test:
            variants = ablation_variants(main_variant) if args.ablation else [main_variant]
            results["synthetic"] = synthetic_section(model, judge, args.test, variants)
            print("## Synthetic test set\n" + table(results["synthetic"]))
        mediapipe_variants = prior_ablation(main_variant) if args.ablation else [main_variant]
        if args.rendered:
            results["rendered"] = rendered_section(model, judge, args.rendered, mediapipe_variants)
            print("## Rendered frames through MediaPipe\n" + table({n: {"all": r} for n, r in results["rendered"].items()}))
        if args.lift:
            variants = [v for v in prior_ablation(main_variant) if v.world] if args.ablation else [main_variant]
            results["lift"] = lift_section(model, judge, args.lift, variants, stride=args.lift_stride,
                                           naive=args.lift_naive)
            print("## Real poses from exact 2D (lifting)\n" + json.dumps(results["lift"], indent=1))
        if args.track:
            from models.evaluate_track import DetectorNoise, ablation_rows, track_section, track_table
            from models.stream import StreamSettings

            rows = ablation_rows(StreamSettings()) if args.ablation else {"stream": StreamSettings()}
            subjects = tuple(args.track_subjects.split(",")) if args.track_subjects else None
            results["track"] = track_section(model, judge, args.track, rows, main_variant,
                                             photo_stride=args.track_photo_stride, subjects=subjects,
                                             limit=args.track_limit,
                                             detector=DetectorNoise() if args.track_detector else None)
            print("## Tracking real motion\n" + track_table(results["track"]))
        for real in args.real:
            results.setdefault("real", {})[real] = real_section(model, judge, real, mediapipe_variants)
            print(f"## Real set {real}\n" + json.dumps(results["real"][real], indent=1))
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
