"""Weights & Biases tracking, from rank 0 only.

Offline by default: the run's files live inside the cell directory (`<cell>/wandb/offline-run-*`) and
`wandb sync` uploads them later. `disabled` starts nothing and writes nothing. The run id hashes the store's salt
(orchestrator.store.identity), the sweep and the cell id, so a resumed cell continues its own run and another store's
run of the same config is another run. Metrics use `tokens` as the x-axis; system stats are on for GPU cells.

The run carries the cell's log: when it ends (done, diverged, interrupted, or failed, then with the traceback) a copy
of `<cell>/cell.log` — every rank's output, all sittings — goes into its files as `cell.log` (offline:
`<cell>/wandb/offline-run-*/files/cell.log`, uploaded by `wandb sync`). W&B's own console capture stays off: in
wandb 0.31 `console="wrap"` patches the `write` of whatever `sys.stdout` is when wandb is first imported and never
patches again, and a cell's stdout is its cell.log tee, replaced for each cell, so in a Ray worker process that runs
several cells only the first would be captured; it would also hold rank 0's output only, and only while the run is
open (not the data preparation before it, nor a traceback that reaches the log after rank 0 has ended).
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.cell.cell_log import LOG_NAME, failure_text
from orchestrator.config import WandbConfig
from orchestrator.store.identity import store_salt, wandb_run_id

if TYPE_CHECKING:
    from orchestrator.cell.job import CellJob

METRICS = ("loss", "val_loss", "lr", "params_current", "params_avg", "sparsity", "step_time", "finetune_loss",
           "finetune_val_loss")


def run_config(job: CellJob) -> dict:
    """The W&B run config: the resolved Hydra config with what the cell resolved itself filled in (the budget's
    dense steps when it was given in tokens per parameter, the model's vocabulary) and the cell's plan."""
    budget = job.resolved.get("budget", {}) | {"dense_steps": job.config.budget.dense_steps}
    model = job.resolved.get("model", {}) | {"vocab_size": job.vocab_size}
    return job.resolved | {"budget": budget, "model": model, "plan": job.plan.to_dict()}


def list_installed_packages_once(wandb) -> None:
    """W&B records the installed packages with every run, reading each package's metadata anew: 0.4 s of a 0.7 s
    wandb.init here, in every cell. A process's packages do not change under it, so the list is read once per process
    and W&B is handed the same list for each later run (`wandb.util.working_set`, which W&B reads at each run's
    start). Skipped if a W&B version no longer has that function: each run then reads the list itself again."""
    util = getattr(wandb, "util", None)
    listing = getattr(util, "working_set", None)
    if listing is None or getattr(listing, "read_once", False):
        return
    packages = list(listing())

    def the_same_packages():
        return iter(packages)

    the_same_packages.read_once = True
    util.working_set = the_same_packages


_service_kept_up = False


def keep_service_up() -> None:
    """For a process that runs cell after cell (a sweep's pool actor): W&B's service stays up from one run to the
    next, which saves starting it for every cell (~0.25 s of a cell's set-up here); `stop_service` ends it before the
    process is let go.

    Why that is safe: `run.finish()` returns before the service has written the run's .wandb file (the service
    writes it out when it closes the run's stream, just after; right after finish it was still a 7-byte header for 2
    of 15 runs measured here), but the service then completes it whatever this process does, even when killed (a
    process SIGKILLed right after its third finish: 18 of 18 runs complete, wandb 0.31). A reader that comes right
    after the cell (a test, `wandb sync` once the sweep returns) finds it complete once `stop_service` has run.

    The service starts here, so the process's first cell does not wait for it (~0.2 s of its set-up, polling for the
    service's port); not when WANDB_MODE says `disabled`, where W&B starts nothing."""
    global _service_kept_up
    _service_kept_up = True
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    wandb.setup()


def stop_service() -> None:
    """Stop W&B's service (if this process started one): it first closes every run's stream, so on return every
    run's .wandb file is complete on disk. Without `keep_service_up`, this runs after every run."""
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()


class Tracker:
    """A thin handle on one W&B run; every method is a no-op when W&B is disabled or once the run has ended.
    `run_dir` is the cell's folder: the run's files go under its wandb/, and its cell.log is the log the run carries."""

    def __init__(self, settings: WandbConfig, *, run_dir: Path, store: str, sweep: str, cell_id: str, config: dict,
                 tags: list[str], system_stats: bool = False) -> None:
        self.run = None
        self.log_file = Path(run_dir) / LOG_NAME
        if settings.mode == "disabled":
            return
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        list_installed_packages_once(wandb)
        self.run = wandb.init(
            mode=settings.mode, dir=str(run_dir), project=settings.project, entity=settings.entity,
            id=wandb_run_id(store_salt(store), sweep, cell_id), name=cell_id, group=sweep, job_type="cell",
            tags=[*settings.tags, *tags], config=config, resume="allow", reinit="create_new",
            settings=wandb.Settings(console="off", x_disable_stats=not system_stats),
        )
        self.run.define_metric("tokens")
        for name in METRICS:
            self.run.define_metric(name, step_metric="tokens", summary="last")

    def log(self, record: dict) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in record.items() if k != "step"} | {"trainer/step": record["step"]})

    def finish(self, summary: dict, exit_code: int = 0, log_tail: str = "") -> None:
        """End the run with `summary` and a copy of the cell's log (plus `log_tail`) among its files."""
        if self.run is None:
            return
        run, self.run = self.run, None
        run.summary.update({k: v for k, v in summary.items() if not (isinstance(v, float) and not math.isfinite(v))})
        self._attach_log(run, log_tail)
        run.finish(exit_code=exit_code)
        if not _service_kept_up:
            stop_service()

    def fail(self, error: BaseException) -> None:
        """End the run as failed (exit code 1), its log ending with the traceback (as cell.log will)."""
        self.finish({"status": "failed", "error": f"{type(error).__name__}: {error}"}, exit_code=1,
                    log_tail=failure_text(error))

    def _attach_log(self, run, tail: str) -> None:
        """Copy cell.log (as it stands, plus `tail`) into the run's files and save it: a copy, not W&B's default
        symlink, so the offline run's folder holds the log itself wherever the store is copied or synced."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""
            copy = Path(run.dir) / LOG_NAME
            copy.write_text(text + tail, encoding="utf-8")
            run.save(str(copy), base_path=run.dir, policy="now")
        except Exception as error:  # tracking never fails a cell
            print(f"[orchestrator] {LOG_NAME} not attached to the W&B run: {type(error).__name__}: {error}",
                  file=sys.stderr, flush=True)
