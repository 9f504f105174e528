"""Each job of a sweep composed into its typed Config and planned once, however many hooks ask.

The launcher hands every hook the same job DictConfig objects (validate_jobs, on_sweep_start, job_cost, …); each
used to build and plan its own copy. `composed` keeps the first (Config, Plan) per job object, so a sweep of 1,000
cells composes and plans 1,000 times, not three or four times that. Errors are not cached: a config that fails to
build raises again for the next caller.
"""
from __future__ import annotations

import copy

from omegaconf import DictConfig, open_dict, read_write

from orchestrator.cell.run import Plan, plan_cell
from orchestrator.config import Config, build_config

_COMPOSED: dict[int, tuple[DictConfig, Config, Plan]] = {}  # id(job config) -> (the job config, its Config, Plan)


def task_config(job_config: DictConfig) -> DictConfig:
    """The config the task function will see: the job's config without the `hydra` node."""
    copied = copy.deepcopy(job_config)
    with read_write(copied), open_dict(copied):
        copied.pop("hydra", None)
    return copied


def composed(job_config: DictConfig) -> tuple[Config, Plan]:
    """(the job's typed Config, its cell's plan), built on the first call for this job config object."""
    held = _COMPOSED.get(id(job_config))
    if held is not None and held[0] is job_config:  # the same object (an id can be reused once one is freed)
        return held[1], held[2]
    config = build_config(task_config(job_config))
    plan = plan_cell(config)
    _COMPOSED[id(job_config)] = (job_config, config, plan)
    return config, plan


def forget_composed() -> None:
    """Drop every cached job (the launcher calls it when a sweep ends: the job configs go with it)."""
    _COMPOSED.clear()
