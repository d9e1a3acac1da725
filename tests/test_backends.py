"""Denoiser backends: every one gives eager's meshes, and one that cannot load falls back to eager."""
from __future__ import annotations

import logging

import pytest
import torch

from bench.recover import example_prior
from models.hmdiff import DATConfig, load_hmdiff
from models.hmdiff import backends
from models.hmdiff.backends import TOLERANCE, BackendUnavailable, build_backend, select_backend

MESH_TOLERANCE_MM = 0.5  # full-mesh vertices, against eager, after a whole recovery


@pytest.fixture(scope="module")
def prior():
    return example_prior()


@pytest.fixture(scope="module")
def eager_results(prior):
    return recoveries(load_hmdiff(), prior, hypotheses=(1, 4, 16))


def recoveries(model, prior, hypotheses=(1,)) -> dict[str, torch.Tensor]:
    """Full meshes of the live recoveries: cold 5 steps with DAT, warm 2 steps, and M hypotheses."""
    seed = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    cold = model.recover(prior, steps=5, generator=seed(0))
    out = {"cold5_dat": cold.vertices,
           "warm2_dat": model.recover(prior, steps=2, warm_start=cold.h0, generator=seed(1)).vertices,
           "cold5_no_dat": model.recover(prior, steps=5, dat=False, generator=seed(2)).vertices}
    for m in hypotheses[1:]:
        out[f"cold5_dat_{m}hyp"] = model.recover(prior, steps=5, hypotheses=m, generator=seed(3)).hypotheses_vertices
    return out


def assert_same_meshes(results: dict, expected: dict) -> None:
    for name, vertices in results.items():
        error_mm = (vertices - expected[name]).abs().max().item() * 1000
        assert error_mm < MESH_TOLERANCE_MM, f"{name}: {error_mm:.3f} mm from eager"


@pytest.mark.slow
@pytest.mark.parametrize("name, hypotheses", [("onnx", (1, 4, 16)), ("compile", (1,))])
def test_cpu_backends_match_eager(name, hypotheses, prior, eager_results):
    model = load_hmdiff()
    assert model.use_backend(name) == name
    assert model.sampler.infer is not model.net
    assert_same_meshes(recoveries(model, prior, hypotheses), eager_results)


@pytest.mark.slow
def test_auto_picks_onnx_on_cpu(prior):
    model = load_hmdiff()
    assert model.use_backend("auto") == "onnx"


@pytest.mark.slow
def test_exact_jacobian_dat_still_differentiates_through_eager(prior):
    """DAT with the network Jacobian needs autograd: the backend serves only inference calls."""
    dat = DATConfig(jacobian="network")
    eager = load_hmdiff().recover(prior, steps=3, dat=dat, generator=torch.Generator().manual_seed(4))
    model = load_hmdiff()
    model.use_backend("onnx")
    fast = model.recover(prior, steps=3, dat=dat, generator=torch.Generator().manual_seed(4))
    assert fast.dat_steps == eager.dat_steps > 0
    assert (fast.vertices - eager.vertices).abs().max().item() * 1000 < MESH_TOLERANCE_MM


def test_tensorrt_without_gpu_falls_back_with_one_line(caplog):
    model = load_hmdiff()
    with caplog.at_level(logging.WARNING, logger="models.hmdiff.backends"):
        assert model.use_backend("tensorrt") == "eager"
    assert model.sampler.infer is model.net
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "tensorrt unavailable" in lines[0] and "running eager" in lines[0]


@pytest.mark.slow
def test_a_backend_that_disagrees_with_eager_is_refused(monkeypatch, caplog):
    net = load_hmdiff().net
    monkeypatch.setattr(backends, "_build_onnx", lambda net, device: lambda h, k, c: net(h, k, c) + 10 * TOLERANCE)
    with pytest.raises(BackendUnavailable, match="differs from eager"):
        build_backend(net, "onnx", torch.device("cpu"))
    with caplog.at_level(logging.WARNING, logger="models.hmdiff.backends"):
        name, infer = select_backend(net, "onnx", torch.device("cpu"))
    assert (name, infer) == ("eager", net)
    assert "differs from eager" in caplog.records[0].getMessage()


@pytest.mark.slow
def test_a_backend_that_crashes_is_unavailable(monkeypatch):
    net = load_hmdiff().net

    def broken(h, k, c):
        raise RuntimeError("engine deserialisation failed")

    monkeypatch.setattr(backends, "_build_onnx", lambda net, device: broken)
    assert select_backend(net, "auto", torch.device("cpu"))[0] == "compile"


def test_engine_key_changes_with_weights_shapes_precision_and_versions():
    net = load_hmdiff().net
    key = backends.engine_key(net, 1, "float16", "v1")
    assert key == backends.engine_key(net, 1, "float16", "v1")
    assert len({key, backends.engine_key(net, 16, "float16", "v1"), backends.engine_key(net, 1, "float32", "v1"),
                backends.engine_key(net, 1, "float16", "v2")}) == 4
    with torch.no_grad():
        net.embed_out.bias[0] += 1e-3
    assert backends.engine_key(net, 1, "float16", "v1") != key


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="unknown backend"):
        build_backend(load_hmdiff().net, "cuda-magic", torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["eager", "compile", "tensorrt"])
def test_cuda_backends_match_cpu_eager(name, prior, eager_results):
    model = load_hmdiff(device="cuda")
    used = model.use_backend(name)
    if name == "tensorrt" and used == "eager":
        pytest.skip("torch-tensorrt is not installed here")
    assert used == name
    results = {k: v.cpu() for k, v in recoveries(model, prior).items()}
    assert_same_meshes(results, eager_results)
