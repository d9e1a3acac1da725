"""The diffusion state h: coarse-mesh vertices plus COCO-17 joints in a normalised frame.

Normalised frame: root-relative (pelvis at the origin), axes of the camera frame (x right, y down,
z forward), metres divided by ``data_scale`` (the per-coordinate std of the training set, ~0.35 m),
so each coordinate has roughly unit variance like the noise. Coarse vertices are stored in a
token order that keeps each group of ``group_size`` consecutive vertices spatially close.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass
class StateLayout:
    num_coarse: int
    num_joints: int
    data_scale: float
    order: list[int]  # token order of the coarse vertices (a permutation of range(num_coarse))

    @property
    def num_points(self) -> int:
        return self.num_coarse + self.num_joints

    def to_dict(self) -> dict:
        return asdict(self)

    def _orders(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(``order``, its inverse: the state rows of the coarse vertices in mesh order) as index
        tensors on ``device``, built once per device (not converted or copied at every call)."""
        cache = self.__dict__.setdefault("_order_cache", {})
        if device not in cache:
            token = torch.tensor(self.order, device=device)
            cache[device] = token, torch.argsort(token)
        return cache[device]

    def pack(self, coarse_rel: torch.Tensor, joints_rel: torch.Tensor) -> torch.Tensor:
        """Root-relative metres (B,Vc,3), (B,J,3) → normalised state (B, Vc+J, 3)."""
        order, _ = self._orders(coarse_rel.device)
        return torch.cat([coarse_rel[:, order], joints_rel], dim=1) / self.data_scale

    def unpack(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised state → root-relative metres: coarse (B,Vc,3) in mesh order, joints (B,J,3)."""
        metres = h * self.data_scale
        _, mesh_order = self._orders(h.device)
        return metres[:, mesh_order], metres[:, self.num_coarse :]


def spatial_token_order(points: torch.Tensor, group_size: int) -> list[int]:
    """Greedy grouping of points (V,3) into consecutive runs of nearby points.

    Walks the points from the lowest (feet) up; each unassigned seed takes its nearest unassigned
    neighbours until the group is full. Deterministic.
    """
    remaining = set(range(points.shape[0]))
    dist = torch.cdist(points, points)
    order: list[int] = []
    for seed in torch.argsort(points[:, 1], descending=True).tolist():
        if seed not in remaining:
            continue
        candidates = torch.tensor(sorted(remaining))
        nearest = candidates[torch.argsort(dist[seed, candidates])[:group_size]].tolist()
        order.extend(nearest)
        remaining.difference_update(nearest)
    return order
