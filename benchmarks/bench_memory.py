"""Peak resident memory of a cell's worker against a bare torch loop of the same model, batch and steps.

Three fresh 'spawn' child processes, one after another, on the micro preset:
  1. a bare torch loop (`bench_step.bare_steps`: the GPT, AdamW, the same batches) for as many steps as the cell;
  2. a cell with train.workers=1 through orchestrator.cell.run.run_cell (the worker trains in the cell's process:
     DeepSpeed engine, pruner, accounting, logging, final evaluation and model);
  3. the same cell with train.workers=2: the cell's process spawns two DeepSpeed workers (half the batch each).
The parent polls /proc/<pid>/status of each child and of every process it spawns every --poll seconds and keeps
the highest VmHWM (the kernel's peak resident set since the process started) seen per process. Every process
imports this file (spawn), so the bare loop carries the same benchmark imports as the cells.

    .venv/bin/python benchmarks/bench_memory.py [--dense-steps 60] [--json PATH]
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import psutil
from bench_step import StepSetup, bare_data, bare_steps, build_bare, cell_overrides, optimizer_config
from figures import BenchmarkResult, Figure, add_json_option, publish
from proc_memory import status_mib


def bare_child(setup: StepSetup, config, prepared, steps: int) -> None:
    import torch

    torch.set_num_threads(setup.threads)
    model, optimizer = build_bare(setup, config)
    bare_steps(setup, model, optimizer, bare_data(setup, prepared), steps)


def cell_child(config, resolved) -> None:
    from orchestrator.cell.run import run_cell

    run_cell(config, resolved)


def peak_mib_per_process(target, args: tuple, poll: float) -> dict[int, tuple[str, float]]:
    """Run `target(*args)` in a spawned child; {pid: (role, peak MiB)} for the child ("child"), the worker processes
    it spawns ("worker") and anything else below it ("helper": a resource tracker, a fork that runs a compiler)."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=args)
    child.start()
    peaks: dict[int, tuple[str, float]] = {}
    while child.is_alive():
        try:
            parent = psutil.Process(child.pid)
            processes = [(parent, "child")] + [(p, _role(p, child.pid)) for p in parent.children(recursive=True)]
        except psutil.Error:
            break  # it ended between is_alive() and here
        for process, role in processes:
            try:
                peak = status_mib("VmHWM", process.pid)
            except (OSError, KeyError):
                continue  # it ended between listing and reading
            peaks[process.pid] = (role, max(peak, peaks.get(process.pid, (role, 0.0))[1]))
        time.sleep(poll)
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{target.__name__} exited with code {child.exitcode}")
    return peaks


def _role(process: psutil.Process, child_pid: int) -> str:
    """A worker is a process the child spawned itself (`spawn_main`); its own forks are helpers."""
    try:
        spawned = process.ppid() == child_pid and "spawn_main" in " ".join(process.cmdline())
    except psutil.Error:
        return "helper"
    return "worker" if spawned else "helper"


def _peaks_of(peaks: dict[int, tuple[str, float]], role: str) -> list[float]:
    return [peak for each_role, peak in peaks.values() if each_role == role]


def memory_figures(bare: float, one_worker: float, two_workers: list[float], cell_of_two: float) -> list[Figure]:
    """No target: the figures say what a worker costs on top of the loop it runs."""
    worst = max(two_workers)
    return [
        Figure("peak RSS of the bare torch loop", bare, f"{bare:,.0f} MiB"),
        Figure("peak RSS per worker, cell with train.workers=1 ÷ bare loop", one_worker / bare,
               f"{one_worker / bare:.2f}", f"{one_worker:,.0f} MiB vs {bare:,.0f} MiB"),
        Figure("peak RSS per worker, cell with train.workers=2 (largest worker) ÷ bare loop", worst / bare,
               f"{worst / bare:.2f}", f"workers {', '.join(f'{w:,.0f}' for w in two_workers)} MiB "
               f"(+ cell process {cell_of_two:,.0f} MiB) vs {bare:,.0f} MiB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense-steps", type=int, default=60, help="the cell's budget C (dense-equivalent steps)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between reads of /proc/<pid>/status")
    add_json_option(parser)
    args = parser.parse_args()

    from conftest import build

    from orchestrator.cell.run import plan_cell
    from orchestrator.data import prepare_corpus

    setup = StepSetup("micro", args.batch, threads=1)
    with tempfile.TemporaryDirectory() as scratch:
        cache, results = Path(scratch) / "data", Path(scratch) / "results"
        prepared = prepare_corpus(None, cache_dir=cache)
        overrides = cell_overrides(setup, args.dense_steps, results, cache)
        one_worker = build(overrides)
        steps = plan_cell(one_worker[0]).total_steps
        bare = peak_mib_per_process(bare_child, (setup, optimizer_config(setup), prepared, steps), args.poll)
        single = peak_mib_per_process(cell_child, one_worker, args.poll)
        double = peak_mib_per_process(cell_child, build(overrides + ["train.workers=2", "sweep=two_workers"]),
                                      args.poll)
    (bare_peak,), (single_peak,), (cell_of_two,) = (_peaks_of(peaks, "child") for peaks in (bare, single, double))
    figures = memory_figures(bare_peak, single_peak, _peaks_of(double, "worker"), cell_of_two)
    publish(BenchmarkResult("memory", figures, notes=[
        f"micro preset, batch {args.batch} (each of 2 workers: {args.batch // 2}), {steps} steps "
        f"(C = {args.dense_steps}, geometric s = 0.5), 1 torch thread per process, VmHWM polled every {args.poll} s"]),
        args.json)


if __name__ == "__main__":
    main()
