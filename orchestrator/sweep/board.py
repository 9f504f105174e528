"""The sweep's progress board: a 0-CPU Ray actor that the jobs tell when they start and how far they are, and that
the driver's progress bar reads (orchestrator/sweep/progress.py).

The launcher names the board and gives each job its name and index in the environment (BOARD_ENV, JOB_INDEX_ENV)
so that the app's task function, which Hydra calls with its config only, can find it: `board_reporter()` is its
progress sink, or None outside a Ray sweep. Reports are fire-and-forget actor calls (nothing waits for them).
"""
from __future__ import annotations

import os

from orchestrator.cell.progress_report import ProgressSink

BOARD_ENV = "HYDRA_RAY_PROGRESS_BOARD"
JOB_INDEX_ENV = "HYDRA_RAY_JOB_INDEX"


class ProgressBoard:
    """Which jobs have started, and the last (step, total) each one reported."""

    def __init__(self) -> None:
        self._started: set[int] = set()
        self._progress: dict[int, tuple[int, int]] = {}

    def started(self, index: int) -> None:
        self._started.add(index)
        self._progress.pop(index, None)  # a job Ray retries starts over (from its checkpoint)

    def report(self, index: int, step: int, total: int) -> None:
        self._progress[index] = (step, total)

    def snapshot(self) -> tuple[list[int], dict[int, tuple[int, int]]]:
        """(the jobs that have started, their last reported (step, total))."""
        return sorted(self._started), dict(self._progress)


def job_environment(board_name: str | None, index: int) -> None:
    """Tell this job (its process's environment) which board to report to; no board: nothing to report to."""
    if board_name is None:
        os.environ.pop(BOARD_ENV, None)
        return
    os.environ[BOARD_ENV], os.environ[JOB_INDEX_ENV] = board_name, str(index)


def board_reporter() -> ProgressSink | None:
    """A sink for this job's (step, total) that reports to the sweep's board, when this process runs a job of a Ray
    sweep; else None (a cell run on its own, Hydra's basic launcher, a board that cannot be found)."""
    name = os.environ.get(BOARD_ENV)
    if not name:
        return None
    import ray

    if not ray.is_initialized():  # a process that inherited the variable but is no Ray worker
        return None
    try:
        board = ray.get_actor(name)
    except Exception:  # the sweep that named it is gone: the job runs on, unreported
        return None
    index = int(os.environ[JOB_INDEX_ENV])
    return lambda step, total: board.report.remote(index, step, total)
