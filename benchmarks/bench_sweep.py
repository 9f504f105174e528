"""Per-cell fixed overhead on Ray and sweep overhead on the demo sweep (`experiment=demo`, 8 micro cells).

Runs `orchestrator-train -m experiment=demo` into a fresh store and reads every result.json's `timing`:
  setup    = Ray started the cell's task → first training step                     (target ≤ 2 s)
  teardown = last training step → result.json written (model saved, W&B run closed) (target ≤ 2 s)
  sweep overhead = 1 − Σ(cell training time) ÷ (wall × cells that run at once)       (target ≤ 5 %)
where "wall" is the whole command (Ray start, composition, validation, every cell) and cells run at once =
Ray's CPUs ÷ CPUs per cell.

    .venv/bin/python benchmarks/bench_sweep.py [--cpus 2]
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

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    command = [str(Path(sys.executable).parent / "orchestrator-train"), "-m", "experiment=demo",
               f"results_dir={store}", "wandb.mode=offline", f"hydra.launcher.num_cpus={args.cpus}"]
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    started = time.time()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.time() - started
    timings = [json.loads(p.read_text())["timing"] for p in store.glob("demo/*/result.json")]
    setup = [t["first_step_at"] - t["job_started_at"] for t in timings]
    train = [t["last_step_at"] - t["first_step_at"] for t in timings]
    teardown = [t["result_written_at"] - t["last_step_at"] for t in timings]
    at_once = args.cpus  # the demo's cells take 1 CPU each (1 worker, 1 thread)
    overhead = 1 - sum(train) / (wall * at_once)
    print(f"machine: {os.cpu_count()} cores; Ray CPUs {args.cpus}; {len(timings)} cells; wall {wall:.1f} s")
    print("| figure | median | max | target |")
    print("|---|---|---|---|")
    print(f"| cell setup: task started → first step | {statistics.median(setup):.2f} s | {max(setup):.2f} s "
          f"| <= 2 s |")
    print(f"| cell teardown: last step → result.json | {statistics.median(teardown):.2f} s "
          f"| {max(teardown):.2f} s | <= 2 s |")
    print(f"| cell training time | {statistics.median(train):.1f} s | {max(train):.1f} s | |")
    print(f"| sweep overhead 1 − Σtrain ÷ (wall × {at_once}) | {overhead:.1%} | | <= 5 % |")


if __name__ == "__main__":
    main()
