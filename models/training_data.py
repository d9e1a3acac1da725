"""Batches for training and evaluation: synthetic samples → (clean state h_0, prior from corrupted 2D).

Each batch draws fresh detector-like corruption of the clean 2D keypoints and a MediaPipe-like 3D
estimate (``simulate_world``, absent for some samples), and builds the prior exactly as the live
pipeline does (``models.prior.build_prior``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.prior import Prior, build_prior
from models.synth.corruption import corrupt, simulate_world
from models.synth.dataset import load_dataset


@dataclass
class Batch:
    h0: torch.Tensor | None  # (B, N, 3) normalised clean state (None before a layout is known)
    prior: Prior
    coarse: torch.Tensor  # (B, Vc, 3) camera frame, metres
    joints: torch.Tensor  # (B, 17, 3) COCO-17 camera frame, metres
    transl: torch.Tensor  # (B, 3) pelvis
    occluded: torch.Tensor  # (B,) bool
    index: torch.Tensor  # (B,) sample indices


class SyntheticBatches:
    """Training / validation batches from a dataset written by ``python -m models.synth``."""

    def __init__(self, path: str, val_size: int = 256, seed: int = 0) -> None:
        self.data = load_dataset(path)
        n = len(self.data["transl"])
        if n <= val_size:
            raise ValueError(f"dataset {path} has {n} samples, need more than --val-size {val_size}")
        self.coarse = torch.as_tensor(np.asarray(self.data["coarse_vertices"], dtype=np.float32))
        self.joints = torch.as_tensor(np.asarray(self.data["joints_coco17"], dtype=np.float32))
        self.transl = torch.as_tensor(np.asarray(self.data["transl"], dtype=np.float32))
        self.keypoints = torch.as_tensor(np.asarray(self.data["keypoints_2d"], dtype=np.float32))
        self.focal = torch.as_tensor(np.asarray(self.data["focal"], dtype=np.float32))
        self.principal = torch.as_tensor(np.asarray(self.data["principal"], dtype=np.float32))
        self.image_size = torch.as_tensor(np.asarray(self.data["image_size"], dtype=np.float32))
        self.val_index = torch.arange(n - val_size, n)
        self.num_train = n - val_size
        self.generator = torch.Generator().manual_seed(seed)
        self.layout = None

    @property
    def num_coarse(self) -> int:
        return self.coarse.shape[1]

    @property
    def num_joints(self) -> int:
        return self.joints.shape[1]

    def data_scale(self) -> float:
        """Std of the root-relative coordinates (metres), rounded: the state's unit."""
        rel = self.coarse[: min(self.num_train, 20000)] - self.transl[: min(self.num_train, 20000), None]
        return round(float(rel.std()), 3)

    def rest_coarse(self) -> torch.Tensor:
        """The neutral body's coarse vertices (canonical frame) that fix the token order."""
        from models.body import load_body_model
        from models.body.coarse import load_coarse_mesh

        body = load_body_model("anny")
        with torch.no_grad():
            verts = body().vertices[0]
        return verts[load_coarse_mesh("anny", self.num_coarse).indices]

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None, layout=None) -> Batch:
        """The samples at ``index`` with freshly drawn corruption (or a seeded one)."""
        gen = generator or self.generator
        noisy = corrupt(self.keypoints[index], self.joints[index], self.focal[index], self.image_size[index], gen)
        world, keep = simulate_world(self.joints[index], gen)
        prior = build_prior(noisy.keypoints, noisy.confidence, self.focal[index], self.principal[index],
                            self.image_size[index], world=world, world_confidence=keep)
        coarse, joints, transl = self.coarse[index], self.joints[index], self.transl[index]
        layout = layout or self.layout
        h0 = layout.pack(coarse - transl[:, None], joints - transl[:, None]) if layout is not None else None
        return Batch(h0=h0, prior=prior, coarse=coarse, joints=joints, transl=transl, occluded=noisy.occluded, index=index)

    def train_batch(self, size: int) -> Batch:
        return self.batch(torch.randint(0, self.num_train, (size,), generator=self.generator))

    def validation_batches(self, size: int) -> list[Batch]:
        gen = torch.Generator().manual_seed(1234)
        return [self.batch(self.val_index[i : i + size], gen) for i in range(0, len(self.val_index), size)]

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
