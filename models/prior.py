"""The 2D pose prior U: per-joint heatmaps in a square crop around the detected keypoints.

Used identically by training (corrupted synthetic keypoints) and the live pipeline (MediaPipe
landmarks mapped to COCO-17). Pure torch, vectorised over the batch.

Conventions: image pixels have their centres at whole coordinates (``u = f*x/z + c``). The crop
is a square of side ``crop_side`` image pixels centred at ``crop_center``; heatmap pixel ``i``
covers crop coordinates ``[i, i+1)`` (its centre at ``i + 0.5``), so an image point ``u`` lands at
``(u - crop_center + crop_side/2) / crop_side * S`` in heatmap pixels and at
``(u - crop_center) / (crop_side/2)`` in normalised crop coordinates (-1 and 1 are the crop's
outer edges, as ``grid_sample(align_corners=False)``).

Heatmaps: a Gaussian per joint at the keypoint, evaluated at the heatmap pixel centres and
normalised to sum to 1 over the crop, with width (heatmap pixels, for S = 64; scaled with S)

    sigma = SIGMA_A + SIGMA_B * (1 - confidence),   SIGMA_A = 1.5, SIGMA_B = 4.0

i.e. 1.5 px (2.3 % of the crop) for a sure joint and up to 5.5 px for a doubtful one. A joint's
weight is its confidence, and 0 (with an all-zero heatmap) when it is missed (confidence 0) or
its keypoint falls outside the crop. A joint with confidence 0 is unseen: its coordinates (2D and
3D, NaN included) are replaced by zeros before anything reads them, so they cannot change the result.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import torch

from models.camera import project

SIGMA_A = 1.5
SIGMA_B = 4.0
CROP_MARGIN = 1.25  # crop side / larger side of the confident keypoints' box
BOX_MIN_CONFIDENCE = 0.3  # keypoints that define the crop
MIN_SIDE_FRACTION = 0.05  # of the image's larger side


@dataclass
class Prior:
    keypoints: torch.Tensor  # (B, J, 2) image pixels
    confidence: torch.Tensor  # (B, J) in [0, 1]
    weights: torch.Tensor  # (B, J): confidence, 0 when missed or outside the crop
    keypoints_hm: torch.Tensor  # (B, J, 2) heatmap pixels
    keypoints_norm: torch.Tensor  # (B, J, 2) normalised crop coordinates, [-1, 1] inside
    sigma: torch.Tensor  # (B, J) heatmap pixels
    heatmap_x: torch.Tensor  # (B, J, S) the Gaussian's x factor, sums to 1 (0 for weight 0)
    heatmap_y: torch.Tensor  # (B, J, S) its y factor, sums to 1 (0 for weight 0)
    crop_center: torch.Tensor  # (B, 2) image pixels
    crop_side: torch.Tensor  # (B,) image pixels
    focal: torch.Tensor  # (B, 2)
    principal: torch.Tensor  # (B, 2)
    image_size: torch.Tensor  # (B, 2) = (width, height)
    # Optional 3D prior (MediaPipe's world landmarks mapped to the same joints): root-centred
    # metres in camera-like axes, and per-joint weights; None when the source has none.
    world: torch.Tensor | None = None  # (B, J, 3)
    world_weights: torch.Tensor | None = None  # (B, J)

    @property
    def heatmap_size(self) -> int:
        return self.heatmap_x.shape[-1]

    @cached_property
    def heatmaps(self) -> torch.Tensor:
        """U (B, J, S, S) float32, rows = y: each sums to 1, or is all zero where the weight is 0.

        Materialised on first use (71 MB for B = 256, J = 17, S = 64: memory-bound on a CPU).
        """
        return self.heatmap_y[..., :, None] * self.heatmap_x[..., None, :]

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    def _expand(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """(B, k) -> (B, 1, ..., k) to broadcast against ``like`` (B, ..., k)."""
        return t.reshape((t.shape[0],) + (1,) * (like.dim() - 2) + t.shape[1:])

    def image_to_heatmap(self, uv: torch.Tensor) -> torch.Tensor:
        """Image pixels (B, ..., 2) to heatmap pixels."""
        origin = self._expand(self.crop_center - self.crop_side[:, None] / 2, uv)
        return (uv - origin) / self._expand(self.crop_side[:, None], uv) * self.heatmap_size

    def heatmap_to_image(self, hm: torch.Tensor) -> torch.Tensor:
        """Heatmap pixels (B, ..., 2) back to image pixels."""
        origin = self._expand(self.crop_center - self.crop_side[:, None] / 2, hm)
        return hm / self.heatmap_size * self._expand(self.crop_side[:, None], hm) + origin

    def project_to_heatmap(self, points_cam: torch.Tensor) -> torch.Tensor:
        """Camera-frame points (B, ..., 3) to heatmap pixels (B, ..., 2) (perspective, then crop)."""
        return self.image_to_heatmap(project(points_cam, self.focal, self.principal))

    def bbox_info(self) -> torch.Tensor:
        """CLIFF-style crop descriptor (B, 3): ((cx - c_x)/f, (cy - c_y)/f, side/f)."""
        offset = (self.crop_center - self.principal) / self.focal
        return torch.cat([offset, (self.crop_side / self.focal[:, 0])[:, None]], dim=1)

    def _map(self, fn) -> "Prior":
        """A prior with ``fn`` applied to every tensor (absent optional ones stay None)."""
        return Prior(**{f.name: None if (t := getattr(self, f.name)) is None else fn(t) for f in fields(self)})

    def to(self, device: torch.device | str) -> "Prior":
        return self._map(lambda t: t.to(device))

    def index(self, idx: int | slice | torch.Tensor) -> "Prior":
        """The sub-batch ``idx`` (an int keeps a batch of one)."""
        idx = slice(idx, idx + 1) if isinstance(idx, int) else idx
        return self._map(lambda t: t[idx])

    def mirrored(self, twins: list[int]) -> "Prior":
        """The prior of the image mirrored about the principal point's column (u → 2c_x − u), each
        joint taking its left/right twin's place (``twins``) and the 3D prior's x negated: what a
        mirrored camera would give (built anew, so heatmaps, crop and weights follow)."""
        from models.body.mirror import mirror_points  # the body package is heavy for this module

        keypoints = self.keypoints[:, twins].clone()
        keypoints[..., 0] = 2 * self.principal[:, None, 0] - keypoints[..., 0]
        world = None if self.world is None else mirror_points(self.world, twins)
        return build_prior(keypoints, self.confidence[:, twins], self.focal, self.principal, self.image_size,
                           heatmap_size=self.heatmap_size, world=world,
                           world_confidence=None if self.world is None else self.world_weights[:, twins])

    @staticmethod
    def cat(priors: list["Prior"]) -> "Prior":
        """Priors joined along the batch; the 3D prior is kept only if every one has it."""
        def join(name: str) -> torch.Tensor | None:
            parts = [getattr(p, name) for p in priors]
            return None if any(t is None for t in parts) else torch.cat(parts)

        return Prior(**{f.name: join(f.name) for f in fields(Prior)})


def crop_box(keypoints: torch.Tensor, confidence: torch.Tensor, image_size: torch.Tensor,
             margin: float = CROP_MARGIN) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crop (centre (B, 2), side (B,)) around the keypoints with confidence >=
    BOX_MIN_CONFIDENCE (all keypoints with confidence > 0 if fewer than two; the whole image if none)."""
    sure = confidence >= BOX_MIN_CONFIDENCE
    use = torch.where((sure.sum(1, keepdim=True) >= 2), sure, confidence > 0)
    big = torch.finfo(keypoints.dtype).max
    lo = torch.where(use[..., None], keypoints, big).amin(1)
    hi = torch.where(use[..., None], keypoints, -big).amax(1)
    any_used = use.any(1)
    size = image_size.to(keypoints)
    whole_centre, whole_side = (size - 1) / 2, size.amax(1)  # models.camera.image_centre, in torch
    centre = torch.where(any_used[:, None], (lo + hi) / 2, whole_centre)
    side = torch.where(any_used, (hi - lo).amax(1) * margin, whole_side)
    return centre, side.clamp_min(MIN_SIDE_FRACTION * whole_side)


def build_prior(keypoints: torch.Tensor, confidence: torch.Tensor, focal: torch.Tensor, principal: torch.Tensor,
                image_size: torch.Tensor, heatmap_size: int = 64, margin: float = CROP_MARGIN,
                world: torch.Tensor | None = None, world_confidence: torch.Tensor | None = None) -> Prior:
    """The prior for keypoints (B, J, 2) px with confidences (B, J) and the camera (see module doc).

    ``world`` (B, J, 3): an optional 3D prior of the same joints (metres, root-centred), weighted
    by the same confidences, or by ``world_confidence`` (B, J) where given (0 for a sample: no 3D
    prior for it; never above the 2D confidence, so an unseen joint stays unseen).
    """
    confidence = torch.nan_to_num(confidence.float(), nan=0.0).clamp(0, 1)
    # Unseen joints are unseen: a confidence-0 joint's coordinates (and its 3D prior) are not read.
    seen = confidence[..., None] > 0
    keypoints = torch.where(seen, keypoints.float(), 0.0)
    world = None if world is None else torch.where(seen, world.float(), 0.0)
    focal, principal, image_size = focal.float(), principal.float(), image_size.float()
    centre, side = crop_box(keypoints, confidence, image_size, margin)
    s = heatmap_size
    kp_hm = (keypoints - (centre - side[:, None] / 2)[:, None]) / side[:, None, None] * s
    kp_norm = torch.where(seen, (keypoints - centre[:, None]) / (side[:, None, None] / 2), 0.0)
    inside = (kp_norm.abs() <= 1).all(-1)
    weights = torch.where(inside, confidence, 0.0)
    sigma = (SIGMA_A + SIGMA_B * (1 - confidence)) * (s / 64)
    grid = torch.arange(s, device=keypoints.device, dtype=torch.float32) + 0.5
    # Separable Gaussian, each axis normalised with a softmax: exact sum 1, no underflow.
    g = torch.softmax(-((grid - kp_hm[..., None]) ** 2) / (2 * sigma[..., None, None] ** 2), dim=-1)  # (B, J, 2, S)
    return Prior(keypoints=keypoints, confidence=confidence, weights=weights, keypoints_hm=kp_hm,
                 keypoints_norm=kp_norm, sigma=sigma, heatmap_x=g[..., 0, :],
                 heatmap_y=g[..., 1, :] * (weights > 0)[..., None], crop_center=centre, crop_side=side,
                 focal=focal, principal=principal, image_size=image_size,
                 world=world, world_weights=None if world is None else
                 confidence if world_confidence is None else torch.minimum(world_confidence.float(), confidence))
