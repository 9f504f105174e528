"""`orchestrator-train` (= `python -m orchestrator.train`): the Hydra app that runs one cell, or a sweep with -m.

    orchestrator-train model=micro pruning=geometric pruning.sparsity=0.5 budget.dense_steps=300
    orchestrator-train experiment=micro_cell dry_run=true

Exit status: 0 for done, diverged, skipped or planned; 1 for a failed cell; 2 for input rejected before compute (a
malformed override, a bad config value, an unwritable store, bad data). Hydra's own composition errors (an unknown
config group option) exit 1 with Hydra's message.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from orchestrator.cell.preflight import check_before_compute, reject_malformed_overrides
from orchestrator.cell.tracking import keep_service_up, list_installed_packages_once, stop_service
from orchestrator.config import ConfigError, build_config, register_configs
from orchestrator.store.cell_id import set_sweep_device
from orchestrator.study.report_cli import report_after_sweep
from orchestrator.study.report_warm_up import start_report_warm_up
from orchestrator.sweep.board import board_reporter
from orchestrator.sweep.cells import (cell_cost, cell_resources, name_cells_for_the_cluster, record_manifest,
                                       record_sharing, validate_cells)
from orchestrator.sweep.composed import forget_composed
from orchestrator.sweep.unrun import record_unrun_cell

register_configs()
# The config tree: conf/ ships inside the package as orchestrator/conf (in a checkout, a link to the top-level conf/;
# in a wheel, a copy), else the checkout's conf/ (Ray's working_dir upload skips the link). An absolute path works
# from console scripts, `python -m` and Ray's working_dir alike.
CONF_DIR = next((path for path in (Path(__file__).resolve().parents[1] / "conf",
                                   Path(__file__).resolve().parents[2] / "conf") if (path / "config.yaml").is_file()),
                Path(__file__).resolve().parents[2] / "conf")


def _report(outcome) -> None:
    where = outcome.paths.root
    print(f"[orchestrator] cell {where.name}: {outcome.status}")
    print(f"[orchestrator]   results: {outcome.where}")
    if outcome.result and outcome.result.get("status") in ("done", "diverged"):
        r = outcome.result
        print(f"[orchestrator]   final loss {r['final_loss']}, val loss {r['val_loss']}, "
              f"params initial/avg/final {r['initial_params']}/{r['avg_params']:.0f}/{r['final_params']}")
    wandb_dir = where / "wandb"
    if wandb_dir.exists():
        print(f"[orchestrator]   W&B runs: {wandb_dir} (upload with `wandb sync {wandb_dir}/offline-run-*`)")


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _reject_a_sweep_run_as_one_cell() -> None:
    """ConfigError when the composed config declares a sweep (an experiment's hydra.sweeper.params) that this
    single run leaves unset: without -m it would train one cell off the sweep's grid, into the sweep's folder."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    hydra_config = HydraConfig.get()
    swept = list(hydra_config.sweeper.get("params") or {})
    given = {override.split("=", 1)[0].lstrip("+~") for override in hydra_config.overrides.task}
    missing = [key for key in swept if key not in given]
    if missing:
        choices = hydra_config.runtime.choices.get("experiment")
        raise ConfigError(f"experiment={choices} is a sweep over {', '.join(swept)}: run it with -m (without -m "
                          f"this would train one cell off its grid), or give {', '.join(missing)} one value each")


def _in_process_group() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _leave_process_group() -> None:
    import torch.distributed as dist

    if _in_process_group():
        dist.destroy_process_group()


def run(cfg: DictConfig) -> str:
    """The task function: one cell from a composed config (Hydra calls it once per job)."""
    from orchestrator.cell.run import run_cell
    from orchestrator.data import DataError

    if _in_multirun():  # errors become this job's FAILED JobReturn; the launcher goes on with the other cells
        # the process group stays up for the next cell this process runs (DeepSpeed caches it); the cell's steps go
        # to the sweep's live progress bar (through its board, under the Ray launcher)
        outcome = run_cell(build_config(cfg), OmegaConf.to_container(cfg, resolve=True), report=board_reporter())
        _report(outcome)
        return outcome.status
    had_process_group = _in_process_group()
    try:
        _reject_a_sweep_run_as_one_cell()
        config = build_config(cfg)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        check_before_compute(config)
        outcome = run_cell(config, resolved)
    except (ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:  # the cell is recorded as failed in its result.json
        print(f"error: cell failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        if not had_process_group:  # the group this run created; one that was there already stays (DeepSpeed
            _leave_process_group()  # caches it: a process that re-creates it breaks its next engine)
    _report(outcome)
    if outcome.status == "failed":
        sys.exit(1)
    return outcome.status


# The Ray launcher asks the task function for these hooks (unless the launcher config names others): every cell is
# validated before any compute, and each asks Ray for the CPUs or GPUs of its worker group.
def validate_or_exit(job_configs) -> None:
    """validate_cells, a bad sweep reported as a bad single cell is: one line on stderr and exit 2 (SystemExit is
    not an Exception, so Hydra's error printer lets it through instead of printing its traceback)."""
    from orchestrator.data import DataError

    try:
        validate_cells(job_configs)
    except (ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def start_sweep(job_configs) -> None:
    """Once Ray is up and the sweep is sure to run: the manifest (sweep.json) and, for cells that share trunks,
    the fork tree (`<results_dir>/<sweep>/sharing.json`), with what it saves printed; then the end-of-sweep report's
    imports start in a background thread (report_warm_up.py)."""
    name_cells_for_the_cluster()  # a CPU head names its GPU workers' cells as they do
    record_manifest(job_configs)
    if not all(config.dry_run for config in job_configs):  # the report's imports, while the cells train
        start_report_warm_up(with_wandb=any(str(config.wandb.mode) != "disabled" for config in job_configs))
    for where, plan in record_sharing(job_configs):
        if plan is None:
            print(f"[orchestrator] share_trunks=true, but the cells of {where} train alone: trunks are shared on a "
                  "local store the driver writes, not on a URI store or through Ray Client", flush=True)
        else:
            print(f"[orchestrator] sharing dense trunks: {plan.summary()} ({where})", flush=True)


def finish_sweep(base_config, job_returns) -> None:
    """The sweep's report (orchestrator/study/report_cli.py); the composed cells are let go."""
    forget_composed()
    set_sweep_device(None)
    report_after_sweep(base_config, job_returns)


def warm_up_worker() -> None:
    """In each of the sweep's pool actors, as it starts: the cell code and its stack (torch, DeepSpeed, W&B), and what
    they import lazily on a process's first cell, so that the first cell of an actor starts as fast as the next
    (measured here: torch._dynamo 2.3 s, wandb.sdk.launch 1.8 s of a 5.4 s first-cell setup; then DeepSpeed's
    expert-parallel check, setuptools, requests and OpenTelemetry: a first cell's setup 0.52 s, a later one's 0.30 s)."""
    import contextlib
    import os

    import torch
    import torch._dynamo  # noqa: F401  (imported by the first torch.optim optimizer a process builds)

    if not torch.cuda.is_available():  # DeepSpeed picks its accelerator on import: on a CPU node it is the CPU, as a
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # cell would tell it (resolve_device); a GPU node's cells
        import deepspeed  # noqa: F401  (may still ask for the CPU, so DeepSpeed waits for the first cell there)
        import deepspeed.module_inject.auto_ep_layer  # noqa: F401  (deepspeed.initialize's expert-parallel check)
        import deepspeed.ops
        import setuptools  # noqa: F401
        import distutils.ccompiler  # noqa: F401  (setuptools' own, once setuptools is imported)

        deepspeed.ops.__compatible_ops__  # noqa: B018  (deepspeed.initialize probes its ops once per process, running a
        # compiler: ~0.1 s of the first cell's set-up otherwise)
    import multiprocessing.synchronize  # noqa: F401  (tqdm's lock, at the first progress line)

    import requests  # noqa: F401  (W&B's telemetry, at a process's first wandb.init)
    import wandb
    import wandb.sdk.launch  # noqa: F401  (imported by a process's first wandb.init)
    import wandb.sdk.launch.inputs.internal  # noqa: F401
    with contextlib.suppress(ImportError):  # W&B's telemetry providers, built at a process's first wandb.init
        import opentelemetry.exporter.otlp.proto.http._log_exporter  # noqa: F401
        import opentelemetry.exporter.otlp.proto.http.metric_exporter  # noqa: F401
        import opentelemetry.sdk._logs  # noqa: F401
        import opentelemetry.sdk.metrics  # noqa: F401
        import opentelemetry.sdk.resources  # noqa: F401

    import orchestrator.cell.run  # noqa: F401  (the trainer)

    list_installed_packages_once(wandb)  # what W&B records with each run, read once per process
    keep_service_up()  # W&B's service starts now, runs from cell to cell; the pool's wind-down (stop_service) ends it


run.validate_jobs = validate_or_exit
run.on_job_failed = record_unrun_cell
run.on_sweep_start = start_sweep  # sweep.json (and sharing.json), once the sweep is sure to run
run.warm_up = warm_up_worker  # each pool actor imports the cell's stack while the sweep is recorded
run.wind_down = stop_service  # and before it is let go, W&B's service completes its runs' files
run.job_resources = cell_resources
run.job_cost = cell_cost
run.on_sweep_end = finish_sweep
hydra_main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(run)


def main() -> None:
    """The console script: overrides that do not parse are rejected naming them whole, then Hydra runs."""
    try:
        reject_malformed_overrides(sys.argv[1:])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


if __name__ == "__main__":
    main()
