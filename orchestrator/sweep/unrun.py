"""The launcher's on_job_failed hook for orchestrator-train: a cell the sweep could not run to its end (refused as
unschedulable, or given up by Ray after its retries) gets a failed result.json with the reason, like a cell that
failed while training, so `orchestrator-report` names it and a rerun tries it again. A cell that finished (done or
diverged) is never overwritten; a URI store is left as it is (the sweep's summary table names the cell)."""
from __future__ import annotations

import sys

from omegaconf import DictConfig

from orchestrator.cell.result import failed_result
from orchestrator.store.cell_id import cell_id
from orchestrator.store.files import CellPaths, CorruptStoreFile, write_json_atomic
from orchestrator.store.uri import is_uri
from orchestrator.sweep.composed import composed


def record_unrun_cell(job_config: DictConfig, error: BaseException) -> None:
    config, _ = composed(job_config)
    if config.dry_run or is_uri(config.results_dir):
        return
    paths = CellPaths.of(config.results_dir, config.sweep, cell_id(config))
    try:
        if paths.is_finished():
            return
    except CorruptStoreFile:
        pass  # a torn result.json of a run that died: the failure replaces it
    paths.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(paths.result, failed_result(config, paths.root.name, error))
    print(f"[orchestrator] cell {paths.root.name}: failed before it could run ({error}); recorded in "
          f"{paths.result}", file=sys.stderr)
