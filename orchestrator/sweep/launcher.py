"""A general Hydra Launcher that runs every job of a multirun on a pool of warm Ray actors.

Works for any Hydra app: it runs whatever task function it is given and returns each job's JobReturn, with sweep
dirs and job numbers as Hydra's BasicLauncher sets them. Unlike hydra-ray-launcher it never aborts the sweep when a
job fails (the failure is that job's JobReturn; Hydra raises it after the sweep, so the exit code is non-zero), it
runs jobs in Ray actor processes one at a time (never in driver threads: Hydra's run_job changes global state), and
it retries jobs whose process or node died. The actors (orchestrator/sweep/pool.py) are made as soon as Ray is up
and keep their process from job to job, so the app's imports (its `warm_up` hook) are paid once per actor while the
driver records the sweep, not once per job. Optional hooks, given as dotted paths in the launcher config, let an app
validate all jobs before anything runs and size each job's resources; the orchestrator's cell logic plugs in there
(orchestrator/sweep/cells.py).

Registered as `hydra/launcher=ray` by the thin shim in hydra_plugins/ray_cells/.
"""
from __future__ import annotations

import importlib
import logging
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict

from orchestrator.launcher_config import RayLauncherConf
from orchestrator.sweep.board import ProgressBoard
from orchestrator.sweep.compose_once import compose_once
from orchestrator.sweep.pool import JobPool, why_unschedulable
from orchestrator.sweep.progress import SweepProgress

log = logging.getLogger(__name__)


def import_dotted(path: str) -> Callable:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class RayCellLauncher(Launcher):
    def __init__(self, **settings: Any) -> None:
        self.settings = RayLauncherConf(**{k: _plain(v) for k, v in settings.items()})
        self.config: DictConfig | None = None
        self.hydra_context = None
        self.task_function = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        self._loader = compose_once(hydra_context)  # the sweeper's check composes each job: kept for launch

    def _hook(self, name: str) -> Callable | None:
        """A hook named in the launcher config, else one the task function carries as an attribute."""
        dotted = getattr(self.settings, name)
        return import_dotted(dotted) if dotted else getattr(self.task_function, name, None)

    def _submission_order(self, configs: list[DictConfig]) -> list[int]:
        """Costliest first when a cost hook exists (the longest jobs start early: a shorter tail), else as given."""
        cost = self._hook("job_cost")
        indices = list(range(len(configs)))
        return sorted(indices, key=lambda i: -cost(configs[i])) if cost else indices

    def _job_configs(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[DictConfig]:
        configs = []
        for offset, overrides in enumerate(job_overrides):
            sweep_config = self._loader.take(self.config, overrides)
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = initial_job_idx + offset
                sweep_config.hydra.job.num = initial_job_idx + offset
            configs.append(sweep_config)
        return configs

    def _job_shapes(self, configs: list[DictConfig], cluster: dict,
                    nodes: list[dict]) -> tuple[dict[int, dict], dict[int, Exception]]:
        """({job: its Ray options}, in submission order, {job: why it is refused}): a job Ray could never place (more
        of a resource than the whole cluster has, or than any node has for what must share a node) is refused,
        unless allow_infeasible."""
        sizing = self._hook("job_resources")
        options, infeasible = {}, {}
        for index in self._submission_order(configs):
            resources = job_options(sizing, configs[index], self.settings.default_resources)
            why = why_unschedulable(resources, cluster, nodes)
            if why and not self.settings.allow_infeasible:
                infeasible[index] = RuntimeError(f"job #{index} asks for {resources}: {why}")
            else:
                options[index] = resources
        return options, infeasible

    def _failed(self, configs: list[DictConfig], job_overrides: Sequence[Sequence[str]], index: int,
                error: BaseException) -> JobReturn:
        """The JobReturn of a job that never ran to its end; the app's on_job_failed hook records it first."""
        record = self._hook("on_job_failed")
        if record is not None:  # the app records the job that never ran to its end (a failed result.json)
            try:
                record(configs[index], error)
            except Exception as hook_error:
                log.error(f"on_job_failed hook failed for job #{index}: {type(hook_error).__name__}: {hook_error}")
        return _failed_return(configs[index], job_overrides[index], error)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        configs = self._job_configs(job_overrides, initial_job_idx)
        self._loader.forget()  # compositions of jobs this batch does not hold (none, with Hydra's sweepers)
        validate = self._hook("validate_jobs")
        if validate is not None:  # bad input stops the sweep here, before any compute
            validate(configs)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        import ray

        from orchestrator.sweep.connect import ClusterUnreachable, connect

        try:
            ray_is_ours = connect(self.settings)
        except ClusterUnreachable as error:  # one line and exit 2, like any bad input (not Hydra's traceback)
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        state = ray.put(Singleton.get_state())
        labels = [" ".join(filter_overrides(overrides)) for overrides in job_overrides]
        log.info(f"Launching {len(configs)} jobs on Ray ({ray.get_runtime_context().gcs_address})")
        board_name = f"sweep-progress-{uuid.uuid4().hex[:12]}"  # jobs find it by name (the driver holds it alive)
        board = ray.remote(num_cpus=0)(ProgressBoard).options(name=board_name).remote()
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        options, infeasible = self._job_shapes(configs, ray.cluster_resources(), nodes)
        pool = JobPool(options=options, order=list(options), warm_up=self._hook("warm_up"),
                       wind_down=self._hook("wind_down"), reuse=self.settings.reuse_processes, max_retries=self.settings.max_retries,
                       job_args=lambda index: (state, self.hydra_context, self.task_function, configs[index],
                                               board_name, index))
        try:
            start = self._hook("on_sweep_start")
            if start is not None:  # the sweep will run: the app may record it (orchestrator-train: sweep.json)
                start(configs)  # while the pool's actors warm up
            pool.start()
            progress = SweepProgress(labels, enabled=self.settings.progress)
            returns = progress.wait(pool, board=board, refused=infeasible,
                                    on_error=lambda index, error: self._failed(configs, job_overrides, index, error))
        finally:
            pool.close()
        going_down = threading.Thread(target=ray.shutdown, name="ray-shutdown") if ray_is_ours else None
        if going_down is not None:  # Ray stops (~1.5 s here) while the app's end-of-sweep hook runs, not after it
            going_down.start()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        finish = self._hook("on_sweep_end")
        try:
            if finish is not None:
                finish(self.config, returns)
        except Exception as error:  # the jobs' results stand; the hook's failure is only reported
            log.error(f"on_sweep_end hook failed: {type(error).__name__}: {error}")
        finally:
            if going_down is not None:
                going_down.join()
        return returns


def job_options(sizing: Callable | None, config: DictConfig, defaults: Any) -> dict:
    """One job's Ray task options: the app's sizing hook (one CPU without one), with default_resources over it."""
    return {**(sizing(config) if sizing else {"num_cpus": 1}), **(_plain(defaults) or {})}


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _failed_return(config: DictConfig, overrides: Sequence[str], error: BaseException) -> JobReturn:
    """A JobReturn for a job Ray gave up on (its process or node died more often than max_retries)."""
    task_config = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    ret = JobReturn(overrides=list(overrides), cfg=task_config, hydra_cfg=config, working_dir=None,
                    task_name=str(config.hydra.job.name), status=JobStatus.FAILED)
    ret.return_value = error
    return ret
