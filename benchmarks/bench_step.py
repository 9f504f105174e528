"""Step overhead of a cell against a bare torch loop, and the cost of a prune event against a training step.

Measured side by side in one process, interleaved, medians over repeats (these machines are noisy):
  1. marginal cost of one training step through the cell (DeepSpeed engine, pruner hooks and events, accounting,
     logging) ÷ the same for a bare torch loop (same model, batch, data, thread count). Marginal = the difference
     of two runs of different lengths divided by the difference in steps, so fixed costs (engine set-up, final
     evaluation, writing the model) cancel. Target ≤ 1.05.
  2. one global-magnitude prune event ÷ one bare training step, at micro and small. Target ≤ 1.0.

    .venv/bin/python benchmarks/bench_step.py [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402

from model.gpt import GPT, preset  # noqa: E402
from orchestrator.data import TokenBatches, prepare_corpus  # noqa: E402
from orchestrator.distributed import build_optimizer  # noqa: E402
from pruning.magnitude import GlobalMagnitudePruner, TorchOptimizerTarget, prunable_weights  # noqa: E402


def cell_overrides(steps: int, threads: int, batch: int, results: Path, cache: Path) -> list[str]:
    return ["model=micro", f"budget.dense_steps={steps}", "pruning=geometric", "pruning.sparsity=0.5",
            "pruning.every=10", f"train.batch_size={batch}", f"train.threads={threads}", "train.eval_every=100000",
            "train.log_every=10", "train.checkpoint_every=100000", "wandb.mode=disabled",
            f"results_dir={results}", f"data.cache_dir={cache}"]


def time_cell(steps: int, args, cache: Path) -> tuple[float, int]:
    from conftest import build
    from orchestrator.cell import run_cell

    with tempfile.TemporaryDirectory() as results:
        config, resolved = build(cell_overrides(steps, args.threads, args.batch, Path(results), cache))
        started = time.perf_counter()
        outcome = run_cell(config, resolved)
        return time.perf_counter() - started, outcome.result["steps"]


def time_bare(steps: int, args, data) -> float:
    config, _ = _config(args)
    torch.manual_seed(0)
    model = GPT(preset("micro"))
    optimizer = build_optimizer(model, config)
    started = time.perf_counter()
    for step in range(steps):
        x, y = data.batch(step, batch_size=args.batch, seed=0)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
    return time.perf_counter() - started


def _config(args):
    from conftest import build

    return build(["model=micro", f"train.batch_size={args.batch}"])


def prune_event_ratio(preset_name: str, args, data_path: Path, dtype) -> tuple[float, float]:
    """(seconds per prune event, seconds per bare training step) for a preset."""
    config, _ = _config(args)
    torch.manual_seed(0)
    gpt = preset(preset_name)
    model = GPT(gpt)
    optimizer = build_optimizer(model, config)
    data = TokenBatches(data_path, seq_len=gpt.max_seq_len, dtype=dtype)
    steps = []
    for step in range(4):
        started = time.perf_counter()
        x, y = data.batch(step, batch_size=args.batch, seed=0)
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp(prefix="bench-data-"))
    prepared = prepare_corpus(None, cache_dir=cache)
    data = TokenBatches(prepared.train_path, seq_len=128, dtype=prepared.dtype)

    cell_marginals, bare_marginals = [], []
    for _ in range(args.repeats):
        (short_s, short_steps), (long_s, long_steps) = time_cell(args.short, args, cache), time_cell(args.long, args,
                                                                                                     cache)
        cell_marginals.append((long_s - short_s) / (long_steps - short_steps))
        bare_short, bare_long = time_bare(short_steps, args, data), time_bare(long_steps, args, data)
        bare_marginals.append((bare_long - bare_short) / (long_steps - short_steps))
    cell_step, bare_step = statistics.median(cell_marginals), statistics.median(bare_marginals)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, threads {args.threads}, batch {args.batch}")
    print("| figure | cell | bare torch | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| marginal step, micro, s=0.5 geometric | {cell_step * 1e3:.1f} ms | {bare_step * 1e3:.1f} ms "
          f"| {cell_step / bare_step:.3f} | <= 1.05 |")
    for name in ("micro", "small"):
        event, step = prune_event_ratio(name, args, prepared.train_path, prepared.dtype)
        print(f"| prune event vs bare step, {name} | {event * 1e3:.2f} ms | {step * 1e3:.1f} ms "
              f"| {event / step:.3f} | <= 1.0 |")


if __name__ == "__main__":
    main()
