"""What runs inside one Ray task: one Hydra job, in a process of its own.

Hydra's `run_job` changes the working directory and global state, so it is not thread-safe: every job runs alone
in a Ray worker process (one task at a time; `run_job` restores the working directory after each job) with Hydra's
singletons restored from the driver. A job that raises comes
back as a FAILED JobReturn (Hydra's convention); only a dead process or node is a Ray failure, which Ray retries.
"""
from __future__ import annotations

import os
import time
from typing import Any

from hydra.core.utils import JobReturn

from orchestrator.cell.job_clock import JOB_STARTED_AT
from orchestrator.sweep.board import job_environment


def run_one_job(singleton_state: Any, hydra_context, task_function, sweep_config, board: str | None = None,
                index: int = 0) -> JobReturn:
    """Run job #`index`; `board` names the sweep's progress board (orchestrator/sweep/board.py), told of its start."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    os.environ[JOB_STARTED_AT] = repr(time.time())  # when Ray began this job, for the app's overhead clocks
    job_environment(board, index)  # where the app's task function reports the job's progress
    if board is not None:
        import ray

        try:
            ray.get_actor(board).started.remote(index)
        except Exception as error:  # no board, no live display: the job itself goes on
            print(f"[orchestrator] job #{index}: progress board {board} not found ({error})", flush=True)
    setup_globals()
    Singleton.set_state(singleton_state)
    return run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
