"""The network and batch sizes of a training run: ``--preset cpu|gpu|tiny`` (``models.train``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Preset:
    dim: int
    depth: int
    heads: int
    group_size: int
    batch: int
    iterations: int
    lr: float


PRESETS = {
    "cpu": Preset(dim=128, depth=4, heads=4, group_size=4, batch=64, iterations=12000, lr=4e-4),
    "gpu": Preset(dim=256, depth=8, heads=8, group_size=2, batch=256, iterations=60000, lr=3e-4),
    "tiny": Preset(dim=32, depth=1, heads=2, group_size=8, batch=16, iterations=20, lr=1e-3),
}
