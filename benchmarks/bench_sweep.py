"""Per-cell fixed overhead on Ray and sweep overhead on the demo sweep (`experiment=demo`, 8 micro cells), and on a
sweep of many trivial cells.

Runs `orchestrator-train -m experiment=demo` into a fresh store and reads every result.json's `timing`:
  per-cell fixed overhead = setup + teardown, median and worst cell                    (target ≤ 0.5 s), where
    setup    = the cell's job started on its pool actor → first training step
    teardown = last training step → result.json written (model saved, W&B run closed)
  sweep overhead = 1 − Σ(cell training time) ÷ (wall × cells that run at once)       (target ≤ 5 %)
where "wall" is the whole command (Ray start, composition, validation, the pool's warm-up, every cell, and the report
that ends every sweep) and cells run at once = Ray's CPUs ÷ CPUs per cell. The same overhead is also given for the
cells only: wall = the command's start → the last result.json written (before the report); and the report's own
share of the whole command (target ≤ 5 %). Then it reruns the same command, which trains nothing, and times it.
With --gang N it also runs N 2-worker cells (pico) on the pool's gangs and gives their set-up time. With --trivial N
it also runs N cells of a few steps each (the pico preset, 4 dense steps, seeds 0..N-1) and gives
the overhead per cell: (wall × cells at once − Σ train) ÷ N, whole command included (target ≤ 0.3 s).

    .venv/bin/python benchmarks/bench_sweep.py [--cpus 2] [--trivial 200] [--override KEY=VALUE ...] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import BenchmarkResult, Figure, Target, add_json_option, publish

REPO = Path(__file__).resolve().parents[1]


def run_sweep(cpus: int, arguments: list[str], store: Path | None = None) -> tuple[float, float, list[dict], Path]:
    """(start time, end time, every cell's `timing`, the store) of one sweep into `store` (a fresh one if None)."""
    store = store or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    command = [str(Path(sys.executable).parent / "orchestrator-train"), "-m", *arguments, f"results_dir={store}",
               "wandb.mode=offline", f"hydra.launcher.num_cpus={cpus}", "hydra.launcher.progress=false"]
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    started = time.time()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    ended = time.time()
    return started, ended, [json.loads(p.read_text())["timing"] for p in store.glob("*/*/result.json")], store


def fixed_overhead_figure(name: str, setup: list[float], teardown: list[float], statistic) -> Figure:
    """setup + teardown of a cell, summarised by `statistic` (median, max) over the cells."""
    value = statistic([s + t for s, t in zip(setup, teardown, strict=True)])
    detail = (f"setup median {statistics.median(setup):.2f} s (max {max(setup):.2f} s), "
              f"teardown median {statistics.median(teardown):.2f} s (max {max(teardown):.2f} s)")
    return Figure(name, value, f"{value:.2f} s", detail, Target("<=", 0.5, "<= 0.5 s"))


def overhead_figure(name: str, train: list[float], wall: float, at_once: int) -> Figure:
    overhead = 1 - sum(train) / (wall * at_once)
    detail = f"Σ train {sum(train):.1f} s vs wall {wall:.1f} s × {at_once} at once"
    return Figure(name, overhead, f"{100 * overhead:.1f} %", detail, Target("<=", 0.05, "<= 5 %"))


def trivial_figure(count: int, cpus: int) -> Figure:
    """Overhead per cell of a sweep of `count` trivial cells, the whole command included."""
    seeds = f"seed=range(0,{count})"
    started, ended, timings, _ = run_sweep(cpus, ["experiment=micro_cell", "model=pico", "budget.dense_steps=4",
                                                  "pruning.every=1", "train.batch_size=4", "train.eval_every=4",
                                                  "train.log_every=1", "train.checkpoint_every=4", "train.threads=1",
                                                  seeds], None)
    train = sum(t["last_step_at"] - t["first_step_at"] for t in timings)
    per_cell = ((ended - started) * cpus - train) / count
    setup = statistics.median(t["first_step_at"] - t["job_started_at"] for t in timings)
    teardown = statistics.median(t["result_written_at"] - t["last_step_at"] for t in timings)
    first_job = min(t["job_started_at"] for t in timings) - started
    report = ended - max(t["result_written_at"] for t in timings)
    return Figure(f"sweep of {count} trivial cells (4 steps each): overhead per cell, whole command", per_cell,
                  f"{per_cell:.2f} s", f"wall {ended - started:.1f} s × {cpus} at once, Σ train {train:.1f} s, "
                  f"{len(timings)} results; per cell: setup median {setup:.2f} s, teardown median "
                  f"{teardown:.2f} s; command → first job {first_job:.1f} s, last result → end {report:.1f} s",
                  Target("<=", 0.3, "<= 0.3 s"))


def gang_figures(count: int, cpus: int) -> list[Figure]:
    """Set-up of 2-worker cells (job start -> first step) on the pool's gangs: the first cell of a gang makes its
    process group, the later ones reuse it (orchestrator/sweep/gang.py)."""
    _, _, timings, _ = run_sweep(cpus, ["experiment=micro_cell", "model=pico", "budget.dense_steps=40",
                                        "train.workers=2", "train.batch_size=8", "train.threads=1",
                                        "train.eval_every=40", "train.checkpoint_every=40", "train.log_every=10",
                                        f"seed=range(0,{count})"], None)
    timings.sort(key=lambda t: t["job_started_at"])
    setup = [t["first_step_at"] - t["job_started_at"] for t in timings]
    gangs = max(1, cpus // 2)
    first, later = setup[:gangs], setup[gangs:]
    median = statistics.median(later)
    return [
        Figure(f"2-worker cell set-up on a warm gang (median of {len(later)} cells)", median, f"{median:.2f} s",
               f"max {max(later):.2f} s; job start -> first step, process group kept", Target("<=", 0.5, "<= 0.5 s")),
        Figure("2-worker cell set-up, a gang's first cell (makes the process group)", max(first),
               f"{max(first):.2f} s", f"{gangs} gang(s) at once on {cpus} CPUs"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--trivial", type=int, default=0, help="also run a sweep of this many trivial cells")
    parser.add_argument("--gang", type=int, default=0, help="also run this many 2-worker cells on the pool's gangs")
    parser.add_argument("--override", action="append", default=[],
                        help="extra Hydra override for the sweep (e.g. budget.tokens_per_param=0.25,0.5)")
    add_json_option(parser)
    args = parser.parse_args()
    started, ended, timings, store = run_sweep(args.cpus, ["experiment=demo", *args.override])
    rerun_started, rerun_ended, _, _ = run_sweep(args.cpus, ["experiment=demo", *args.override], store)
    setup = [t["first_step_at"] - t["job_started_at"] for t in timings]
    train = [t["last_step_at"] - t["first_step_at"] for t in timings]
    teardown = [t["result_written_at"] - t["last_step_at"] for t in timings]
    cells_wall = max(t["result_written_at"] for t in timings) - started
    report_share = 1 - cells_wall / (ended - started)
    at_once = args.cpus  # the demo's cells take 1 CPU each (1 worker, 1 thread)
    figures = [
        fixed_overhead_figure("per-cell fixed overhead (median cell): setup + teardown", setup, teardown,
                              statistics.median),
        fixed_overhead_figure("per-cell fixed overhead (worst cell)", setup, teardown, max),
        Figure("cell training time (median)", statistics.median(train), f"{statistics.median(train):.1f} s",
               f"max {max(train):.1f} s"),
        overhead_figure("sweep overhead, cells only: 1 − Σ train ÷ (wall × cells at once)", train, cells_wall,
                        at_once),
        overhead_figure("sweep overhead, whole command with the end-of-sweep report", train, ended - started,
                        at_once),
        Figure("end-of-sweep report: share of the whole command", report_share, f"{100 * report_share:.1f} %",
               f"{ended - started - cells_wall:.1f} s of {ended - started:.1f} s", Target("<=", 0.05, "<= 5 %")),
        Figure("rerun of the finished demo (trains nothing, report unchanged): wall", rerun_ended - rerun_started,
               f"{rerun_ended - rerun_started:.1f} s", "Hydra, Ray start, validation, 8 skipped cells"),
    ]
    if args.trivial:
        figures.append(trivial_figure(args.trivial, args.cpus))
    if args.gang:
        figures.extend(gang_figures(args.gang, args.cpus))
    publish(BenchmarkResult("sweep", figures, notes=[
        f"{os.cpu_count()} cores; Ray CPUs {args.cpus}; {len(timings)} cells; wall {ended - started:.1f} s"
        + (f"; overrides {' '.join(args.override)}" if args.override else "")]), args.json)


if __name__ == "__main__":
    main()
