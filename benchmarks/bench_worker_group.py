"""Why cells run as a Ray task that spawns its own worker group, not through Ray Train's TorchTrainer.

Measures, side by side on one local Ray, the fixed cost of starting a 2-process gloo worker group that does
nothing but join a process group and leave:
  1. TorchTrainer(num_workers=2, use_gpu=False).fit() of an empty train loop;
  2. one Ray task (2 CPUs) that spawns 2 processes with torch.multiprocessing and joins a gloo group in each —
     what orchestrator/cell/run.py does for a cell with train.workers=2.

The first is the fixed cost a cell with train.workers=2 pays before its first step (target ≤ 2 s, the per-cell
fixed overhead on Ray).

    .venv/bin/python benchmarks/bench_worker_group.py [--repeats 3] [--json PATH]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from figures import BenchmarkResult, Figure, Target, add_json_option, publish


def _join_group(rank: int, world_size: int, port: int) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    dist.barrier()
    dist.destroy_process_group()


def spawned_group() -> float:
    import torch.multiprocessing as mp

    from orchestrator.cell.distributed import free_port

    started = time.perf_counter()
    mp.start_processes(_join_group, args=(2, free_port()), nprocs=2, join=True, start_method="spawn")
    return time.perf_counter() - started


def _spawned_group_from_module() -> float:
    """Import this file as a module in the Ray worker, so the spawned processes can find `_join_group`."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    return importlib.import_module("bench_worker_group").spawned_group()


def _empty_loop(config) -> None:
    import torch.distributed as dist

    dist.barrier()


def torch_trainer(storage: str) -> float:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    started = time.perf_counter()
    TorchTrainer(_empty_loop, scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
                 run_config=RunConfig(storage_path=storage)).fit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    task = ray.remote(num_cpus=2)(_spawned_group_from_module)
    storage = tempfile.mkdtemp(prefix="bench-train-")
    ours, trainer = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        ray.get(task.remote())
        ours.append(time.perf_counter() - started)
        trainer.append(torch_trainer(storage))
    ray.shutdown()
    ours, trainer = statistics.median(ours), statistics.median(trainer)
    publish(BenchmarkResult("worker_group", [
        Figure("2-worker gloo group started by a Ray task spawning 2 processes (a cell with train.workers=2)", ours,
               f"{ours:.2f} s", "", Target("<=", 2.0, "<= 2 s")),
        Figure("Ray Train `TorchTrainer(num_workers=2).fit()` ÷ the Ray task spawning 2 processes", trainer / ours,
               f"{trainer / ours:.1f}×", f"{trainer:.2f} s vs {ours:.2f} s"),
    ], notes=[f"{os.cpu_count()} cores; empty jobs (join, barrier, leave); medians of {args.repeats}"]), args.json)


if __name__ == "__main__":
    main()
