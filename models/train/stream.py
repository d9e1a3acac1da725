"""Training batches generated as training runs: no dataset on disk, no per-step disk reads.

``TrainingStream`` is a drop-in for ``models.train.data.SyntheticBatches`` (same ``Batch``,
same ``train_batch`` / ``validation_batches`` / ``get_state`` / ``set_state`` / ``num_coarse`` /
``num_joints`` / ``data_scale`` / ``rest_coarse``), so ``models.train`` uses either. Each batch:

1. **poses**: the hand-made sampler ``models.synth.poses.sample_poses`` and, a fraction
   ``mocap_fraction`` of the samples (binomially drawn per batch), real mocap poses from
   ``models.synth.mocap.sample_mocap_poses(n, rng, split="train")``, a share ``arm_swap`` of
   them (training batches only) with the arms of another frame; **shapes**:
   ``models.synth.shapes.sample_shapes`` (numpy, on the CPU: these samplers are the one home of
   those distributions);
2. the **coarse mesh and COCO-17 joints** of those bodies by ``models.body.anny_lbs`` (the compact
   LBS export of anny, exact to float32 rounding; anny's model cache is not needed), on the
   training device;
3. **cameras** from ``models.synth.camera.sample_cameras`` (it frames the canonical coarse
   vertices, so those come back to the CPU once per batch: 64 × 256 × 3 floats);
4. on the device: placement in the camera, **projection** (``camera.project``), detector-like
   **corruption** (``models.synth.corruption.corrupt``; a share ``exact_2d`` of the training
   samples keeps its exact keypoints) and the **prior**
   (``models.prior.build_prior``), exactly as ``SyntheticBatches`` does with stored samples.

Optional 3D condition: ``world_fn(joints_rel, generator) -> (world, confidence)`` receives the
ground-truth root-relative COCO-17 joints (B, 17, 3) (camera axes, metres) and the batch's torch
generator, and returns a MediaPipe-like 3D prior (B, 17, 3) and its per-joint confidence (B, 17),
passed as ``build_prior(..., world=world, world_confidence=confidence)``; e.g.
``models.synth.corruption.simulate_world`` (what ``models.train --stream`` plugs in, as the disk
path draws it). Without it the batches carry no 3D prior.

Reproducible: batch ``i`` of a stream depends only on ``(seed, rank, i)`` and the batch size (a numpy generator
seeded with that key, and a torch generator seeded from it for the device-side draws), so the
state to checkpoint is the step count and each rank of a multi-process run draws its own shard.
Validation batches use a separate key (``VAL``), the same for every rank and every training seed.
On a CUDA device the float results differ from the CPU's by rounding only.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import roma
import torch

from models.body.anny_lbs import AnnyLBS, load_anny_lbs
from models.prior import Prior, build_prior
from models.synth.anatomy import PoseSpace
from models.camera import project
from models.synth.camera import sample_cameras
from models.synth.corruption import CorruptionConfig, corrupt
from models.synth.poses import sample_poses
from models.synth.shapes import sample_shapes
from models.train.data import Batch

TRAIN, VAL, SCALE = 0, 1, 2  # stream kinds in the seed key
SCALE_SAMPLES = 2048  # samples that fix data_scale (a fixed key: every seed and rank agrees)
VAL_CHUNK = 256  # validation samples per random stream: a larger val_size extends a smaller one
WorldFn = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def _mocap_sampler():
    """``models.synth.mocap.sample_mocap_poses`` with its retargeted set loaded (once, in memory),
    or None where this checkout lacks it."""
    try:
        from models.synth.mocap import load_mocap, sample_mocap_poses
    except ImportError:
        return None
    try:
        load_mocap()
    except FileNotFoundError as err:
        raise ValueError(f"mocap_fraction > 0 needs the mocap data: {err}") from None
    return sample_mocap_poses


class TrainingStream:
    """Seeded, reproducible training batches computed on the fly (see the module docstring)."""

    def __init__(self, seed: int = 0, device: str | torch.device = "cpu", rank: int = 0, mocap_fraction: float = 0.0,
                 world_fn: WorldFn | None = None, val_size: int = 256, lbs: AnnyLBS | None = None,
                 workers: int = 0, arm_swap: float = 0.0, exact_2d: float = 0.0) -> None:
        if not 0.0 <= mocap_fraction <= 1.0:
            raise ValueError(f"mocap_fraction must be in [0, 1], got {mocap_fraction}")
        if not 0.0 <= arm_swap <= 1.0:
            raise ValueError(f"arm_swap must be in [0, 1], got {arm_swap}")
        if not 0.0 <= exact_2d <= 1.0:
            raise ValueError(f"exact_2d must be in [0, 1], got {exact_2d}")
        self.mocap = _mocap_sampler() if mocap_fraction > 0 else None
        if mocap_fraction > 0 and self.mocap is None:
            raise ValueError("mocap_fraction > 0 needs models.synth.mocap.sample_mocap_poses, which is not there yet")
        self.seed, self.rank, self.device = seed, rank, torch.device(device)
        self.mocap_fraction, self.world_fn, self.val_size = mocap_fraction, world_fn, val_size
        self.arm_swap, self.exact_2d = arm_swap, exact_2d
        self.lbs = (lbs or load_anny_lbs()).to(self.device)
        self.space = PoseSpace(self.lbs.skeleton())
        self.step = 0
        self.workers = workers
        self._prefetch = None  # (batch size, iterator over (step, host stage)) with workers
        self.layout = None

    @property
    def num_coarse(self) -> int:
        return self.lbs.num_coarse

    @property
    def num_joints(self) -> int:
        return 17

    def data_scale(self) -> float:
        """Std of the root-relative coarse coordinates (metres, rounded): the state's unit."""
        batches = [self.sample(VAL_CHUNK, (0, SCALE, i)) for i in range(SCALE_SAMPLES // VAL_CHUNK)]
        rel = torch.cat([b.coarse - b.transl[:, None] for b in batches])
        return round(float(rel.std()), 3)

    def rest_coarse(self) -> torch.Tensor:
        """The neutral body's zero-pose coarse vertices (canonical frame) that fix the token order."""
        return self.lbs.rest_coarse()[0].cpu()

    def poses(self, n: int, rng: np.random.Generator, arm_swap: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Poses (n, P, 3) and pelvis orientations (n, 3): mocap and hand-made, mixed (without
        ``arm_swap``, the same draws, in the same order, as ``models.synth.dataset.SampleGenerator.poses``)."""
        k = int(rng.binomial(n, self.mocap_fraction)) if self.mocap is not None else 0
        parts = []
        if k:
            parts.append(self.mocap(k, rng, "train", self.space, arm_swap=arm_swap))
        if n - k:
            parts.append(sample_poses(n - k, rng, self.space))
        return torch.cat([p.pose for p in parts]).float(), torch.cat([p.body_orient for p in parts]).float()

    @torch.no_grad()
    def sample(self, n: int, key: tuple[int, ...], index_offset: int = 0) -> Batch:
        """``n`` fresh samples drawn from the random stream seeded with ``key`` (a tuple of ints)."""
        return self._device_stage(self._host_stage(n, key, self.lbs), index_offset)

    @torch.no_grad()
    def _host_stage(self, n: int, key: tuple[int, ...], lbs: AnnyLBS) -> dict:
        """The numpy draws (poses, shapes, cameras) and the canonical bodies (LBS on ``lbs``'s device)."""
        rng = np.random.default_rng(list(key))
        train = key[1] == TRAIN
        pose, body_orient = self.poses(n, rng, self.arm_swap if train else 0.0)
        shape = torch.as_tensor(sample_shapes(n, rng))
        dev = lbs.basis.device
        body = lbs(pose.to(dev), shape.to(dev))
        cams = sample_cameras(body.coarse.cpu(), body_orient, rng)
        t = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        return {"coarse": body.coarse, "joints": body.joints, "focal": t(cams.focal), "principal": t(cams.principal),
                "image_size": t(cams.image_size), "transl": t(cams.transl), "orient": t(cams.global_orient),
                "seed": int(rng.integers(2 ** 62)), "exact_2d": self.exact_2d if train else 0.0}

    @torch.no_grad()
    def _device_stage(self, host: dict, index_offset: int) -> Batch:
        """Placement in the camera, projection, corruption, 3D condition and prior, on the device."""
        dev = self.device
        gen = torch.Generator(device=dev).manual_seed(host["seed"])
        t = lambda key: host[key].to(dev)  # noqa: E731
        focal, principal, image_size, transl = t("focal"), t("principal"), t("image_size"), t("transl")
        rot = roma.rotvec_to_rotmat(t("orient"))
        coarse = t("coarse") @ rot.transpose(1, 2) + transl[:, None]
        joints = t("joints") @ rot.transpose(1, 2) + transl[:, None]
        n = coarse.shape[0]
        keypoints = project(joints, focal, principal)
        noisy = corrupt(keypoints, joints, focal, image_size, gen, cfg=CorruptionConfig(exact_prob=host["exact_2d"]))
        world = world_conf = None
        if self.world_fn is not None:
            world, world_conf = self.world_fn(joints - transl[:, None], gen)
        prior = build_prior(noisy.keypoints, noisy.confidence, focal, principal, image_size, world=world,
                            world_confidence=world_conf)
        h0 = None
        if self.layout is not None:
            h0 = self.layout.pack(coarse - transl[:, None], joints - transl[:, None])
        index = torch.arange(index_offset, index_offset + n, device=dev)
        return Batch(h0=h0, prior=prior, coarse=coarse, joints=joints, transl=transl, occluded=noisy.occluded,
                     index=index)

    def train_batch(self, size: int) -> Batch:
        """The next batch of this rank's shard (batch ``step`` of key ``(seed, TRAIN, rank, step)``).

        With ``workers`` > 0 the host stage (numpy samplers, LBS and cameras: the bulk of the cost)
        runs ahead in that many CPU worker processes (LBS on their CPU); the same batches, in order.
        """
        if not self.workers:
            batch = self.sample(size, (self.seed, TRAIN, self.rank, self.step), index_offset=self.step * size)
        else:
            if self._prefetch is None or self._prefetch[0] != size:
                self._prefetch = (size, iter(self._loader(size)))
            step, host = next(self._prefetch[1])
            assert step == self.step, (step, self.step)
            batch = self._device_stage(host, index_offset=step * size)
        self.step += 1
        return batch

    def _loader(self, size: int):
        lbs_cpu = self.lbs if self.device.type == "cpu" else load_anny_lbs()
        return torch.utils.data.DataLoader(_HostStages(self, lbs_cpu, size, self.step), batch_size=None,
                                           num_workers=self.workers, prefetch_factor=2)

    def validation_batches(self, size: int) -> list[Batch]:
        """A fixed set of ``val_size`` samples (the same for every seed, rank and ``size``) in batches of ``size``."""
        chunks = [self.sample(min(VAL_CHUNK, self.val_size - start), (0, VAL, start // VAL_CHUNK), index_offset=start)
                  for start in range(0, self.val_size, VAL_CHUNK)]
        whole = chunks[0] if len(chunks) == 1 else _cat(chunks)
        return [_slice(whole, slice(start, start + size)) for start in range(0, self.val_size, size)]

    def get_state(self) -> torch.Tensor:
        return torch.tensor([self.step], dtype=torch.int64)

    def set_state(self, state: torch.Tensor) -> None:
        self.step = int(state[0])
        self._prefetch = None


class _HostStages(torch.utils.data.IterableDataset):
    """Host stages of steps ``start, start + 1, ...``: worker ``w`` of ``W`` makes steps ``start + w + k W``,
    which the DataLoader's round-robin over workers returns in step order."""

    def __init__(self, stream: TrainingStream, lbs: AnnyLBS, size: int, start: int) -> None:
        self.stream, self.lbs, self.size, self.start = stream, lbs, size, start

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        w, num = (0, 1) if info is None else (info.id, info.num_workers)
        s = self.stream
        step = self.start + w
        while True:
            yield step, s._host_stage(self.size, (s.seed, TRAIN, s.rank, step), self.lbs)
            step += num


def _slice(batch: Batch, idx: slice) -> Batch:
    cut = lambda t: None if t is None else t[idx]  # noqa: E731
    return Batch(h0=cut(batch.h0), prior=batch.prior.index(idx), coarse=cut(batch.coarse), joints=cut(batch.joints),
                 transl=cut(batch.transl), occluded=cut(batch.occluded), index=cut(batch.index))


def _cat(batches: list[Batch]) -> Batch:
    join = lambda name: None if getattr(batches[0], name) is None else torch.cat([getattr(b, name) for b in batches])  # noqa: E731
    return Batch(h0=join("h0"), prior=Prior.cat([b.prior for b in batches]), coarse=join("coarse"),
                 joints=join("joints"), transl=join("transl"), occluded=join("occluded"), index=join("index"))
