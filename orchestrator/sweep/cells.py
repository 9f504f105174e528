"""The cell-specific hooks behind the general Ray launcher (attached to orchestrator-train's task function).

`validate_cells` checks every cell of a sweep before anything runs, and writes nothing: each config validates and
plans, no two cells share an id (they would write the same directory), the store can be written, each result.json a
rerun would read is readable, and each corpus is readable and long enough for the cells that use it.
`cell_resources` asks Ray for one CPU per worker thread, or one GPU per worker; `cell_cost` lets the launcher start
the longest cells first.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from orchestrator.cell.corpus import data_cache_dir, glance_at_data
from orchestrator.cell.preflight import check_data, check_result_readable, check_store_writable
from orchestrator.config import Config, ConfigError
from orchestrator.model_size import linear_params
from orchestrator.data import find_token_files
from orchestrator.store.cell_id import cell_id, set_sweep_device
from orchestrator.store.manifest import record_run
from orchestrator.store.uri import is_uri
from orchestrator.sweep.composed import composed

CREDENTIALS_IN_URI = re.compile(r"://[^/@\s]*@")
RAY_JOB_FOLDER = "runtime_resources/working_dir_files"  # where Ray unpacks a submitted job's working_dir


def _label(job_config: DictConfig) -> str:
    """The cell's overrides, as error messages name it; a URI's user:secret@ is masked (never echoed)."""
    overrides = list(job_config.hydra.overrides.task) if "hydra" in job_config else []
    return CREDENTIALS_IN_URI.sub("://***@", " ".join(overrides)) or "(no overrides)"


def validate_cells(job_configs: list[DictConfig]) -> list[Config]:
    configs: list[Config] = []
    seen: dict[str, int] = {}
    for index, job_config in enumerate(job_configs):
        try:
            config, _ = composed(job_config)
            if config.data.format == "tokens":
                find_token_files(config.data.path)  # a file, a folder or a glob: DataError when nothing is there
            elif config.data.path is not None and not Path(config.data.path).exists():
                raise ConfigError(f"data.path does not exist: {config.data.path}")
        except (ConfigError, ValueError) as error:
            raise ConfigError(f"cell #{index} ({_label(job_config)}): {error}") from None
        identity = f"{config.sweep}/{cell_id(config)}"
        if identity in seen:
            raise ConfigError(f"cell #{index} ({_label(job_config)}) is the same cell as #{seen[identity]}: "
                              f"both would write {identity}")
        seen[identity] = index
        configs.append(config)
    if job_configs and _joins_a_cluster(job_configs[0]):
        for index, config in enumerate(configs):
            _check_store_reachable_from_the_cluster(config, index, job_configs[index])
    if job_configs and _through_ray_client(job_configs[0]):
        return configs  # the store and the data live on the cluster's filesystem, not this machine's
    _check_each_once(job_configs, configs, _store_key, check_store_writable)
    _check_each_once(job_configs, configs, _result_key, _check_result)
    _check_each_once(job_configs, configs, _data_key, _check_data)
    return configs


def record_manifest(job_configs: list[DictConfig]) -> list[Config]:
    """Each sweep folder's manifest gains this run: the command and its cells (orchestrator.store.manifest); returns
    the cells' configs. Not through Ray Client: the store is on the cluster's filesystem, not this machine's."""
    if job_configs and _through_ray_client(job_configs[0]):
        return []
    by_sweep: dict[tuple[str, str], list[dict]] = {}
    configs = [composed(job_config)[0] for job_config in job_configs]
    for job_config, config in zip(job_configs, configs):
        if not config.dry_run:
            overrides = list(job_config.hydra.overrides.task) if "hydra" in job_config else []
            by_sweep.setdefault((config.results_dir, config.sweep), []).append(
                {"cell_id": cell_id(config), "overrides": overrides})
    for (results_dir, sweep), cells in by_sweep.items():
        record_run(results_dir, sweep, cells)
    return configs


def record_sharing(job_configs: list[DictConfig]) -> list:
    """The fork tree of the cells that share trunks, written to their sweep folder's sharing.json
    (orchestrator/sweep/trunks.py): [(where, plan)], or (the sweep folder, None) where the cells train alone: a URI
    store, or through Ray Client (the store is the cluster's, not this machine's)."""
    from orchestrator.sweep.trunks import write_sharing

    if not job_configs:
        return []
    return write_sharing([composed(job_config)[0] for job_config in job_configs],
                         store_is_local=not _through_ray_client(job_configs[0]))


def _joins_a_cluster(job_config: DictConfig) -> bool:
    """The sweep runs on a Ray cluster, not a Ray of its own: an address to join, or the environment of a job that
    `ray job submit` started (Ray sets RAY_ADDRESS for it and runs it in the job's package folder)."""
    return (OmegaConf.select(job_config, "hydra.launcher.address", default=None) is not None
            or bool(os.environ.get("RAY_ADDRESS")) or RAY_JOB_FOLDER in os.getcwd())


def _check_store_reachable_from_the_cluster(config: Config, index: int, job_config: DictConfig) -> None:
    """A relative results_dir on a cluster resolves in each job's working folder — under `ray job submit`, Ray's
    per-job package folder — so the store is lost with the cluster and a rerun cannot skip finished cells."""
    if is_uri(config.results_dir) or Path(config.results_dir).is_absolute():
        return
    raise ConfigError(f"cell #{index} ({_label(job_config)}): results_dir must be an absolute path on a filesystem "
                      f"every node reaches, or a URI (s3://…, gs://…), when the sweep runs on a Ray cluster; "
                      f"got the relative path {config.results_dir!r}, which would land in {os.getcwd()} (under "
                      "`ray job submit`, Ray's per-job package folder, lost when the cluster restarts)")


def _through_ray_client(job_config: DictConfig) -> bool:
    return str(OmegaConf.select(job_config, "hydra.launcher.address", default=None)).startswith("ray://")


def _store_key(config: Config) -> tuple:
    return config.results_dir, config.data.cache_dir


def _result_key(config: Config) -> tuple:
    return config.results_dir, config.sweep, cell_id(config)


def _check_result(config: Config) -> None:
    if not config.dry_run:  # a dry run does not read result.json
        check_result_readable(config)


def _data_key(config: Config) -> tuple:
    """Cells that read the same prepared corpus; the one with the longest context is checked for all of them."""
    data = config.data
    return (data.path, data.format, data.tokenizer, data.val_fraction, data.dtype, data.vocab_size, data.eos_id,
            data_cache_dir(config), config.dry_run)


def _check_data(config: Config) -> None:
    if config.dry_run:  # a dry run looks at data.path (missing, empty, non-UTF-8 text fail), caches nothing
        if config.data.path is not None:
            glance_at_data(config)
        return
    check_data(config)


def _check_each_once(job_configs: list[DictConfig], configs: list[Config], key, check) -> None:
    """Run `check` once per distinct key, on the cell with the longest context among those sharing it (the one a
    too-short corpus fails first), naming that cell on failure."""
    chosen: dict[tuple, int] = {}
    for index, config in enumerate(configs):
        current = chosen.get(key(config))
        if current is None or config.model.context > configs[current].model.context:
            chosen[key(config)] = index
    for index in sorted(chosen.values()):
        try:
            check(configs[index])
        except (ConfigError, ValueError) as error:
            raise ConfigError(f"cell #{index} ({_label(job_configs[index])}): {error}") from None


def cell_resources(job_config: DictConfig) -> dict:
    """One worker's Ray resources: a CPU per thread, or train.gpus_per_worker GPUs (a fraction lets cells share a
    GPU); `device=auto` means GPUs when the cluster has any. `ranks`: train.workers > 1 runs the cell on a gang of
    that many warm processes (orchestrator/sweep/gang.py), each with these resources, spread over nodes when one
    is too small, unless the store is a URI (`placement`)."""
    train = job_config.train
    wants_gpu = train.device == "cuda" or (train.device == "auto" and _cluster_has_gpus())
    one = {"num_cpus": 1, "num_gpus": train.gpus_per_worker} if wants_gpu else {"num_cpus": train.threads or 1}
    if train.workers == 1:
        return one
    # a URI store's cell folder is a stage on rank 0's node, where every rank writes its checkpoint shards: one node
    return one | {"ranks": train.workers} | ({"placement": "STRICT_PACK"} if is_uri(job_config.results_dir) else {})


def _cluster_has_gpus() -> bool:
    import ray

    return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0


def name_cells_for_the_cluster() -> None:
    """From here on, this driver names `train.device=auto` cells as the cluster's workers will (GPU cells when the
    cluster has GPUs: cell_resources asks for them), not by its own hardware: a CPU head node with GPU workers would
    otherwise record, share and fail cells under ids the workers never write (the id holds the resolved device)."""
    set_sweep_device("cuda" if _cluster_has_gpus() else "cpu")


def cell_cost(job_config: DictConfig) -> float:
    """Relative cost of a cell for scheduling: planned steps × tokens per step × linear parameters."""
    config, plan = composed(job_config)
    return float(plan.total_steps * config.train.batch_size * config.model.context
                 * linear_params(config.model.preset, config.model_vocab_size()))
