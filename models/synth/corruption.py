"""Detector-like corruption of clean COCO-17 keypoints (torch, vectorised over the batch).

Mimics a 2D pose detector such as MediaPipe Pose on the projected ground truth:

- **Noise**: Gaussian, per joint and axis
  ``sigma_j = severity * (relative * oks_j * scale + floor_px * oks_j / mean(oks))`` with
  ``oks_j`` the COCO OKS per-keypoint sigmas (hips and ankles are vaguer than eyes),
  ``scale = f * 1.7 m / depth`` the person's nominal height in pixels and a per-sample
  log-normal ``severity``. The fixed pixel floor makes the error grow relative to the person
  (and in metres) as the person gets smaller / farther. Motion adds ``motion * |v|`` (blur,
  ``velocity`` in px/frame). Occluded joints get ``occluded_noise`` times more; rare outliers
  jump by ``outlier_scale * scale``. With the defaults the median error of visible limb joints
  is ~3.4 % of the keypoints' height (MediaPipe on our renders: ~1.7 %; real images are harder).
- **Self-occlusion**: a joint is hidden when its projection falls inside the footprint of a body
  part (torso capsule, head sphere, the 8 limb segments; radii in metres, projected with the
  part's depth) and it lies behind that part's axis by more than the part's margin. Face points
  are hidden when they are behind the head centre (the person faces away; the far ear in
  profile).
- **Occluder boxes** over part of the person; **missed** joints (confidence 0); **left/right
  swaps** of the arms, the legs or the whole body; **truncation**: joints outside the image get a
  confidence of 0 or a low one and are clamped to the border.

Confidences mimic MediaPipe's visibility: high (Kumaraswamy(8, 1), mean 0.89, median 0.92) when
visible, low (Kumaraswamy(1.5, 3), mean 0.37) when occluded, 0 when missed. A sample is flagged
``occluded`` when at least ``occluded_min_joints`` of its 12 limb joints (shoulders to ankles)
are occluded, missed or truncated; hidden face points alone (a person seen from behind) do not
count. On the synthetic mixture about 58 % of samples are flagged (25-45 % of near-frontal
views, nearly all side views).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch

from models.camera import normalised

# COCO OKS sigmas (Lin et al. 2014), per keypoint in COCO-17 order.
OKS_SIGMAS = torch.tensor([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                           0.107, 0.107, 0.087, 0.087, 0.089, 0.089])
LEFT = [1, 3, 5, 7, 9, 11, 13, 15]
RIGHT = [2, 4, 6, 8, 10, 12, 14, 16]
SWAP_GROUPS = ([7, 9], [13, 15], [1, 3, 5, 7, 9, 11, 13, 15])  # left indices: forearm, shin, everything
FACE = [0, 1, 2, 3, 4]
BODY = list(range(5, 17))  # the limb joints, the ones the occluded flag counts
# Occluding parts: ends a and b (joint indices averaged), radius (m), depth margin (m), and the
# joints the part cannot hide (its own ends; the face has its own rule).
PARTS = (
    ((5, 6), (11, 12), 0.12, 0.06, ()),  # torso, shoulder centre to hip centre
    ((3, 4), (3, 4), 0.11, 0.04, tuple(FACE)),  # head, a sphere around the ears' centre
    ((5,), (7,), 0.05, 0.05, (5, 7)), ((6,), (8,), 0.05, 0.05, (6, 8)),  # upper arms
    ((7,), (9,), 0.04, 0.04, (7, 9)), ((8,), (10,), 0.04, 0.04, (8, 10)),  # forearms
    ((11,), (13,), 0.08, 0.08, (11, 13)), ((12,), (14,), 0.08, 0.08, (12, 14)),  # thighs
    ((13,), (15,), 0.055, 0.055, (13, 15)), ((14,), (16,), 0.055, 0.055, (14, 16)),  # shins
)
NOMINAL_HEIGHT = 1.7


@dataclass
class CorruptionConfig:
    relative: float = 0.2  # sigma / (OKS sigma * the person's scale in pixels)
    floor_px: float = 1.5  # resolution-limited error, pixels
    severity_log_sd: float = 0.35
    motion: float = 0.1  # extra sigma per px/frame of joint speed
    occluded_noise: float = 2.5
    outlier_prob: float = 0.02
    outlier_scale: float = 0.15
    box_prob: float = 0.2  # one occluder box per sample
    box_size: tuple[float, float] = (0.2, 0.6)  # fraction of the person's box
    miss_prob: float = 0.02  # per joint, visible
    miss_prob_occluded: float = 0.25
    swap_prob: float = 0.04  # per sample
    truncated_zero_prob: float = 0.5  # else a low confidence
    truncated_conf: tuple[float, float] = (0.02, 0.15)
    visible_conf: tuple[float, float] = (8.0, 1.0)  # Kumaraswamy (a, b): mean 0.89
    occluded_conf: tuple[float, float] = (1.5, 3.0)  # mean 0.37
    face_margin: float = 0.02  # m behind the head centre
    ear_margin: float = 0.04
    occluded_min_joints: int = 3
    exact_prob: float = 0.0  # per sample: exact keypoints (0 draws nothing: the same draws as before)


@dataclass
class Corrupted:
    keypoints: torch.Tensor  # (B, 17, 2) px
    confidence: torch.Tensor  # (B, 17) in [0, 1]
    occluded: torch.Tensor  # (B,) bool: >= occluded_min_joints joints occluded / missed / truncated
    self_occluded: torch.Tensor  # (B, 17) bool
    box_occluded: torch.Tensor  # (B, 17) bool
    missed: torch.Tensor  # (B, 17) bool (confidence 0)
    truncated: torch.Tensor  # (B, 17) bool: the clean joint is outside the image
    swapped: torch.Tensor  # (B,) bool


def _part_tables(device: torch.device) -> tuple[torch.Tensor, ...]:
    """Averaging matrices of the part ends (K, 17), radii and margins (K,), excluded (17, K)."""
    ends_a, ends_b = torch.zeros(len(PARTS), 17), torch.zeros(len(PARTS), 17)
    exclude = torch.zeros(17, len(PARTS), dtype=torch.bool)
    for k, (a_idx, b_idx, _, _, excl) in enumerate(PARTS):
        ends_a[k, list(a_idx)] = 1 / len(a_idx)
        ends_b[k, list(b_idx)] = 1 / len(b_idx)
        exclude[list(excl), k] = True
    radius = torch.tensor([p[2] for p in PARTS])
    margin = torch.tensor([p[3] for p in PARTS])
    return tuple(t.to(device) for t in (ends_a, ends_b, radius, margin, exclude))


def self_occlusion(joints: torch.Tensor, cfg: CorruptionConfig) -> torch.Tensor:
    """(B, 17) bool: joints hidden behind the body from the camera, from camera-frame joints (B, 17, 3)."""
    ends_a, ends_b, radius, margin, exclude = _part_tables(joints.device)
    a = torch.einsum("kj,bjc->bkc", ends_a, joints)
    b = torch.einsum("kj,bjc->bkc", ends_b, joints)
    uv = normalised(joints)[:, :, None]  # (B, 17, 1, 2) normalised image coords
    ua, ub = normalised(a), normalised(b)  # (B, K, 2)
    ab = (ub - ua)[:, None]
    rel = uv - ua[:, None]
    t = ((rel * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)  # (B, 17, K)
    dist = (rel - t[..., None] * ab).norm(dim=-1)
    depth = a[:, None, :, 2] + t * (b[:, None, :, 2] - a[:, None, :, 2])
    behind = (dist * depth < radius) & (joints[..., 2:3] > depth + margin) & ~exclude
    hidden = behind.any(-1)
    head = joints[:, [3, 4]].mean(1)
    view = head / head.norm(dim=-1, keepdim=True)  # camera -> head direction
    depth_rel = ((joints[:, FACE] - head[:, None]) * view[:, None]).sum(-1)
    face_margin = torch.tensor([cfg.face_margin] * 3 + [cfg.ear_margin] * 2, device=joints.device)
    hidden[:, FACE] |= depth_rel > face_margin
    return hidden


def _kumaraswamy(gen: torch.Generator, shape: tuple[int, ...], ab: tuple[float, float], device) -> torch.Tensor:
    """Beta-like Kumaraswamy(a, b) samples by inverse CDF (torch's Beta ignores generators)."""
    a, b = ab
    u = torch.rand(shape, generator=gen, device=device)
    return (1 - (1 - u) ** (1 / b)) ** (1 / a)


def corrupt(keypoints: torch.Tensor, joints: torch.Tensor, focal: torch.Tensor, image_size: torch.Tensor,
            generator: torch.Generator, velocity: torch.Tensor | None = None,
            cfg: CorruptionConfig | None = None) -> Corrupted:
    """Corrupt clean keypoints (B, 17, 2) px given camera-frame joints (B, 17, 3), focal (B, 2),
    image size (B, 2) = (W, H) and optional keypoint velocities (B, 17, 2) px/frame.

    Per-joint masks are in ground-truth joint order; swaps permute the output keypoints and
    confidences.
    """
    cfg = cfg or CorruptionConfig()
    g, dev = generator, keypoints.device
    bsz, num = keypoints.shape[:2]
    rand = lambda *shape: torch.rand(shape, generator=g, device=dev)  # noqa: E731
    randn = lambda *shape: torch.randn(shape, generator=g, device=dev)  # noqa: E731
    size = image_size.to(keypoints)
    exact = rand(bsz) < cfg.exact_prob if cfg.exact_prob > 0 else torch.zeros(bsz, dtype=torch.bool, device=dev)

    scale = focal[:, 0] * NOMINAL_HEIGHT / joints[..., 2].mean(1).clamp_min(1e-3)  # (B,) px
    self_occ = self_occlusion(joints, cfg)
    lo, hi = keypoints.min(1).values, keypoints.max(1).values  # the person's box
    frac = cfg.box_size[0] + rand(bsz, 2) * (cfg.box_size[1] - cfg.box_size[0])
    box_wh = (hi - lo).clamp_min(0.1 * scale[:, None]) * frac
    box_c = lo + rand(bsz, 2) * (hi - lo)
    in_box = ((keypoints - box_c[:, None]).abs() < box_wh[:, None] / 2).all(-1)
    box_occ = in_box & (rand(bsz, 1) < cfg.box_prob)
    occluded = self_occ | box_occ

    severity = torch.exp(cfg.severity_log_sd * randn(bsz, 1)) * ~exact[:, None]
    oks = OKS_SIGMAS.to(dev)
    sigma = (oks / oks.mean()) * severity * (cfg.relative * oks.mean() * scale[:, None] + cfg.floor_px)
    sigma = sigma * torch.where(occluded, cfg.occluded_noise, 1.0)
    if velocity is not None:
        sigma = sigma + cfg.motion * velocity.norm(dim=-1) * ~exact[:, None]
    noisy = keypoints + sigma[..., None] * randn(bsz, num, 2)
    outlier = (rand(bsz, num) < cfg.outlier_prob) & ~exact[:, None]
    noisy = noisy + outlier[..., None] * cfg.outlier_scale * scale[:, None, None] * randn(bsz, num, 2)
    conf = torch.where(occluded, _kumaraswamy(g, (bsz, num), cfg.occluded_conf, dev),
                       _kumaraswamy(g, (bsz, num), cfg.visible_conf, dev))

    swapped = (rand(bsz) < cfg.swap_prob) & ~exact
    group = torch.randint(len(SWAP_GROUPS), (bsz,), generator=g, device=dev)
    perm = torch.arange(num, device=dev).repeat(bsz, 1)
    for gi, left in enumerate(SWAP_GROUPS):
        rows = (swapped & (group == gi))[:, None]
        right = [RIGHT[LEFT.index(j)] for j in left]
        perm[:, left] = torch.where(rows, torch.tensor(right, device=dev), perm[:, left])
        perm[:, right] = torch.where(rows, torch.tensor(left, device=dev), perm[:, right])
    noisy = noisy.gather(1, perm[..., None].expand(-1, -1, 2))
    conf = conf.gather(1, perm)

    missed = (rand(bsz, num) < cfg.miss_prob) | (occluded & (rand(bsz, num) < cfg.miss_prob_occluded))
    truncated = ((keypoints < 0) | (keypoints > size[:, None] - 1)).any(-1)
    low = cfg.truncated_conf[0] + rand(bsz, num) * (cfg.truncated_conf[1] - cfg.truncated_conf[0])
    conf = torch.where(truncated, torch.where(rand(bsz, num) < cfg.truncated_zero_prob, 0.0, low), conf)
    conf = torch.where(missed, 0.0, conf)
    noisy = torch.minimum(noisy.clamp_min(0), size[:, None] - 1)
    count = (occluded | missed | truncated)[:, BODY].sum(1)
    return Corrupted(keypoints=noisy, confidence=conf, occluded=count >= cfg.occluded_min_joints,
                     self_occluded=self_occ, box_occluded=box_occ, missed=missed, truncated=truncated,
                     swapped=swapped)


@dataclass
class WorldNoiseConfig:
    """A MediaPipe-like 3D estimate of the joints (its world landmarks), from the ground truth."""

    keep_prob: float = 0.7  # the rest of the samples get no 3D prior (sources without one)
    rotation_sd_deg: float = 8.0  # its global orientation is off by a small rotation
    scale_sd: float = 0.07  # and its size by a few per cent
    sigma_xy_m: float = 0.035  # per-joint error across the view
    sigma_z_m: float = 0.07  # and in depth, where a monocular estimate is weakest
    hips: tuple[int, int] = (11, 12)  # COCO-17 hips: the estimate is centred between them


def simulate_world(joints: torch.Tensor, generator: torch.Generator,
                   cfg: WorldNoiseConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisy hip-centred 3D prior (B, J, 3) of camera-frame joints (B, J, 3) and its per-joint
    weight (B, J): 1, or 0 for the whole sample (``1 - keep_prob`` of samples: no 3D prior).

    The real detector's mistakes come from the cache of MediaPipe on renders (fine-tuning stage);
    this is the cheap stand-in every synthetic batch can have.
    """
    cfg = cfg or WorldNoiseConfig()
    g, dev = generator, joints.device
    bsz, num = joints.shape[:2]
    centred = joints - joints[:, list(cfg.hips)].mean(1, keepdim=True)
    axis = torch.randn(bsz, 3, generator=g, device=dev)
    angle = torch.randn(bsz, 1, generator=g, device=dev) * math.radians(cfg.rotation_sd_deg)
    rotation = roma.rotvec_to_rotmat(axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-9) * angle)
    scale = 1 + cfg.scale_sd * torch.randn(bsz, 1, 1, generator=g, device=dev)
    sigma = torch.tensor([cfg.sigma_xy_m, cfg.sigma_xy_m, cfg.sigma_z_m], device=dev)
    world = scale * centred @ rotation.transpose(1, 2) + sigma * torch.randn(bsz, num, 3, generator=g, device=dev)
    keep = (torch.rand(bsz, 1, generator=g, device=dev) < cfg.keep_prob).float().expand(bsz, num)
    return world * keep[..., None], keep
