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


class MediaPipeDetections:
    """MediaPipe's output cached on a rendered set (``tools/build_mediapipe_cache.py``)."""

    def __init__(self, path: str, num_samples: int) -> None:
        with np.load(path) as data:
            self.keypoints, self.visibility, self.world, self.found = (
                torch.as_tensor(data[k]) for k in ("keypoints", "visibility", "world", "found"))
        if len(self.found) != num_samples:
            raise ValueError(f"{path} caches {len(self.found)} frames, the dataset has {num_samples}")

    def replace(self, index: torch.Tensor, keypoints: torch.Tensor, confidence: torch.Tensor, world: torch.Tensor,
                keep: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The simulated detections of ``index`` with MediaPipe's where it found the person (its 3D
        prior dropped where the simulated one was, so that sources without one stay covered)."""
        found = self.found[index]
        f2, f1 = found[:, None, None], found[:, None]
        return (torch.where(f2, self.keypoints[index], keypoints), torch.where(f1, self.visibility[index], confidence),
                torch.where(f2, self.world[index] * (keep[..., None] > 0), world), keep)


class SyntheticBatches:
    """Training / validation batches from a dataset written by ``python -m models.synth``."""

    def __init__(self, path: str, val_size: int = 256, seed: int = 0, mediapipe: str | None = None) -> None:
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
        self.detected = None if mediapipe is None else MediaPipeDetections(mediapipe, n)

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
        keypoints, confidence = noisy.keypoints, noisy.confidence
        if self.detected is not None:  # MediaPipe's own output where it found the person
            keypoints, confidence, world, keep = self.detected.replace(index, keypoints, confidence, world, keep)
        prior = build_prior(keypoints, confidence, self.focal[index], self.principal[index],
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


def cat_batches(batches: list[Batch]) -> Batch:
    """Batches joined along the batch axis."""
    join = lambda name: torch.cat([getattr(b, name) for b in batches])  # noqa: E731
    return Batch(h0=None if batches[0].h0 is None else join("h0"), prior=Prior.cat([b.prior for b in batches]),
                 coarse=join("coarse"), joints=join("joints"), transl=join("transl"), occluded=join("occluded"),
                 index=join("index"))


class MixedBatches:
    """Training batches drawn from several sets in fixed shares; everything else from the first set
    (validation, layout facts). E.g. the main synthetic set plus a rendered set seen through MediaPipe."""

    def __init__(self, sets: list[SyntheticBatches], shares: list[float]) -> None:
        self.sets, self.shares = sets, shares

    def __getattr__(self, name: str):
        return getattr(self.sets[0], name)

    @property
    def layout(self):
        return self.sets[0].layout

    @layout.setter
    def layout(self, value) -> None:
        for part in self.sets:
            part.layout = value

    def train_batch(self, size: int) -> Batch:
        counts = [round(size * share) for share in self.shares[1:]]
        counts = [size - sum(counts), *counts]
        return cat_batches([part.train_batch(count) for part, count in zip(self.sets, counts) if count > 0])

    def get_state(self) -> list[torch.Tensor]:
        return [part.get_state() for part in self.sets]

    def set_state(self, state: list[torch.Tensor]) -> None:
        for part, s in zip(self.sets, state):
            part.set_state(s)
