"""Multi-process training (torchrun + DistributedDataParallel, gloo on CPU): replicas agree, and two
processes with batch B compute the gradient of one process with batch 2B."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank: int, world: int, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))


def _finish() -> None:
    """Leave the process group together (a rank that leaves first can leave the other waiting)."""
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def _spawn(fn, *args, seconds: float = 180.0) -> None:
    """Two worker processes running ``fn(rank, 2, port, *args)``; a hung pair is killed and run once more
    on a fresh port (a rendezvous on a just-freed port can stall), then the test fails, never hangs."""
    for attempt in range(2):
        context = mp.start_processes(fn, args=(2, _free_port(), *args), nprocs=2, join=False, start_method="spawn")
        deadline = time.monotonic() + seconds
        while not context.join(timeout=2):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.kill()
                break
        else:
            return
    pytest.fail(f"DDP workers did not finish within {seconds:.0f} s, twice")


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_identical_replicas(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "models.train", "--stream", "--out", str(out), "--preset", "tiny", "--iterations", "4",
           "--val-every", "2", "--val-size", "16", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4]
    # The replicas saw different shards yet hold identical weights after every step.
    assert all(h["world_size"] == 2 and h["replica_max_abs_diff"] == 0.0 for h in history)
    assert proc.stdout.count("done:") == 1  # only rank 0 reports


def _replica_worker(rank: int, world: int, port: int, result: str) -> None:
    _env(rank, world, port)
    from models.train.ddp import init_distributed, replica_max_diff

    info = init_distributed("cpu")
    net = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(net.weight, 1.0)
    torch.nn.init.constant_(net.bias, 0.5)
    same = replica_max_diff(net, info)
    if rank == 1:
        with torch.no_grad():
            net.weight[0, 0] += 0.25
    diff = replica_max_diff(net, info)
    torch.save({"same": same, "diff": diff}, f"{result}.{rank}")
    _finish()


@pytest.mark.slow
def test_replica_check_detects_diverged_weights(tmp_path):
    result = str(tmp_path / "replica")
    _spawn(_replica_worker, result)
    for rank in range(2):
        out = torch.load(f"{result}.{rank}")
        assert out["same"] == 0.0 and abs(out["diff"] - 0.25) < 1e-6


def _tiny_model():
    from models.hmdiff import DATConfig, HMDiff, HMDiffConfig
    from models.hmdiff.denoiser import DenoiserConfig
    from models.hmdiff.state import StateLayout

    torch.manual_seed(0)
    layout = StateLayout(num_coarse=256, num_joints=17, data_scale=0.289, order=list(range(256)))
    net = DenoiserConfig(num_points=273, group_size=8, num_cond_joints=17, dim=32, depth=1, heads=2)
    return HMDiff(HMDiffConfig(denoiser=net, layout=layout, dat=DATConfig()))


def _batch(layout):
    from models.train.stream import TrainingStream

    stream = TrainingStream(seed=11)
    stream.layout = layout
    batch = stream.train_batch(8)
    gen = torch.Generator().manual_seed(5)
    k = torch.randint(1, 1001, (8,), generator=gen)
    h_k = torch.randn(batch.h0.shape, generator=gen)
    return batch, k, h_k


def _grad_worker(rank: int, world: int, port: int, result: str) -> None:
    _env(rank, world, port)
    torch.set_num_threads(1)
    from models.train.ddp import data_parallel, init_distributed

    info = init_distributed("cpu")
    model = _tiny_model()
    predict = data_parallel(model, info)
    batch, k, h_k = _batch(model.layout)
    half = slice(4 * rank, 4 * rank + 4)
    pred = predict(h_k[half], k[half], batch.prior.index(half))
    loss = (pred - batch.h0[half]).square().mean()  # the mean over this rank's half batch
    loss.backward()
    torch.save({n: p.grad for n, p in model.net.named_parameters()}, f"{result}.{rank}")
    _finish()


@pytest.mark.slow
def test_two_processes_with_batch_b_give_the_gradient_of_batch_2b(tmp_path):
    """DDP averages the ranks' gradients: the mean loss over 2 x 4 samples in two processes has the
    gradient of the mean loss over those 8 samples in one."""
    result = str(tmp_path / "grad")
    _spawn(_grad_worker, result)
    model = _tiny_model()
    batch, k, h_k = _batch(model.layout)
    loss = (model.net(h_k, k, model.condition(batch.prior)) - batch.h0).square().mean()
    loss.backward()
    ranks = [torch.load(f"{result}.{r}") for r in range(2)]
    for name, p in model.net.named_parameters():
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.allclose(ranks[0][name], p.grad, atol=1e-6, rtol=1e-4), name
