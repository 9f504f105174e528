"""The cell-specific hooks behind the general Ray launcher (attached to orchestrator-train's task function).

`validate_cells` checks every cell of a sweep before anything runs: each config validates and plans, data paths
exist, and no two cells share an id (they would write the same directory). `cell_resources` asks Ray for one CPU
per worker thread, or one GPU per worker; `cell_cost` lets the launcher start the longest cells first.
"""
from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, open_dict, read_write

from orchestrator.cell import plan_cell
from orchestrator.cell_id import cell_id
from orchestrator.config import ConfigError, build_config, linear_params


def _task_config(job_config: DictConfig) -> DictConfig:
    """The config the task function will see: the job's config without the `hydra` node."""
    task_config = copy.deepcopy(job_config)
    with read_write(task_config), open_dict(task_config):
        task_config.pop("hydra", None)
    return task_config


def _label(job_config: DictConfig) -> str:
    overrides = list(job_config.hydra.overrides.task) if "hydra" in job_config else []
    return " ".join(overrides) or "(no overrides)"


def validate_cells(job_configs: list[DictConfig]) -> None:
    seen: dict[str, int] = {}
    for index, job_config in enumerate(job_configs):
        try:
            config = build_config(_task_config(job_config))
            plan_cell(config)
            if config.data.path is not None and not Path(config.data.path).exists():
                raise ConfigError(f"data.path does not exist: {config.data.path}")
        except (ConfigError, ValueError) as error:
            raise ConfigError(f"cell #{index} ({_label(job_config)}): {error}") from None
        identity = f"{config.sweep}/{cell_id(config)}"
        if identity in seen:
            raise ConfigError(f"cell #{index} ({_label(job_config)}) is the same cell as #{seen[identity]}: "
                              f"both would write {identity}")
        seen[identity] = index


def cell_resources(job_config: DictConfig) -> dict:
    """CPUs for every worker thread, or a GPU per worker; `device=auto` means GPUs when the cluster has any."""
    import ray

    train = job_config.train
    cluster_has_gpus = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    wants_gpu = train.device == "cuda" or (train.device == "auto" and cluster_has_gpus)
    if wants_gpu:
        return {"num_cpus": train.workers, "num_gpus": train.workers}
    return {"num_cpus": train.workers * (train.threads or 1)}


def cell_cost(job_config: DictConfig) -> float:
    """Relative cost of a cell for scheduling: planned steps × tokens per step × linear parameters."""
    config = build_config(_task_config(job_config))
    return float(plan_cell(config).total_steps * config.train.batch_size * config.model.context
                 * linear_params(config.model.preset))
