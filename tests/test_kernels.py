"""Alignment-energy kernels against the float64 torch reference: values, gradients, edge cases.

The Triton kernel runs in subprocesses (``TRITON_INTERPRET=1`` must be set before Triton is
imported, and this process must not import Triton in interpreter mode for other tests).
"""
from __future__ import annotations

import ast
import json
import logging
import math
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import Callable

import pytest
import torch

import kernels
from kernels import AlignmentEnergy, alignment_energy
from kernels.common import LOG_EPS
from kernels.reference import alignment_energy_reference, alignment_energy_reference_with_grad

REPO_ROOT = Path(__file__).resolve().parents[1]
needs_triton = pytest.mark.skipif(find_spec("triton") is None, reason="triton is not installed")


def make_inputs(B: int, M: int, J: int, H: int, W: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float32 U (Gaussian blobs; every 4th joint a sparse random map; joint 2 of batch 0 empty), P, w."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(B, J, 2, generator=g) * torch.tensor([W - 1.0, H - 1.0])
    width = 0.7 + 2.5 * torch.rand(B, J, 1, 1, generator=g)
    rows = torch.arange(H, dtype=torch.float32)[:, None]
    cols = torch.arange(W, dtype=torch.float32)[None, :]
    U = torch.exp(-((cols - centre[..., 0, None, None]) ** 2 + (rows - centre[..., 1, None, None]) ** 2) / (2 * width**2))
    U = U / U.sum((-2, -1), keepdim=True)
    noise = torch.rand(B, J, H, W, generator=g) ** 3 * (torch.rand(B, J, H, W, generator=g) > 0.3)
    U[:, ::4] = noise[:, ::4]
    if J > 2:
        U[0, 2] = 0.0
    P = centre[:, None] + 4.0 * torch.randn(B, M, J, 2, generator=g)
    w = 0.1 + torch.rand(B, J, generator=g)
    return U, P, w


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    """max |x - ref| / max |ref| in float64."""
    assert torch.isfinite(x).all(), "non-finite kernel output"
    ref = ref.double()
    return ((x.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-300)).item()


def oracle(U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 reference on exactly the kernel's inputs."""
    return alignment_energy_reference_with_grad(U.double(), P.double(), w.double(), s)


def numba_backend():
    pytest.importorskip("numba")
    from kernels.numba_cpu import alignment_energy_numba

    return alignment_energy_numba


# ----------------------------------------------------------------------------- reference


def test_reference_gradcheck_float64() -> None:
    U, P, w = make_inputs(1, 2, 5, 7, 6, seed=0)
    U[0, 1, :3] = 0.0  # partly empty map next to the empty joint 2
    for s in (0.4, 1.7):
        Pd = P.double().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda p: alignment_energy_reference(U.double(), p, w.double(), s), (Pd,), eps=1e-6, atol=1e-7, rtol=1e-6
        )


def test_reference_definition_on_a_single_pixel() -> None:
    """One pixel of mass 0.5 at (x=2, y=1): l = log 0.5 - |x - p|^2 / 2s^2 exactly."""
    U = torch.zeros(1, 1, 4, 5, dtype=torch.float64)
    U[0, 0, 1, 2] = 0.5
    P = torch.tensor([[[[3.5, -1.0]]]], dtype=torch.float64)
    E, G = alignment_energy_reference_with_grad(U, P, torch.tensor([[2.0]], dtype=torch.float64), 0.8)
    d2 = 1.5**2 + 2.0**2
    assert E.item() == pytest.approx(-2.0 * (math.log(0.5) - d2 / (2 * 0.64)), rel=1e-12)
    assert G[0, 0, 0].tolist() == pytest.approx([2.0 * 1.5 / 0.64, -2.0 * 2.0 / 0.64], rel=1e-12)


# ----------------------------------------------------------------------------- numba


@pytest.mark.parametrize(
    "B,M,J,H,W,s",
    [(1, 1, 17, 13, 13, 1.0), (2, 64, 17, 13, 13, 2.5), (1, 3, 33, 31, 17, 0.6), (2, 5, 17, 17, 31, 4.0)],
)
def test_numba_matches_reference_float32(B: int, M: int, J: int, H: int, W: int, s: float) -> None:
    U, P, w = make_inputs(B, M, J, H, W, seed=B * 1000 + M + J + H + W)
    E, G = numba_backend()(U, P, w, s)
    E0, G0 = oracle(U, P, w, s)
    assert E.dtype == G.dtype == torch.float32
    assert E.shape == (B, M) and G.shape == (B, M, J, 2)
    assert rel_err(E, E0) < 1e-5
    assert rel_err(G, G0) < 1e-5


@pytest.mark.parametrize("s", [0.8, 3.0])
def test_numba_float16_heatmaps(s: float) -> None:
    U, P, w = make_inputs(2, 8, 17, 31, 17, seed=7)
    U16 = (U / U.amax((-2, -1), keepdim=True).clamp_min(1e-30)).half()
    E, G = numba_backend()(U16, P, w, s)
    E0, G0 = oracle(U16, P, w, s)
    assert rel_err(E, E0) < 1e-5 and rel_err(G, G0) < 1e-5  # float64 accumulation: well inside the 1e-3 budget


def central_difference(fn: Callable[[torch.Tensor], torch.Tensor], P: torch.Tensor, h: float) -> torch.Tensor:
    """d(sum E)/dP by central differences, one coordinate at a time (E[b, m] depends on P[b, m] only)."""
    grad = torch.zeros(P.shape, dtype=torch.float64)
    flat = grad.view(-1)
    for i in range(P.numel()):
        Pp, Pm = P.clone(), P.clone()
        Pp.view(-1)[i] += h
        Pm.view(-1)[i] -= h
        flat[i] = (fn(Pp).double().sum() - fn(Pm).double().sum()) / (2 * h)
    return grad


def test_numba_gradient_matches_finite_differences() -> None:
    U, P, w = make_inputs(1, 2, 5, 9, 8, seed=3)
    P = P.double()  # the kernel reads P in float64; its float32 E limits h
    nb = numba_backend()
    fd = central_difference(lambda p: nb(U, p, w, 2.0)[0], P, h=1e-2)
    _, G = nb(U, P, w, 2.0)
    assert rel_err(G, fd) < 2e-3
    assert (G[0, :, 2] == 0).all()  # empty map: no gradient


def test_numba_edge_cases_stay_finite_and_exact() -> None:
    nb = numba_backend()
    U, P, w = make_inputs(2, 64, 17, 13, 13, seed=11)
    U[1] = 0.0  # a frame with every joint missing
    far = P + torch.tensor([1e3, -1e3])  # 1e3 px outside the map
    for s in (1e-3, 0.3, 1e4):
        for p in (P, far, P[:, :1]):
            E, G = nb(U, p, w, s)
            E0, G0 = oracle(U, p, w, s)
            assert torch.isfinite(E0).all() and torch.isfinite(G0).all()
            assert rel_err(E, E0) < 1e-5 and rel_err(G, G0) < 1e-5, (s, p.shape)
            assert torch.allclose(E[1].double(), -w[1].double().sum() * LOG_EPS, rtol=1e-6, atol=0)
            assert (G[1] == 0).all()


def test_numba_subnormal_factors_take_the_log_domain_path() -> None:
    """A lone pixel whose Gaussian factor is ~1e-323 relative to the nearest pixel: exact, not subnormal-rounded."""
    U = torch.zeros(1, 1, 9, 20)
    U[0, 0, 5, 5] = 1.0
    P = torch.tensor([14.6, 5.0]).view(1, 1, 1, 2)
    s = math.sqrt(92.0 / (2 * 744))  # (5 - 14.6)^2 - (15 - 14.6)^2 = 92 -> factor exp(-744)
    E, G = numba_backend()(U, P, torch.ones(1, 1), s)
    E0, G0 = oracle(U, P, torch.ones(1, 1), s)
    assert rel_err(E, E0) < 1e-6 and rel_err(G, G0) < 1e-6


def test_numba_propagates_nan_points_per_hypothesis() -> None:
    U, P, w = make_inputs(1, 3, 5, 9, 9, seed=9)
    P[0, 1, 3, 0] = float("nan")
    E, G = numba_backend()(U, P, w, 1.0)
    assert E[0, 1].isnan() and G[0, 1, 3].isnan().all()
    assert torch.isfinite(E[0, [0, 2]]).all() and torch.isfinite(G[0, [0, 2]]).all()
    assert torch.isfinite(G[0, 1, [0, 1, 2, 4]]).all()


@pytest.mark.parametrize("s", [1e-3, 2.0])
def test_far_points_are_pulled_back_toward_the_mass(s: float) -> None:
    U = torch.zeros(1, 2, 13, 13)
    U[:, :, 5:8, 4:7] = 1.0  # mass centred at (x=5, y=6)
    P = torch.tensor([[[1e3, 6.0], [-1e3, 1e3]]]).view(1, 1, 2, 2).repeat(1, 3, 1, 1)
    P[0, 1] += torch.tensor([0.3, -0.2])
    E, G = numba_backend()(U, P, torch.ones(1, 2), s)
    assert torch.isfinite(E).all() and torch.isfinite(G).all()
    toward_mass = torch.tensor([5.0, 6.0]) - P
    assert ((-G * toward_mass).sum(-1) > 0).all()  # descent direction points at the mass


# ----------------------------------------------------------------------------- dispatcher


def test_kernels_import_neither_models_nor_realtime() -> None:
    for path in (REPO_ROOT / "kernels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("models", "realtime") for n in names), (path.name, names)


def test_dispatcher_auto_uses_numba_on_cpu_and_validates() -> None:
    U, P, w = make_inputs(1, 4, 17, 13, 13, seed=5)
    E, G = alignment_energy(U, P, w, 1.5)
    En, Gn = numba_backend()(U, P, w, 1.5)
    assert torch.equal(E, En) and torch.equal(G, Gn)
    Et, Gt = alignment_energy(U, P, w, 1.5, backend="torch")
    assert rel_err(Et, E) < 1e-5 and rel_err(Gt, G) < 1e-4
    with pytest.raises(ValueError):
        alignment_energy(U, P[..., :1], w, 1.5)
    with pytest.raises(ValueError):
        alignment_energy(U, P, w, 0.0)
    with pytest.raises(ValueError):
        alignment_energy(U, P, w, 1.0, backend="cuda-magic")


def test_dispatcher_falls_back_to_reference_and_logs(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    U, P, w = make_inputs(1, 2, 5, 9, 9, seed=6)
    real_load = kernels._load

    def broken(name: str):
        if name == "numba":
            raise ImportError("numba kernel failed to compile")
        return real_load(name)

    monkeypatch.setattr(kernels, "_load", broken)
    monkeypatch.setattr(kernels, "_disabled", {})
    with caplog.at_level(logging.DEBUG, logger="kernels"):
        E, G = alignment_energy(U, P, w, 1.0)
    assert "failed to compile" in caplog.text and "numba" in kernels._disabled
    E0, G0 = oracle(U, P, w, 1.0)
    assert E.dtype == torch.float32 and rel_err(E, E0) < 1e-5 and rel_err(G, G0) < 1e-5
    with pytest.raises(ImportError):
        alignment_energy(U, P, w, 1.0, backend="numba")  # a named backend does not hide failures


def test_autograd_function_chains_grad_output() -> None:
    U, P, w = make_inputs(2, 3, 17, 13, 13, seed=8)
    scale = torch.randn(2, 3)
    P32 = P.clone().requires_grad_(True)
    (AlignmentEnergy.apply(U, P32, w, 1.2) * scale).sum().backward()
    P64 = P.double().requires_grad_(True)
    (alignment_energy_reference(U.double(), P64, w.double(), 1.2) * scale.double()).sum().backward()
    assert P32.grad.dtype == torch.float32 and rel_err(P32.grad, P64.grad) < 1e-5
    P64k = P.double().requires_grad_(True)
    AlignmentEnergy.apply(U, P64k, w, 1.2).sum().backward()
    assert P64k.grad.dtype == torch.float64


# ----------------------------------------------------------------------------- triton

TRITON_CHECKS = textwrap.dedent(
    """
    import json, torch
    from tests.test_kernels import make_inputs, oracle, rel_err, central_difference
    from kernels.triton_gpu import alignment_energy_triton as tr
    out = {}
    for name, (B, M, J, H, W, s, half) in {
        "13x13 J17 f32": (1, 1, 17, 13, 13, 1.0, False),
        "31x17 J33 f16": (1, 1, 33, 31, 17, 2.0, True),
        "17x31 M64 f32": (1, 64, 1, 17, 31, 0.7, False),
    }.items():
        U, P, w = make_inputs(B, M, J, H, W, seed=H + W + J)
        if half:
            U = (U / U.amax((-2, -1), keepdim=True).clamp_min(1e-30)).half()
        E, G = tr(U, P, w, s, block=128)  # several row tiles per map
        E0, G0 = oracle(U, P, w, s)
        out[name] = [rel_err(E, E0), rel_err(G, G0)]
    U, P, w = make_inputs(2, 2, 4, 13, 13, seed=2)
    U[1] = 0.0
    for s in (1e-3, 1e4):
        for tag, p in (("near", P), ("far", P + torch.tensor([1e3, -1e3]))):
            E, G = tr(U, p, w, s, block=64)
            E0, G0 = oracle(U, p, w, s)
            out[f"{tag} s={s:g}"] = [rel_err(E, E0), rel_err(G, G0)]
            assert (G[1] == 0).all() and torch.allclose(E[1].double(), E0[1], rtol=1e-6, atol=0)
    U, P, w = make_inputs(1, 1, 3, 9, 8, seed=4)
    fd = central_difference(lambda p: tr(U, p, w, 2.0, block=32)[0], P.double(), h=1e-2)
    out["finite differences"] = [0.0, rel_err(tr(U, P, w, 2.0, block=32)[1], fd)]
    print("RESULT" + json.dumps(out))
    """
)


def run_python(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
@needs_triton
def test_triton_interpreter_matches_reference() -> None:
    stdout = run_python(TRITON_CHECKS, TRITON_INTERPRET="1")
    results = json.loads(stdout.split("RESULT", 1)[1])
    assert len(results) == 8
    for name, (e_err, g_err) in results.items():
        limit = 2e-3 if name == "finite differences" else 1e-5
        assert e_err < 1e-5 and g_err < limit, (name, e_err, g_err)


@pytest.mark.slow
@needs_triton
def test_triton_kernel_compiles_for_cuda() -> None:
    """Compiled mode (typed loop-carried state) differs from the interpreter: build sm_90 code without a GPU."""
    code = textwrap.dedent(
        """
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from kernels.triton_gpu import _alignment_kernel
        sig = {"U_ptr": "*fp16", "P_ptr": "*fp32", "w_ptr": "*fp32", "T_ptr": "*fp32", "G_ptr": "*fp32",
               "M": "i32", "J": "i32", "H": "i32", "W": "i32", "inv_2s2": "fp32", "inv_s2": "fp32",
               "log_eps": "fp32", "BLOCK_H": "constexpr", "BLOCK_W": "constexpr"}
        src = ASTSource(_alignment_kernel, sig, {"BLOCK_H": 16, "BLOCK_W": 64})
        k = triton.compile(src, target=GPUTarget("cuda", 90, 32))
        print("PTX" if ".entry _alignment_kernel" in k.asm["ptx"] else "no entry")
        """
    )
    assert "PTX" in run_python(code, TRITON_INTERPRET="0", TRITON_DEFAULT_FP_FUSION="1")
