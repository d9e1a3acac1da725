"""``--lift DIR``: real poses from their exact 2D projections (``shared/data/real/h36m_lift``,
evaluation only), a COCO-17 prior with the eyes and ears missing (confidence 0 at (0, 0))."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from models.body.joints import H36M17, fit_definition_map
from models.body.segments import LIMB12, LIMB_PARTS, body_frame, limb_length_ratios
from models.evaluate.judge import Judge, Variant, prior_ablation, recover
from models.hmdiff import HMDiff
from models.metrics import pa_errors, pa_mpjpe
from models.prior import build_prior
from models.skeletons import COCO17
from models.camera import project


def add_arguments(parser) -> None:
    parser.add_argument("--lift", help="real poses with exact 2D projections (h36m_lift's gt.npz format)")
    parser.add_argument("--lift-stride", type=int, default=1, help="evaluate every K-th lifting sample")
    parser.add_argument("--lift-naive", action="store_true",
                        help="take Human3.6M's joints as COCO's namesakes instead of mapping the definitions")


def run(args, model: HMDiff, judge: Judge, main_variant: Variant) -> dict | None:
    if not args.lift:
        return None
    variants = [v for v in prior_ablation(main_variant) if v.world] if args.ablation else [main_variant]
    result = lift_section(model, judge, args.lift, variants, stride=args.lift_stride, naive=args.lift_naive)
    print("## Real poses from exact 2D (lifting)\n" + json.dumps(result, indent=1))
    return result


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
