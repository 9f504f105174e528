"""Per-cell fixed overhead on Ray and sweep overhead on the demo sweep (`experiment=demo`, 8 micro cells).

Runs `orchestrator-train -m experiment=demo` into a fresh store and reads every result.json's `timing`:
  per-cell fixed overhead = setup + teardown, median and worst cell                      (target ≤ 2 s), where
    setup    = Ray started the cell's task → first training step
    teardown = last training step → result.json written (model saved, W&B run closed)
  sweep overhead = 1 − Σ(cell training time) ÷ (wall × cells that run at once)       (target ≤ 5 %)
where "wall" is the whole command (Ray start, composition, validation, every cell, and the report that ends every
sweep) and cells run at once = Ray's CPUs ÷ CPUs per cell. The same overhead is also given for the cells only:
wall = the command's start → the last result.json written (before the report).

    .venv/bin/python benchmarks/bench_sweep.py [--cpus 2] [--override KEY=VALUE ...] [--json PATH]
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


def run_demo(cpus: int, overrides: list[str]) -> tuple[float, float, list[dict]]:
    """(start time, end time, every cell's `timing`) of one demo sweep into a fresh store."""
    store = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    command = [str(Path(sys.executable).parent / "orchestrator-train"), "-m", "experiment=demo",
               f"results_dir={store}", "wandb.mode=offline", f"hydra.launcher.num_cpus={cpus}", *overrides]
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    started = time.time()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    ended = time.time()
    return started, ended, [json.loads(p.read_text())["timing"] for p in store.glob("demo/*/result.json")]


def fixed_overhead_figure(name: str, setup: list[float], teardown: list[float], statistic) -> Figure:
    """setup + teardown of a cell, summarised by `statistic` (median, max) over the cells."""
    value = statistic([s + t for s, t in zip(setup, teardown, strict=True)])
    detail = (f"setup median {statistics.median(setup):.2f} s (max {max(setup):.2f} s), "
              f"teardown median {statistics.median(teardown):.2f} s (max {max(teardown):.2f} s)")
    return Figure(name, value, f"{value:.2f} s", detail, Target("<=", 2.0, "<= 2 s"))


def overhead_figure(name: str, train: list[float], wall: float, at_once: int) -> Figure:
    overhead = 1 - sum(train) / (wall * at_once)
    detail = f"Σ train {sum(train):.1f} s vs wall {wall:.1f} s × {at_once} at once"
    return Figure(name, overhead, f"{100 * overhead:.1f} %", detail, Target("<=", 0.05, "<= 5 %"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--override", action="append", default=[],
                        help="extra Hydra override for the sweep (e.g. budget.tokens_per_param=0.25,0.5)")
    add_json_option(parser)
    args = parser.parse_args()
    started, ended, timings = run_demo(args.cpus, args.override)
    setup = [t["first_step_at"] - t["job_started_at"] for t in timings]
    train = [t["last_step_at"] - t["first_step_at"] for t in timings]
    teardown = [t["result_written_at"] - t["last_step_at"] for t in timings]
    cells_wall = max(t["result_written_at"] for t in timings) - started
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
    ]
    publish(BenchmarkResult("sweep", figures, notes=[
        f"{os.cpu_count()} cores; Ray CPUs {args.cpus}; {len(timings)} cells; wall {ended - started:.1f} s"
        + (f"; overrides {' '.join(args.override)}" if args.override else "")]), args.json)


if __name__ == "__main__":
    main()
