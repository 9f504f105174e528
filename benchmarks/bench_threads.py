"""How many torch threads a cell should use when nothing says (train.threads=null outside Ray), measured: the step
time of the README's first cell (micro, batch 16) at 1 thread and at one thread per core, on this machine as it is
and with k cores kept busy by other processes (a box shared with another job), side by side in one run.

Each condition times the bare training step (bench_step.bare_steps: forward, backward, clip, AdamW) over interleaved
repeats and keeps the median; the busy cores are spinning Python processes started for the condition and stopped
after it. The figure per load is step(all cores) ÷ step(1 thread): below 1, threads pay; above 1, they cost.

    .venv/bin/python benchmarks/bench_threads.py [--steps 30] [--repeats 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from bench_step import StepSetup, bare_data, bare_steps, build_bare, optimizer_config  # noqa: E402
from figures import BenchmarkResult, Figure, add_json_option, publish  # noqa: E402

from orchestrator.data import prepare_corpus  # noqa: E402


def _spin(stop) -> None:
    while not stop.is_set():
        pass


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """`count` processes that each keep a core busy until the block ends."""
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(count)]
    for spinner in spinners:
        spinner.start()
    time.sleep(0.5 if count else 0)
    try:
        yield
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()


def step_seconds(setup: StepSetup, data, config, steps: int) -> float:
    torch.set_num_threads(setup.threads)
    model, optimizer = build_bare(setup, config)
    bare_steps(setup, model, optimizer, data, 3)  # warm-up: first allocations and kernels
    started = time.perf_counter()
    bare_steps(setup, model, optimizer, data, steps, first_step=3)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    add_json_option(parser)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    result = BenchmarkResult("threads", notes=[
        f"micro, batch {args.batch}, {args.steps} steps a timing, median of {args.repeats}; {cores} cores; "
        f"load average before the run {os.getloadavg()[0]:.2f}"])
    if cores < 2:
        result.skipped = "one core: nothing to choose"
        publish(result, args.json)
        return
    prepared = prepare_corpus(None, cache_dir=Path(tempfile.mkdtemp()))
    data = bare_data(StepSetup(batch=args.batch), prepared)
    config = optimizer_config(StepSetup(batch=args.batch))
    for busy in range(cores):
        times: dict[int, list[float]] = {1: [], cores: []}
        with busy_cores(busy):
            for _ in range(args.repeats):
                for threads in times:
                    setup = StepSetup(batch=args.batch, threads=threads)
                    times[threads].append(step_seconds(setup, data, config, args.steps))
        one, every = statistics.median(times[1]), statistics.median(times[cores])
        result.figures.append(Figure(
            f"step with {cores} threads ÷ step with 1 thread, {busy} of {cores} cores busy", every / one,
            f"{every / one:.2f}", f"{every * 1e3:.1f} ms vs {one * 1e3:.1f} ms"))
    publish(result, args.json)


if __name__ == "__main__":
    main()
