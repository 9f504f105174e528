"""When a cell's job began, for the overhead clocks in result.json's `timing`: the Ray launcher sets JOB_STARTED_AT
in the job's environment when it starts the job; without it (no Ray), the cell's process start is the clock."""
from __future__ import annotations

import os

import psutil

JOB_STARTED_AT = "HYDRA_RAY_JOB_STARTED_AT"


def job_started_at() -> float:
    """When this cell's job began: the Ray launcher's clock when it runs the cell, else this process's start."""
    return float(os.environ.get(JOB_STARTED_AT) or psutil.Process().create_time())
