"""Benchmark of the alignment energy + gradient: ``python -m bench.kernels [--device cpu|cuda] [--quick]``.

Prints a markdown table of median milliseconds per call (value and dE/dP together) for the
float32 torch reference (autograd gradient), ``torch.compile`` of it, and the kernel of the
device (Numba on CPU, Triton on CUDA), with speed-ups over both. On CUDA it also prints the
memory-bandwidth floor: every (b, m, j) program reads its whole heatmap once.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from kernels.reference import alignment_energy_reference

HW = 64
SIZES = [(1, 1, 17), (1, 16, 17), (1, 64, 17), (4, 16, 33), (8, 16, 33), (8, 64, 33)]
QUICK_SIZES = [(1, 1, 17), (1, 16, 17), (4, 16, 33)]
CPU_MAX_PIXELS = 20_000_000  # the float32 reference materialises B*M*J*H*W values several times
Fn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]


def reference_value_and_grad(energy: Callable[..., torch.Tensor]) -> Fn:
    """Value + autograd gradient of ``energy`` (the reference, possibly compiled), in float32."""

    def run(U: torch.Tensor, P: torch.Tensor, w: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        Pg = P.detach().float().requires_grad_(True)
        E = energy(U, Pg, w, s)
        (grad,) = torch.autograd.grad(E.sum(), Pg)
        return E.detach(), grad

    return run


def median_ms(fns: dict[str, Fn], args: tuple, repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    """Median wall time (ms) of each ``fn(*args)``; calls interleaved so load changes hit all alike."""
    for fn in fns.values():
        fn(*args)
        fn(*args)
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(*args)
            sync()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(ts) for name, ts in times.items()}


def make_inputs(B: int, M: int, J: int, device: str, dtype: torch.dtype) -> tuple:
    """Peak-normalised Gaussian heatmaps, joints scattered around the peaks, s = 2 px."""
    g = torch.Generator().manual_seed(0)
    centre = 8 + (HW - 16) * torch.rand(B, J, 2, generator=g)
    grid = torch.arange(HW, dtype=torch.float32)
    U = torch.exp(-((grid[None, :] - centre[..., 0, None, None]) ** 2
                    + (grid[:, None] - centre[..., 1, None, None]) ** 2) / 8.0)
    P = centre[:, None] + 3 * torch.randn(B, M, J, 2, generator=g)
    w = torch.rand(B, J, generator=g)
    return U.to(device, dtype), P.to(device), w.to(device), 2.0


def kernel_for(device: str) -> tuple[str, Fn]:
    if device == "cuda":
        from kernels.triton_gpu import alignment_energy_triton

        return "triton", alignment_energy_triton
    from kernels.numba_cpu import alignment_energy_numba

    return "numba", alignment_energy_numba


def try_compile(args: tuple, sync: Callable[[], None]) -> tuple[Fn | None, str]:
    """``torch.compile`` of the reference (forward and backward), or None and why it failed."""
    try:
        fn = reference_value_and_grad(torch.compile(alignment_energy_reference, dynamic=False))
        fn(*args)
        sync()
        return fn, ""
    except Exception as exc:  # no C++ compiler, unsupported op, ...
        return None, f"torch.compile skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--bandwidth-gbs", type=float, default=3350.0,
                        help="peak memory bandwidth for the CUDA floor (default: H100 SXM HBM3)")
    args = parser.parse_args()
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    dtype = torch.float16 if device == "cuda" else torch.float32
    repeats = 5 if args.quick else 20
    name, kernel = kernel_for(device)
    reference = reference_value_and_grad(alignment_energy_reference)
    notes = [f"device={device}, U {dtype}, H=W={HW}, s=2, threads={torch.get_num_threads()}, "
             f"median of {repeats} interleaved calls after 2 warm-ups; value + dE/dP per call"]

    header = ["B", "M", "J", "reference ms", "compile ms", f"{name} ms", "x vs ref", "x vs compile"]
    if device == "cuda":
        header.append("floor us")
        itemsize = torch.finfo(dtype).bits // 8
        notes.append(f"floor = B*M*J*H*W*{itemsize} B (U read once per (b,m,j); P, w, E, grad ignored) "
                     f"/ {args.bandwidth_gbs:g} GB/s; repeated reads mostly hit L2, so this is a lower bound")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for B, M, J in QUICK_SIZES if args.quick else SIZES:
        if device == "cpu" and B * M * J * HW * HW > CPU_MAX_PIXELS:
            notes.append(f"skipped B={B} M={M} J={J} on CPU: the reference would materialise "
                         f"{B * M * J * HW * HW / 1e6:.0f}M-element tensors")
            continue
        inputs = make_inputs(B, M, J, device, dtype)
        compiled, why = try_compile(inputs, sync)
        if why and why not in notes:
            notes.append(why)
        fns = {"ref": reference, "kernel": kernel} | ({"compile": compiled} if compiled else {})
        ms = median_ms(fns, inputs, repeats, sync)
        t_ref, t_k, t_cmp = ms["ref"], ms["kernel"], ms.get("compile", float("nan"))
        row = [B, M, J, f"{t_ref:.3f}", f"{t_cmp:.3f}", f"{t_k:.3f}", f"{t_ref / t_k:.1f}", f"{t_cmp / t_k:.1f}"]
        if device == "cuda":
            row.append(f"{B * M * J * HW * HW * itemsize / (args.bandwidth_gbs * 1e9) * 1e6:.1f}")
        print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
