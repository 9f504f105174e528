"""How many torch threads each worker of a cell runs.

`train.threads` when it is set. Else, in a Ray sweep, the CPUs Ray gave the cell's task (Ray sets OMP_NUM_THREADS
to them) split across the cell's workers. Else (a cell run on its own) the cores that are idle when the cell
starts, split across its workers, at least one each.

Why idle cores and not all cores: torch's CPU threads wait for each other at every operation, so a thread whose
core is taken by another process holds all of them up. benchmarks/bench_threads.py measures it side by side, on
the README's first cell's step (micro, batch 16), on the 2-core box this project runs on (2026-12-03):
- idle box (load average 0.9, the background run paused): 2 threads 61.7 ms, 1 thread 64.6 ms (0.96x);
- one core kept busy by the benchmark: 2 threads 155.8 ms, 1 thread 69.6 ms (2.24x slower);
- a box loaded by other work (load average 6.7): 2 threads 8.9x slower than 1.
The second thread gains 4 % on an idle box and costs 2-9x on a busy one. The
count does not change a cell's numbers: the same cell trained with 1 and 2 threads ends with bit-identical losses
here (micro, batch 16).
"""
from __future__ import annotations

import os
from typing import Callable, Mapping

import psutil

IDLE_SAMPLE_S = 0.3  # how long the start of a cell watches the machine's load


def usable_cores() -> int:
    """The cores this process may run on (its affinity: a container's or a Slurm step's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores(sample_s: float = IDLE_SAMPLE_S) -> int:
    """Usable cores that no other process kept busy over the last `sample_s` seconds (at least one)."""
    cores = usable_cores()
    busy = psutil.cpu_percent(interval=sample_s) / 100 * (os.cpu_count() or cores)
    return min(cores, max(1, round(cores - busy)))


def worker_threads(threads: int | None, workers: int, *, environ: Mapping[str, str] = os.environ,
                   idle: Callable[[], int] | None = None) -> tuple[int, str]:
    """(threads per worker, why): the number each worker of a cell passes to torch.set_num_threads."""
    if threads:
        return threads, "train.threads"
    granted = int(environ.get("OMP_NUM_THREADS", "0") or 0)
    if granted:
        return max(1, granted // workers), f"the {granted} CPUs given to this cell (OMP_NUM_THREADS)"
    free, cores = (idle or idle_cores)(), usable_cores()
    return max(1, free // workers), f"{free} of {cores} cores idle at the cell's start"
