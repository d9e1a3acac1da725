"""Inference backends for the denoiser, the call that runs S times per frame and hypothesis.

- ``eager``: the plain ``nn.Module`` (CPU or CUDA).
- ``compile``: ``torch.compile``; on CUDA with ``mode="reduce-overhead"``, which captures each
  step's kernels in a CUDA graph per input shape.
- ``onnx``: the network exported to ONNX and run by ONNX Runtime's CPU provider (the CPU fast path:
  one fused call instead of ~150 small torch operators).
- ``tensorrt``: torch-tensorrt (optional extra ``gpu``); one engine per batch size, fp16 where it
  matches eager within :data:`TOLERANCE`, else fp32, cached on disk under a key made of the
  weights, shapes, precision, versions and GPU.
- ``auto``: the fastest one available for the device (measured order in :data:`AUTO_ORDER`).

A backend only replaces the *inference* calls (``Sampler.infer``); DAT with the exact network
Jacobian still differentiates through the eager module. A backend that cannot be built, or whose
output differs from eager by more than :data:`TOLERANCE` on a check input, falls back to eager
with one log line: the product never stops because an accelerator is missing.
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

BACKENDS = ("auto", "eager", "compile", "onnx", "tensorrt")
AUTO_ORDER = {"cuda": ("tensorrt", "compile", "eager"), "cpu": ("onnx", "compile", "eager")}
TOLERANCE = 2e-3  # max |x0 − eager x0| in normalised units (0.7 mm at data_scale 0.35 m)
SMALL_BATCH = 4  # ONNX Runtime runs batches up to this size on one thread
DEFAULT_CACHE = Path(os.environ.get("HMDIFF_ENGINE_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "engines"))

Infer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class BackendUnavailable(RuntimeError):
    """This backend cannot run here; the message says why in one line."""


def check_inputs(net: nn.Module, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic (h, k, cond) of the live shapes for ``batch`` states."""
    c = net.config
    g = torch.Generator().manual_seed(0)
    h = torch.randn(batch, c.num_points, 3, generator=g)
    cond = torch.randn(batch, c.num_cond_joints + 1, c.dim, generator=g)
    return h.to(device), torch.tensor([600], device=device), cond.to(device)


def _build_compile(net: nn.Module, device: torch.device) -> Infer:
    if device.type != "cuda":
        return torch.compile(net, dynamic=False)
    compiled = torch.compile(net, mode="reduce-overhead", dynamic=False)

    def infer(h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # Each call is one CUDA-graph replay; its output buffer is reused by the next replay, and
        # the sampler keeps the previous step's prediction (activation strategy): copy it out.
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(h, k, cond).clone()

    return infer


class _Denoise(nn.Module):
    """``Denoiser.denoise`` as a module's forward, for export: the step enters as its modulations."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, h: torch.Tensor, modulations: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net.denoise(h, modulations, cond)


def _export_onnx(net: nn.Module, device: torch.device, dynamic_batch: bool) -> bytes:
    """The denoiser after its step modulations (``Denoiser.denoise``) as ONNX (opset 17): batch 1
    exactly, or any batch (``dynamic_batch``; the modulations of one step are shared by the batch)."""
    buffer = io.BytesIO()
    h, k, cond = check_inputs(net, 1, device)
    batch = {0: "batch"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Denoise(net), (h, net.modulations(k), cond), buffer, dynamo=False, opset_version=17,
                              input_names=["h", "modulations", "cond"], output_names=["x0"],
                              dynamic_axes={"h": batch, "cond": batch, "x0": batch} if dynamic_batch else None)
    except Exception as err:  # noqa: BLE001 - an exporter problem (e.g. the onnx package missing)
        raise BackendUnavailable(f"ONNX export failed ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return buffer.getvalue()


def _build_onnx(net: nn.Module, device: torch.device) -> Infer:
    if device.type != "cpu":
        raise BackendUnavailable("the ONNX Runtime path is for CPU")
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendUnavailable("onnxruntime is not installed") from None

    def session(model: bytes, threads: int) -> "ort.InferenceSession":
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # leave the cores to DAT
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    # One sample (a live frame) runs a graph exported for batch 1 exactly (its shapes folded: 615
    # nodes instead of 857, ~18 % faster) into a bound output buffer; other small batches run on the
    # calling thread alone (a pool thread fights torch's, Numba's and MediaPipe's threads for the
    # cores and gains nothing on these shapes, measured); larger ones (many hypotheses) on torch's
    # thread count. The step's modulations are computed once per step and kept: a sampler visits a
    # handful of steps, and the graph then reads a third fewer weights per call.
    any_batch = _export_onnx(net, device, dynamic_batch=True)
    one = session(_export_onnx(net, device, dynamic_batch=False), 1)
    single, pooled = session(any_batch, 1), session(any_batch, torch.get_num_threads())
    c = net.config
    out = np.empty((1, c.num_points, 3), np.float32)
    binding = one.io_binding()
    binding.bind_output("x0", "cpu", 0, np.float32, out.shape, out.ctypes.data)
    steps: dict[int, np.ndarray] = {}

    def modulations(k: torch.Tensor) -> np.ndarray:
        step = int(k)  # one step for the whole batch, as the sampler calls
        if step not in steps:
            with torch.no_grad():
                steps[step] = net.modulations(k.detach().reshape(1)).numpy()
        return steps[step]

    def infer(h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        feeds = {"h": h.detach().contiguous().numpy(), "modulations": modulations(k),
                 "cond": cond.detach().contiguous().numpy()}
        if h.shape[0] == 1 and cond.shape[0] == 1:
            for name, value in feeds.items():
                binding.bind_cpu_input(name, value)
            one.run_with_iobinding(binding)
            return torch.from_numpy(out.copy())  # the buffer is the next call's
        return torch.from_numpy((single if h.shape[0] <= SMALL_BATCH else pooled).run(None, feeds)[0])

    return infer


def engine_key(net: nn.Module, batch: int, precision: str, versions: str) -> str:
    """Cache key of a TensorRT engine: weights, shapes, precision, software and GPU."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(f"{net.config.to_dict()}|batch={batch}|{precision}|{versions}".encode())
    return digest.hexdigest()[:20]


class TensorRTDenoiser:
    """torch-tensorrt engines of the denoiser, one per batch size, built once and cached on disk."""

    def __init__(self, net: nn.Module, device: torch.device, cache_dir: Path) -> None:
        if device.type != "cuda":
            raise BackendUnavailable("TensorRT needs a CUDA GPU")
        try:
            import tensorrt
            import torch_tensorrt
        except ImportError:
            raise BackendUnavailable("torch-tensorrt is not installed (pip install -e '.[gpu]')") from None
        self.trt = torch_tensorrt
        self.net, self.device, self.cache_dir = net, device, cache_dir
        self.versions = (f"torch={torch.__version__},torch_tensorrt={torch_tensorrt.__version__},"
                         f"tensorrt={tensorrt.__version__},gpu={torch.cuda.get_device_name(device)}")
        self.engines: dict[int, tuple[Callable, torch.dtype]] = {}

    def __call__(self, h: torch.Tensor, k: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        batch = h.shape[0]
        if batch not in self.engines:
            self.engines[batch] = self._engine(batch)
        engine, dtype = self.engines[batch]
        return engine(h.to(dtype), k, cond.to(dtype)).float()

    def _engine(self, batch: int) -> tuple[Callable, torch.dtype]:
        """fp16 if it matches eager within TOLERANCE, else fp32; loaded from the cache when there."""
        h, k, cond = check_inputs(self.net, batch, self.device)
        with torch.no_grad():
            expected = self.net(h, k, cond)
        for dtype in (torch.float16, torch.float32):
            engine = self._load_or_build(batch, dtype)
            with torch.no_grad():
                error = (engine(h.to(dtype), k, cond.to(dtype)).float() - expected).abs().max().item()
            if error <= TOLERANCE:
                log.info("TensorRT engine for batch %d: %s (max error %.1e)", batch, dtype, error)
                return engine, dtype
            log.info("TensorRT %s engine off by %.1e > %.0e: trying the next precision", dtype, error, TOLERANCE)
        raise BackendUnavailable("no TensorRT engine matches eager within the tolerance")

    def _load_or_build(self, batch: int, dtype: torch.dtype) -> Callable:
        precision = str(dtype).removeprefix("torch.")
        path = self.cache_dir / f"denoiser-{engine_key(self.net, batch, precision, self.versions)}.ep"
        h, k, cond = check_inputs(self.net, batch, self.device)
        inputs = [h.to(dtype), k, cond.to(dtype)]
        if path.is_file():
            try:
                return torch.export.load(str(path)).module()
            except Exception as err:  # noqa: BLE001 - a stale or broken engine is rebuilt
                log.info("cached TensorRT engine %s unusable (%s): rebuilding", path.name, type(err).__name__)
        net = copy.deepcopy(self.net).to(dtype)
        engine = self.trt.compile(net, ir="dynamo", arg_inputs=inputs, min_block_size=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.trt.save(engine, str(path), arg_inputs=inputs)
        return engine


def build_backend(net: nn.Module, name: str, device: torch.device, cache_dir: Path = DEFAULT_CACHE) -> Infer:
    """The inference callable of backend ``name`` (not ``auto``), checked against eager."""
    if name == "eager":
        return net
    builders = {"compile": lambda: _build_compile(net, device), "onnx": lambda: _build_onnx(net, device),
                "tensorrt": lambda: TensorRTDenoiser(net, device, cache_dir)}
    if name not in builders:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    infer = builders[name]()
    h, k, cond = check_inputs(net, 1, device)
    try:
        with torch.no_grad():
            error = (infer(h, k, cond).to(device) - net(h, k, cond)).abs().max().item()
    except BackendUnavailable:
        raise
    except Exception as err:  # noqa: BLE001 - a backend that cannot run its first call is unavailable
        raise BackendUnavailable(f"first call failed ({type(err).__name__}: {str(err).splitlines()[0][:160]})") from None
    if not error <= TOLERANCE:
        raise BackendUnavailable(f"differs from eager by {error:.1e} (tolerance {TOLERANCE:.0e})")
    return infer


def select_backend(net: nn.Module, name: str, device: torch.device, cache_dir: Path = DEFAULT_CACHE) -> tuple[str, Infer]:
    """Build ``name`` (or, for ``auto``, the first that works of :data:`AUTO_ORDER`); eager on failure.

    Returns the name actually in use and its inference callable. A named backend that is
    unavailable logs one warning line; ``auto`` logs its skipped candidates at debug level.
    """
    if name == "auto":
        for candidate in AUTO_ORDER["cuda" if device.type == "cuda" else "cpu"]:
            try:
                return candidate, build_backend(net, candidate, device, cache_dir)
            except BackendUnavailable as why:
                log.debug("backend %s unavailable: %s", candidate, why)
        return "eager", net
    try:
        return name, build_backend(net, name, device, cache_dir)
    except BackendUnavailable as why:
        log.warning("backend %s unavailable (%s): running eager", name, why)
        return "eager", net
