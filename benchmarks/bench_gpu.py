"""The cell on a GPU against bare torch loops: MFU, step ratios, the GEMM + attention floor, and a prune event.

One process, one GPU, gpt160m in bf16 by default (batch 32 × 1024). Each figure is measured side by side in this run:
  cell step     the median `step_time` the cell itself logs (metrics.jsonl: wall time per step of each logged
                window of `--log-every` steps, the window's one host sync included), past `--warmup-windows`
                windows; a geometric s = 0.5 cell with a prune event every 10 steps, `deepspeed.precision=auto`
                (torch_autocast bf16 over fp32 weights, fused AdamW), eager and with train.compile=true;
  bare loops    the same GPT, batches and AdamW (fused) with torch.autocast(bfloat16) over fp32 weights, clip 1.0, the
                loss read back every `--log-every` steps, batches from pinned memory: eager, and torch.compile(model);
                median seconds per step over windows of `--log-every` steps, each closed by a synchronize;
  floor         the step's GEMMs (forward and both backward products of every linear) and causal flash attention
                forward + backward alone: a lower bound on any step, so an upper bound on MFU;
  prune event   one global magnitude prune event (threshold over every prunable weight, masks, optimizer state) on
                the bare model, bracketed by synchronize, median of 5, ÷ the eager bare step.
  MFU = 6 · N · tokens/s ÷ the device's peak dense bf16 FLOP/s, N = the cell's dense linear weights (blocks and LM
  head; attention's own matmuls are not counted, so this slightly underestimates MFU).
Targets (issue: the GPU path): cell step ≤ 1.05 × the compiled bare loop; MFU ≥ 40 %; prune event ≤ one step.
Without CUDA it records "skipped"; `--device cpu --preset micro` runs the same code as a smoke test.

    .venv/bin/python benchmarks/bench_gpu.py [--dense-steps 150] [--bare-steps 100] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench_step import StepSetup, bare_data, bare_steps, build_bare, cell_overrides, optimizer_config
from figures import BenchmarkResult, Figure, Target, add_json_option, publish
from model.gpt import preset
from orchestrator.data import prepare_corpus
from pruning.magnitude import GlobalMagnitudePruner, TorchOptimizerTarget, prunable_weights

# Vendor figures for dense bf16 tensor-core FLOP/s (without 2:4 sparsity), TFLOP/s; the first name contained in
# torch.cuda.get_device_name() wins, so the more specific names come first.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0))
MFU_TARGET = Target(">=", 0.4, ">= 40 %")
STEP_TARGET = Target("<=", 1.05, "<= 1.05")
EVENT_TARGET = Target("<=", 1.0, "<= 1.0")


def peak_bf16_flops(device_name: str) -> float | None:
    return next((tflops * 1e12 for name, tflops in PEAK_BF16_TFLOPS if name in device_name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cell_step(setup: StepSetup, args, cache: Path, compiled: bool) -> tuple[float, dict]:
    """(median logged step seconds past the warm-up windows, result.json) of one cell."""
    from conftest import build

    from orchestrator.cell.run import run_cell
    from orchestrator.store.files import MetricsLog

    with tempfile.TemporaryDirectory() as results:
        overrides = cell_overrides(setup, args.dense_steps, Path(results), cache)
        overrides += [f"train.log_every={args.log_every}", f"train.compile={str(compiled).lower()}"]
        outcome = run_cell(*build(overrides))
        times = [r["step_time"] for r in MetricsLog(outcome.paths.metrics).read() if "step_time" in r]
    return statistics.median(times[args.warmup_windows:-1] or times), outcome.result


def bare_step(setup: StepSetup, args, data, compiled: bool) -> float:
    """Median seconds per step of the bare loop over windows of --log-every steps (each closed by a loss read)."""
    device = torch.device(setup.device)
    model, optimizer = build_bare(setup, optimizer_config(setup))
    forward = torch.compile(model) if compiled else model
    windows = []
    for first in range(0, args.bare_steps - args.log_every + 1, args.log_every):
        started = time.perf_counter()
        bare_steps(setup, model, optimizer, data, args.log_every, first_step=first, forward=forward,
                   read_every=args.log_every)
        sync(device)
        windows.append((time.perf_counter() - started) / args.log_every)
    return statistics.median(windows[args.warmup_windows:] or windows)


def floor_step(setup: StepSetup) -> float:
    """Seconds of one step's GEMMs and causal attention (forward + backward) alone, in bf16."""
    config, device = preset(setup.preset), torch.device(setup.device)
    dtype = torch.bfloat16 if setup.precision != "fp32" else torch.float32
    tokens, d, head = setup.batch * config.max_seq_len, config.d_model, config.d_model // config.n_head
    shapes = {(d, 3 * d): config.n_layer, (d, d): config.n_layer, (d, config.d_mlp): config.n_layer,
              (config.d_mlp, d): config.n_layer, (d, config.vocab_size): 1}

    def timed(run, repeats: int = 5) -> float:
        run()
        times = []
        for _ in range(repeats):
            sync(device)
            started = time.perf_counter()
            run()
            sync(device)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    total = 0.0
    for (fan_in, fan_out), count in shapes.items():
        x = torch.randn(tokens, fan_in, device=device, dtype=dtype)
        w = torch.randn(fan_out, fan_in, device=device, dtype=dtype)
        dy = torch.randn(tokens, fan_out, device=device, dtype=dtype)
        total += count * timed(lambda: (x @ w.t(), dy @ w, dy.t() @ x))
    q, k, v = (torch.randn(setup.batch, config.n_head, config.max_seq_len, head, device=device, dtype=dtype,
                           requires_grad=True) for _ in range(3))
    grad = torch.randn_like(q)
    attention = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(grad)  # noqa: E731
    return total + config.n_layer * timed(attention)


def prune_event(setup: StepSetup) -> float:
    """Median seconds of one prune event on the bare model (5 events of a geometric schedule to s = 0.9)."""
    device = torch.device(setup.device)
    model, optimizer = build_bare(setup, optimizer_config(setup))
    pruner = GlobalMagnitudePruner(prunable_weights(model), schedule="geometric", sparsity=0.9, t_start=0,
                                   t_end=400, every=100, target=TorchOptimizerTarget(optimizer))
    times = []
    for event in range(0, 500, 100):
        sync(device)
        started = time.perf_counter()
        assert pruner.update(event)
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ratio_figure(name: str, numerator: float, denominator: float, target: Target | None) -> Figure:
    return Figure(name, numerator / denominator, f"{numerator / denominator:.3f}",
                  f"{numerator * 1e3:.1f} ms vs {denominator * 1e3:.1f} ms", target)


def mfu_figure(name: str, n_linear: int, tokens_per_step: int, seconds: float, device_name: str) -> Figure:
    achieved = 6 * n_linear * tokens_per_step / seconds
    peak = peak_bf16_flops(device_name)
    detail = f"{tokens_per_step / seconds:,.0f} tokens/s, {achieved / 1e12:.1f} TFLOP/s"
    if peak is None:
        return Figure(name, None, "no peak known", f"{detail}; add {device_name!r} to PEAK_BF16_TFLOPS", MFU_TARGET)
    return Figure(name, achieved / peak, f"{100 * achieved / peak:.1f} %",
                  f"{detail} of {peak / 1e12:.0f} TFLOP/s peak ({device_name})", MFU_TARGET)


def names(setup: StepSetup) -> dict[str, str]:
    where = f"{setup.preset}, batch {setup.batch}, {setup.device}"
    return {"mfu": f"MFU through the cell (eager), {where}",
            "compiled_bare": f"cell step ÷ compiled bare torch loop, {where}",
            "eager_bare": f"cell step ÷ eager bare torch loop, {where}",
            "compiled_cell": f"cell step with train.compile ÷ compiled bare torch loop, {where}",
            "floor": f"the step's GEMM + attention floor as MFU (an upper bound), {where}",
            "event": f"one prune event ÷ one eager bare step, {where}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt160m")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="auto", help="the cell's deepspeed.precision")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4, help="CPU threads (the CPU smoke run)")
    parser.add_argument("--dense-steps", type=int, default=150, help="the cell's budget.dense_steps")
    parser.add_argument("--bare-steps", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--warmup-windows", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled cell and bare loop")
    add_json_option(parser)
    args = parser.parse_args()
    setup = StepSetup(args.preset, args.batch, args.threads, args.device, args.precision)
    title = names(setup)
    if args.device == "cuda" and not torch.cuda.is_available():
        publish(BenchmarkResult("gpu", [Figure(name, None, "skipped") for name in title.values()],
                                skipped="no GPU on this machine (torch.cuda.is_available() is false)"), args.json)
        return
    torch.set_num_threads(args.threads)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    cache = Path(tempfile.mkdtemp(prefix="bench-data-"))
    data = bare_data(setup, prepare_corpus(None, cache_dir=cache))
    tokens_per_step = setup.batch * preset(setup.preset).max_seq_len

    cell, result = cell_step(setup, args, cache, compiled=False)
    eager = bare_step(setup, args, data, compiled=False)
    figures = [mfu_figure(title["mfu"], result["initial_params"], tokens_per_step, cell, device_name)]
    if args.no_compile:
        figures.append(Figure(title["compiled_bare"], None, "not measured (--no-compile)", "", STEP_TARGET))
    else:
        compiled_bare = bare_step(setup, args, data, compiled=True)
        compiled_cell, _ = cell_step(setup, args, cache, compiled=True)
        figures += [ratio_figure(title["compiled_bare"], cell, compiled_bare, STEP_TARGET),
                    ratio_figure(title["compiled_cell"], compiled_cell, compiled_bare, STEP_TARGET)]
    figures.append(ratio_figure(title["eager_bare"], cell, eager, None))
    floor = floor_step(setup)
    floor_mfu = mfu_figure(title["floor"], result["initial_params"], tokens_per_step, floor, device_name)
    figures.append(Figure(floor_mfu.name, floor_mfu.value, floor_mfu.shown, f"{floor * 1e3:.1f} ms; "
                          + floor_mfu.detail))
    figures.append(ratio_figure(title["event"], prune_event(setup), eager, EVENT_TARGET))
    publish(BenchmarkResult("gpu", figures, notes=[
        f"{device_name}, torch {torch.__version__}, {args.preset}, batch {args.batch} × context "
        f"{preset(args.preset).max_seq_len}, precision {args.precision}; a cell of {args.dense_steps} dense steps "
        f"({result['steps']} steps), bare loops of {args.bare_steps} steps, windows of {args.log_every} steps"]),
        args.json)


if __name__ == "__main__":
    main()
