"""Step overhead of a cell against a bare torch loop, and the cost of a prune event against a training step.

Measured side by side in one process, interleaved, medians over repeats (these machines are noisy):
  1. marginal cost of one training step through the cell (DeepSpeed engine, pruner hooks and events, accounting,
     logging) ÷ the same for a bare torch loop (same model, batch, data, thread count). Marginal = the difference
     of two runs of different lengths divided by the difference in steps, so fixed costs (engine set-up, final
     evaluation, writing the model) cancel. Target ≤ 1.05.
  2. one global-magnitude prune event ÷ one bare training step, at micro and small. Target ≤ 1.0.

`StepSetup`, `cell_overrides`, `build_bare` and `bare_steps` are the shared machinery of the other benchmarks that
compare a cell with a bare loop (bench_memory.py, bench_gpu.py).

    .venv/bin/python benchmarks/bench_step.py [--threads 2] [--repeats 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from figures import BenchmarkResult, Figure, Target, add_json_option, publish  # noqa: E402

from model.gpt import GPT, preset  # noqa: E402
from orchestrator.cell.distributed import build_optimizer  # noqa: E402
from orchestrator.data import PreparedData, TokenBatches, prepare_corpus  # noqa: E402
from pruning.magnitude import GlobalMagnitudePruner, TorchOptimizerTarget, prunable_weights  # noqa: E402

STEP_OVERHEAD_TARGET = Target("<=", 1.05, "<= 1.05")


@dataclass(frozen=True)
class StepSetup:
    """What a cell and its bare loop share: model preset, global batch, torch threads, device and precision."""

    preset: str = "micro"
    batch: int = 32
    threads: int = 2
    device: str = "cpu"
    precision: str = "fp32"  # else the cell's deepspeed.precision; the bare loop runs under torch.autocast(bf16)


def cell_overrides(setup: StepSetup, dense_steps: int, results: Path, cache: Path) -> list[str]:
    """A geometric s = 0.5 cell with a prune event every 10 steps, no evaluation or checkpoint in between."""
    return [f"model={setup.preset}", f"budget.dense_steps={dense_steps}", "pruning=geometric", "pruning.sparsity=0.5",
            "pruning.every=10", f"train.batch_size={setup.batch}", f"train.threads={setup.threads}",
            f"train.device={setup.device}", f"deepspeed.precision={setup.precision}", "train.eval_every=100000",
            "train.log_every=10", "train.checkpoint_every=100000", "wandb.mode=disabled",
            f"results_dir={results}", f"data.cache_dir={cache}"]


def time_cell(setup: StepSetup, dense_steps: int, cache: Path) -> tuple[float, int]:
    """(seconds, steps) of one whole cell run through orchestrator.cell.run.run_cell."""
    from conftest import build

    from orchestrator.cell.run import run_cell

    with tempfile.TemporaryDirectory() as results:
        config, resolved = build(cell_overrides(setup, dense_steps, Path(results), cache))
        started = time.perf_counter()
        outcome = run_cell(config, resolved)
        return time.perf_counter() - started, outcome.result["steps"]


def optimizer_config(setup: StepSetup):
    """The typed Config whose `optim` the cell uses (composed from conf/, as orchestrator-train does)."""
    from conftest import build

    return build([f"model={setup.preset}", f"train.batch_size={setup.batch}"])[0]


def build_bare(setup: StepSetup, config) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The cell's model (same seed, same initial weights) and its AdamW, without anything of the orchestrator."""
    torch.manual_seed(0)
    model = GPT(preset(setup.preset)).to(setup.device)
    return model, build_optimizer(model, config)


def bare_steps(setup: StepSetup, model, optimizer, data: TokenBatches, steps: int, *, first_step: int = 0,
               forward=None, read_every: int = 1) -> None:
    """The bare torch loop: forward, backward, clip 1.0, AdamW step, zero grads, read the loss every `read_every`
    steps (each step, as the cell did before it kept losses on the device) and after the last. Non-fp32 precisions
    run under torch.autocast(bfloat16) over fp32 weights; a GPU gets its batches from pinned memory. `forward`: a
    compiled model, say (default: `model`)."""
    device, forward = torch.device(setup.device), forward or model
    for step in range(first_step, first_step + steps):
        x, y = data.batch(step, batch_size=setup.batch, seed=0)
        if device.type == "cuda":
            x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if setup.precision != "fp32"
                    else contextlib.nullcontext())
        with autocast:
            _, loss = forward(x.to(device), y.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1 - first_step) % read_every == 0 or step == first_step + steps - 1:
            loss.item()


def bare_data(setup: StepSetup, prepared: PreparedData) -> TokenBatches:
    """The training split in sequences of the preset's context, as the cell reads it by default."""
    return TokenBatches(prepared.train, seq_len=preset(setup.preset).max_seq_len)


def time_bare(setup: StepSetup, steps: int, data: TokenBatches, config) -> float:
    model, optimizer = build_bare(setup, config)
    started = time.perf_counter()
    bare_steps(setup, model, optimizer, data, steps)
    return time.perf_counter() - started


def marginal_step_seconds(setup: StepSetup, short: int, long: int, repeats: int, cache: Path,
                          data: TokenBatches) -> tuple[float, float]:
    """(cell, bare) marginal seconds per step: medians over interleaved repeats of a short and a long run each,
    after one untimed short run of each (first imports, first engine and process group, allocator warm-up)."""
    config = optimizer_config(setup)
    time_bare(setup, time_cell(setup, short, cache)[1], data, config)
    cell_marginals, bare_marginals = [], []
    for _ in range(repeats):
        (short_s, short_steps), (long_s, long_steps) = time_cell(setup, short, cache), time_cell(setup, long, cache)
        cell_marginals.append((long_s - short_s) / (long_steps - short_steps))
        bare_short, bare_long = time_bare(setup, short_steps, data, config), time_bare(setup, long_steps, data, config)
        bare_marginals.append((bare_long - bare_short) / (long_steps - short_steps))
    return statistics.median(cell_marginals), statistics.median(bare_marginals)


def step_overhead_figure(name: str, cell_step: float, bare_step: float) -> Figure:
    """cell ÷ bare marginal step; none when a marginal came out ≤ 0 (the long run was not slower than the short
    one: other load on the machine swamped the difference)."""
    detail = f"{cell_step * 1e3:.1f} ms vs {bare_step * 1e3:.1f} ms"
    if cell_step <= 0 or bare_step <= 0:
        return Figure(name, None, "not measurable", f"{detail}: the machine was too busy; rerun with more repeats",
                      STEP_OVERHEAD_TARGET)
    return Figure(name, cell_step / bare_step, f"{cell_step / bare_step:.3f}", detail, STEP_OVERHEAD_TARGET)


def prune_event_ratio(preset_name: str, setup: StepSetup, prepared: PreparedData) -> tuple[float, float]:
    """(seconds per prune event, seconds per bare training step) for a preset."""
    setup = replace(setup, preset=preset_name)
    model, optimizer = build_bare(setup, optimizer_config(setup))
    data = bare_data(setup, prepared)
    steps = []
    for _ in range(4):
        started = time.perf_counter()
        bare_steps(setup, model, optimizer, data, 1)
        steps.append(time.perf_counter() - started)
    pruner = GlobalMagnitudePruner(prunable_weights(model), schedule="geometric", sparsity=0.9, t_start=0,
                                   t_end=900, every=100, target=TorchOptimizerTarget(optimizer))
    events = []
    for event in range(0, 1000, 100):
        started = time.perf_counter()
        assert pruner.update(event)
        events.append(time.perf_counter() - started)
    return statistics.median(events), statistics.median(steps[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--short", type=int, default=100, help="dense steps of the short run")
    parser.add_argument("--long", type=int, default=400, help="dense steps of the long run")
    parser.add_argument("--repeats", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    setup = StepSetup("micro", args.batch, args.threads)
    cache = Path(tempfile.mkdtemp(prefix="bench-data-"))
    prepared = prepare_corpus(None, cache_dir=cache)
    data = bare_data(setup, prepared)

    cell_step, bare_step = marginal_step_seconds(setup, args.short, args.long, args.repeats, cache, data)
    figures = [step_overhead_figure("marginal training step through the cell ÷ bare torch, micro, s=0.5 geometric",
                                    cell_step, bare_step)]
    for name in ("micro", "small"):
        event, step = prune_event_ratio(name, setup, prepared)
        figures.append(Figure(f"one global prune event ÷ one bare training step, {name}", event / step,
                              f"{event / step:.3f}", f"{event * 1e3:.2f} ms vs {step * 1e3:.1f} ms",
                              Target("<=", 1.0, "<= 1.0")))
    publish(BenchmarkResult("step", figures, notes=[
        f"{os.cpu_count()} cores, torch {torch.__version__}, threads {args.threads}, batch {args.batch}, "
        f"cells of {args.short} and {args.long} dense steps, medians of {args.repeats} interleaved repeats"]),
        args.json)


if __name__ == "__main__":
    main()
