"""One cell from a validated config: plan it, prepare its data, then run its worker group.

Bad input (config, data path, an empty corpus) raises before anything is written to the store. A cell whose
result.json says done is skipped; an unfinished one resumes from its last checkpoint. A cell that raises is
recorded as `failed` (with the error) and the exception goes on to the caller. Only the holder of the cell's lock
runs it (two sweeps over one store never train one cell at once), and spawned workers die with their parent. A
`report` sink gets rank 0's (step, total) as it trains (orchestrator/cell/progress_report.py). A cell that the
sweep's sharing plan forks from a shared dense trunk has the trunk trained first (or finds it done, or waits for it),
then starts from the trunk's checkpoint at its fork step (orchestrator/cell/trunk.py).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from dataclasses import dataclass, replace

import torch.multiprocessing as mp
from omegaconf import OmegaConf

from orchestrator.cell.cell_log import cell_log, log_failure
from orchestrator.cell.checkpoint import has_checkpoint
from orchestrator.cell.corpus import corpus_settings, glance_at_data, prepare_data
from orchestrator.cell.distributed import WorkerPlace, free_port
from orchestrator.cell.job import CellJob
from orchestrator.cell.job_clock import job_started_at
from orchestrator.cell.p2_base import base_config, base_summary
from orchestrator.cell.peers import PeerRanks, peer_ranks
from orchestrator.cell.preflight import as_finetune_error, check_finetune_split
from orchestrator.cell.progress_report import REPORT_EVERY_S, ProgressReporter, ProgressSink, SharedProgress
from orchestrator.cell.result import failed_result
from orchestrator.cell.threads import worker_threads
from orchestrator.cell.trunk import (TrunkRun, find_trunk, seed_from_fork, trunk_config, trunk_paths, trunk_plan,
                                     why_alone)
from orchestrator.cell.worker import run_worker
from orchestrator.config import Config
from orchestrator.model_size import attention_share, static_masked_fraction
from orchestrator.data import DataError, epochs_for, prepare_corpus
from orchestrator.store.cell_id import cell_id
from orchestrator.store.files import CellPaths, is_finished, read_json, write_json_atomic, write_text_atomic
from orchestrator.store.lock import cell_lock
from orchestrator.store.remote import RemoteCell
from pruning.plan import Plan, plan_iso_compute
from pruning.static import STATIC, plan_static

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def fixed_cost(config: Config) -> float:
    """q, the share of a dense step's compute that pruning leaves: 0 with budget.compute=linear (only the prunable
    weights are counted), the attention scores' share of the model's FLOPs at its context with budget.compute=total."""
    if config.budget.compute == "linear":
        return 0.0
    return attention_share(config.model.preset, config.model_vocab_size(), config.model.context)


def plan_cell(config: Config) -> Plan:
    pruning = config.pruning
    if config.structured.method != "none":  # P²: the cell's own steps are the post-training (the base is a cell)
        return plan_iso_compute(sparsity=0.0, dense_steps=config.structured.post_steps, start=0.0, end=1.0, every=1,
                                schedule="none")
    if pruning.schedule == STATIC:
        return plan_static(sparsity=pruning.sparsity, dense_steps=config.budget.dense_steps,
                           masked_fraction=static_masked_fraction(config.model.preset, config.model_vocab_size()),
                           fixed_cost=fixed_cost(config))
    return plan_iso_compute(sparsity=pruning.sparsity, dense_steps=config.budget.dense_steps, start=pruning.start,
                            end=pruning.end, every=pruning.every,
                            schedule="none" if pruning.schedule == "none" else pruning.schedule,
                            fixed_cost=fixed_cost(config))


@dataclass(frozen=True)
class CellOutcome:
    status: str  # done | failed | diverged | skipped | planned | interrupted
    paths: CellPaths  # local: the store's cell folder, or its stage when results_dir is a URI
    result: dict | None
    location: str = ""  # where the cell's files are kept: the local folder or the URI

    @property
    def where(self) -> str:
        return self.location or str(self.paths.root)


def _die_with_parent(parent_pid: int) -> None:
    """A spawned worker outliving a killed parent (the sweep's task, a killed driver's job) would train on as an
    orphan and write into a cell that a rerun now owns. Linux kills it with its parent (PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _worker_entry(rank: int, world_size: int, port: int, job: CellJob, stop_after_step: int | None,
                  parent_pid: int, shared: SharedProgress | None) -> None:
    _die_with_parent(parent_pid)
    with cell_log(job.paths.root, rank):
        run_worker(WorkerPlace(rank, world_size, port), job, stop_after_step, shared)


def _peer_entry(rank: int, place: WorkerPlace, job: CellJob, stop_after_step: int | None) -> None:
    """Rank `rank` of a cell, in a process of the gang that rank 0 leads (orchestrator/cell/peers.py)."""
    with cell_log(job.paths.root, rank):
        run_worker(replace(place, rank=rank), job, stop_after_step, None)


def run_cell(config: Config, resolved: dict, *, stop_after_step: int | None = None,
             report: ProgressSink | None = None) -> CellOutcome:
    """One cell, in the store's folder, or in a local stage synced with it when results_dir is a URI; `report`
    (optional) follows its training steps."""
    identity = cell_id(config)
    remote = RemoteCell.of(config.results_dir, config.sweep, identity)
    if remote is None:
        return _run_cell(config, resolved, CellPaths.of(config.results_dir, config.sweep, identity), None,
                         stop_after_step, report)
    finished = remote.read_result()
    if is_finished(finished) and not config.dry_run:
        return CellOutcome("skipped", CellPaths(remote.stage), finished, remote.uri)  # nothing to download
    # one process of this machine at a time fills, runs and uploads the stage (P² cells sharing a base wait here)
    with cell_lock(remote.lock_dir, on_wait=lambda: print(f"[orchestrator] cell {remote.stage.name}: another "
                                                          "process is running it; waiting", flush=True)):
        remote.download()
        try:
            outcome = _run_cell(config, resolved, CellPaths(remote.stage), remote, stop_after_step, report)
        finally:  # the result (or the failed result, or the checkpoints of an interrupted run) reaches the store
            remote.upload()
    return replace(outcome, location=remote.uri)


def run_trunk(config: Config, resolved: dict, trunk: TrunkRun, *, stop_after_step: int | None = None,
              report: ProgressSink | None = None) -> CellOutcome:
    """The shared dense trunk of `config`'s prefix (orchestrator/cell/trunk.py), trained unless done; waited for
    when another process trains it."""
    trunk_cfg, trunk_resolved = trunk_config(config, resolved, trunk)
    return _run_cell(trunk_cfg, trunk_resolved, trunk_paths(config, trunk), None, stop_after_step, report, trunk)


def _run_cell(config: Config, resolved: dict, paths: CellPaths, remote: RemoteCell | None,
              stop_after_step: int | None, report: ProgressSink | None, trunk: TrunkRun | None = None) -> CellOutcome:
    plan = plan_cell(config) if trunk is None else trunk_plan(trunk)
    if config.dry_run:
        if config.data.path is not None:  # a missing or empty corpus fails here, before plan.json is written
            glance_at_data(config)
        _write_cell_header(paths, resolved, plan, config)
        return CellOutcome("planned", paths, None)
    if paths.is_finished():
        return CellOutcome("skipped", paths, paths.read_result())
    base = _trained_base(config, resolved, paths, report) if config.structured.method != "none" else None
    fork = _trained_trunk(config, resolved, paths, plan, report) if trunk is None else None
    settings = corpus_settings(config)
    data = prepare_data(config)
    check_finetune_split(config, data.n_val_tokens, data.source)
    finetune_data = None
    if config.finetune.steps and config.finetune.data_path is not None:
        try:
            finetune_data = prepare_corpus(config.finetune.data_path, **settings)
        except DataError as error:
            raise as_finetune_error(error) from None
    threads, chosen_by = worker_threads(config.train.threads, config.train.workers)
    if config.train.threads is None:
        print(f"[orchestrator] train.threads=null: {threads} torch thread(s) per worker, from {chosen_by} "
              "(set train.threads to choose)", flush=True)
    job = CellJob(config=config, resolved=resolved, plan=plan, cell_id=paths.root.name, paths=paths, data=data,
                  finetune_data=finetune_data, base=base, remote=remote, launched_at=job_started_at(),
                  threads=threads, trunk=trunk)
    with cell_lock(paths.root, on_wait=lambda: print(f"[orchestrator] cell {job.cell_id}: another process is "
                                                     "running it; waiting for it to finish", flush=True)):
        if paths.is_finished():  # the other process finished it while this one waited
            return CellOutcome("skipped", paths, paths.read_result())
        epochs = epochs_for(plan.total_steps * job.tokens_per_step, data.n_train_tokens)
        if epochs > 1.0:
            print(f"[orchestrator] note: cell {job.cell_id} sees its training split {epochs:.2f} times "
                  f"({data.n_train_tokens} tokens); recorded as `epochs` in result.json", flush=True)
        _write_cell_header(paths, resolved, plan, config)
        if fork is not None:  # its first checkpoint: the trunk's after the fork step (unless it has its own)
            seed_from_fork(*fork, paths)
        try:
            status = _run_worker_group(job, stop_after_step, report)
        except Exception as error:
            log_failure(paths.root, error)
            write_json_atomic(paths.result, failed_result(config, job.cell_id, error))
            raise
    if status == "interrupted":
        return CellOutcome("interrupted", paths, None)
    result = read_json(paths.result)
    return CellOutcome(result["status"], paths, result)


def _trained_base(config: Config, resolved: dict, paths: CellPaths, report: ProgressSink | None) -> dict:
    """P²: run the dense base cell first (skipped when done; waited for when another process runs it; its steps go
    to `report` too). A base that fails or diverges fails this cell too, and its result.json says why."""
    try:
        base_cfg, base_resolved = base_config(config, resolved)
        outcome = run_cell(base_cfg, base_resolved, report=report)
        if outcome.location and not outcome.paths.final_model.exists():  # skipped in a URI store: fetch its model
            RemoteCell.of(base_cfg.results_dir, base_cfg.sweep, outcome.paths.root.name).download()
        return base_summary(outcome.result or {}, outcome.paths.root.name, str(outcome.paths.final_model))
    except Exception as error:
        with cell_lock(paths.root):
            write_json_atomic(paths.result, failed_result(config, paths.root.name, error))
        raise


def _trained_trunk(config: Config, resolved: dict, paths: CellPaths, plan: Plan,
                   report: ProgressSink | None) -> tuple[CellPaths, int] | None:
    """A cell the sweep's sharing plan forks from a dense trunk: (the trained trunk's paths, the fork step); the trunk
    is trained first (skipped when done, waited for when another process trains it). None when the cell trains alone,
    or resumes from its own checkpoint. A trunk that fails fails this cell too, naming the trunk (a rerun retries
    it); a trunk that diverged leaves the cell to train alone (it diverges the same way: a result)."""
    if has_checkpoint(paths.checkpoints):
        return None
    try:
        found = find_trunk(config, plan.t_start)
        if found is None:
            if config.share_trunks:
                print(f"[orchestrator] cell {paths.root.name}: share_trunks=true, but it trains alone: "
                      f"{why_alone(config)}", flush=True)
            return None
        trunk, fork = found
        try:
            outcome = run_trunk(config, resolved, trunk, report=report)
        except Exception as error:
            raise RuntimeError(f"its shared dense trunk {trunk.trunk_id} failed: {type(error).__name__}: "
                               f"{error}") from error
        status = outcome.result.get("status") if outcome.result else outcome.status  # a skipped trunk's own
        if status == "diverged":
            print(f"[orchestrator] cell {paths.root.name}: its shared dense trunk {trunk.trunk_id} diverged; "
                  "training the cell alone", flush=True)
            return None
        if status != "done":
            raise RuntimeError(f"its shared dense trunk {trunk.trunk_id} ended {status}")
        return outcome.paths, fork
    except Exception as error:
        with cell_lock(paths.root):
            write_json_atomic(paths.result, failed_result(config, paths.root.name, error))
        raise


def _run_worker_group(job: CellJob, stop_after_step: int | None, report: ProgressSink | None) -> str | None:
    """One worker in this process; or rank 0 here and the others on the gang this process leads in a sweep's pool;
    or `train.workers` spawned processes. A spawned worker killed by a signal (OOM
    killer, preemption, a crash) restarts the group from the last checkpoint, up to train.max_restarts times; a
    worker that raised is not retried. A spawned rank 0's progress reaches `report` through shared memory, relayed
    from here while the group runs."""
    world_size, restarts = job.config.train.workers, job.config.train.max_restarts
    if world_size == 1:
        with cell_log(job.paths.root, 0):
            return run_worker(WorkerPlace(0, 1, free_port()), job, stop_after_step, report)
    peers = peer_ranks(world_size)
    if peers is not None:
        return _run_on_peers(peers, job, stop_after_step, report)
    shared = SharedProgress() if report is not None else None
    relay = ProgressReporter(report, every_s=0.0)  # never raises: a sink that fails is dropped
    for attempt in range(restarts + 1):
        try:
            group = mp.start_processes(_worker_entry, nprocs=world_size, join=False, start_method="spawn",
                                       args=(world_size, free_port(), job, stop_after_step, os.getpid(), shared))
            while not group.join(timeout=REPORT_EVERY_S):  # what join=True does, relaying the progress meanwhile
                if shared is not None:
                    shared.relay(relay)
            if shared is not None:  # the group's last report (its last step)
                shared.relay(relay)
            break
        except mp.ProcessExitedException as error:
            if error.signal_name is None or attempt == restarts:
                raise
            print(f"[orchestrator] cell {job.cell_id}: worker {error.error_index} died ({error.signal_name}); "
                  f"restarting from the last checkpoint ({attempt + 1}/{restarts})", flush=True)
    return _interrupted(job, stop_after_step)


def _run_on_peers(peers: PeerRanks, job: CellJob, stop_after_step: int | None,
                  report: ProgressSink | None) -> str | None:
    """Rank 0 in this process, ranks 1..k-1 in the gang's other processes, on the process group they keep from cell
    to cell (no group to spawn). A cell that raises here breaks the gang up: its group may be stuck mid-collective."""
    place = WorkerPlace(0, peers.world_size, peers.master_port, peers.master_addr)
    try:
        others = peers.start(_peer_entry, (place, job, stop_after_step))
        with cell_log(job.paths.root, 0):
            run_worker(place, job, stop_after_step, report)
        others.wait()
    except BaseException:
        peers.break_up()
        raise
    return _interrupted(job, stop_after_step)


def _interrupted(job: CellJob, stop_after_step: int | None) -> str | None:
    return "interrupted" if stop_after_step is not None and not job.paths.result.exists() else None


def _write_cell_header(paths: CellPaths, resolved: dict, plan: Plan, config: Config) -> None:
    write_text_atomic(paths.config, OmegaConf.to_yaml(OmegaConf.create(resolved)))
    write_json_atomic(paths.plan, plan.to_dict() | {"cell_id": paths.root.name, "sweep": config.sweep,
                                                    "model": config.model.preset})
