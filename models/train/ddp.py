"""Multi-process training (torchrun + DistributedDataParallel): one process's place in the job and
the collectives the training loop calls (each is a no-op in a plain one-process run)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from models.hmdiff import HMDiff


@dataclass
class Distributed:
    """This process's place in a torchrun job (a plain run: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Distributed:
    """Join the job torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``PORT``): NCCL with ``cuda:LOCAL_RANK`` for a CUDA ``device``, else gloo.
    Without torchrun (``WORLD_SIZE`` unset or 1): one process on ``device``, no process group."""
    dev = torch.device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed(device=dev)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(), device=dev)


class _Prediction(torch.nn.Module):
    """``net(h_k, k, condition(prior))`` as one module: what DDP wraps (the denoiser's parameters only)."""

    def __init__(self, model: HMDiff) -> None:
        super().__init__()
        self.net = model.net
        self.condition = model.condition  # a bound method: not a submodule, no extra state

    def forward(self, h_k: torch.Tensor, k: torch.Tensor, prior) -> torch.Tensor:
        return self.net(h_k, k, self.condition(prior))


def data_parallel(model: HMDiff, info: Distributed):
    """The ``predict`` for ``training_loss``: None in one process, else a DDP module that averages
    gradients over the ranks during backward (and broadcast rank 0's weights when built)."""
    if info.world_size == 1:
        return None
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(_Prediction(model), device_ids=ids)


def replica_max_diff(net: torch.nn.Module, info: Distributed) -> float:
    """Max |w - w_rank0| over all weights and ranks (collective: every rank calls it); 0 in one process."""
    if info.world_size == 1:
        return 0.0
    flat = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    ref = flat.clone()
    dist.broadcast(ref, 0)
    diff = (flat - ref).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)


def mean_over_ranks(value: torch.Tensor, info: Distributed) -> float:
    """The mean of a scalar over the ranks (collective)."""
    if info.world_size == 1:
        return float(value)
    value = value.detach().clone().reshape(1)
    dist.all_reduce(value)
    return float(value) / info.world_size


def from_rank0(value: float, info: Distributed) -> float:
    """Rank 0's value of a float, on every rank (collective), e.g. a wall-clock progress."""
    if info.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.broadcast(t, 0)
    return float(t)
