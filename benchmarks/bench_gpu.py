"""Model FLOPs utilisation of the ~160M preset in bf16, and the cell's step overhead on a GPU.

Both come from one measurement, bench_step's: the marginal step time of a cell (two cells of different lengths,
geometric s = 0.5 with a prune event every 10 steps, DeepSpeed bf16; the difference cancels set-up and the final
evaluation) and of a bare torch loop (same model, batch and data; torch.autocast(bfloat16) over fp32 weights and
AdamW), interleaved, medians over repeats.
  MFU = 6 · N · tokens/s ÷ the device's peak dense bf16 FLOP/s                              (target ≥ 50 %)
    N = the preset's linear weights (every matmul kernel: blocks and LM head; embeddings are lookups),
    tokens/s = batch × context ÷ the cell's marginal step time. Attention's own matmuls (12 · L · d · T FLOPs per
    token, PaLM appendix B) are not counted, so this slightly underestimates MFU.
  step overhead on GPU = the cell's marginal step ÷ the bare loop's                         (target ≤ 1.05)
Without CUDA it records "skipped". `--device cpu --preset micro --precision fp32` runs the same code path on a
CPU as a smoke test (MFU then has no peak to divide by).

    .venv/bin/python benchmarks/bench_gpu.py [--batch 32] [--repeats 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from bench_step import STEP_OVERHEAD_TARGET, StepSetup, bare_data, marginal_step_seconds, step_overhead_figure
from figures import BenchmarkResult, Figure, Target, add_json_option, publish
from model.gpt import GPT, preset
from orchestrator.data import prepare_corpus

# Vendor figures for dense bf16 tensor-core FLOP/s (without 2:4 sparsity), TFLOP/s; the first name contained in
# torch.cuda.get_device_name() wins, so the more specific names come first.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0))
MFU_TARGET = Target(">=", 0.5, ">= 50 %")


def peak_bf16_flops(device_name: str) -> float | None:
    return next((tflops * 1e12 for name, tflops in PEAK_BF16_TFLOPS if name in device_name), None)


def linear_params(preset_name: str) -> int:
    with torch.device("meta"):  # shapes only, no memory
        return GPT(preset(preset_name)).count_parameters()["linear"]


def mfu_name(setup: StepSetup) -> str:
    return f"MFU of {setup.preset} in {setup.precision} through the cell: 6·N·tokens/s ÷ peak"


def overhead_name(setup: StepSetup) -> str:
    return f"marginal training step through the cell ÷ bare torch, {setup.preset}, {setup.device}"


def mfu_figure(setup: StepSetup, cell_step: float, device_name: str) -> Figure:
    tokens_per_s = setup.batch * preset(setup.preset).max_seq_len / cell_step
    achieved = 6 * linear_params(setup.preset) * tokens_per_s
    peak = peak_bf16_flops(device_name)
    detail = f"{tokens_per_s:,.0f} tokens/s, {achieved / 1e12:.1f} TFLOP/s"
    if peak is None:
        return Figure(mfu_name(setup), None, "no peak known",
                      f"{detail}; add {device_name!r} to PEAK_BF16_TFLOPS", MFU_TARGET)
    return Figure(mfu_name(setup), achieved / peak, f"{100 * achieved / peak:.1f} %",
                  f"{detail} of {peak / 1e12:.0f} TFLOP/s peak ({device_name})", MFU_TARGET)


def skipped(setup: StepSetup, reason: str, json_path: str | None) -> None:
    publish(BenchmarkResult("gpu", [Figure(mfu_name(setup), None, "skipped", "", MFU_TARGET),
                                    Figure(overhead_name(setup), None, "skipped", "", STEP_OVERHEAD_TARGET)],
                            skipped=reason), json_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt160m")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="CPU threads per worker")
    parser.add_argument("--short", type=int, default=50, help="dense steps of the short cell")
    parser.add_argument("--long", type=int, default=250, help="dense steps of the long cell")
    parser.add_argument("--repeats", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    setup = StepSetup(args.preset, args.batch, args.threads, args.device, args.precision)
    if args.device == "cuda" and not torch.cuda.is_available():
        return skipped(setup, "no GPU on this machine (torch.cuda.is_available() is false)", args.json)

    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp(prefix="bench-data-"))
    data = bare_data(setup, prepare_corpus(None, cache_dir=cache))
    cell_step, bare_step = marginal_step_seconds(setup, args.short, args.long, args.repeats, cache, data)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    publish(BenchmarkResult("gpu", [
        mfu_figure(setup, cell_step, device_name),
        step_overhead_figure(overhead_name(setup), cell_step, bare_step),
    ], notes=[f"{device_name}, torch {torch.__version__}, {args.preset}, batch {args.batch} × context "
              f"{preset(args.preset).max_seq_len}, cells of {args.short} and {args.long} dense steps, "
              f"medians of {args.repeats}"]), args.json)


if __name__ == "__main__":
    main()
