"""Weights & Biases tracking, from rank 0 only.

Offline by default: the run's files live inside the cell directory (`<cell>/wandb/offline-run-*`) and
`wandb sync` uploads them later. `disabled` starts nothing and writes nothing. The run id hashes the store's salt
(orchestrator.store.identity), the sweep and the cell id, so a resumed cell continues its own run and another store's
run of the same config is another run. Metrics use `tokens` as the x-axis; system stats are on for GPU cells.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

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


class Tracker:
    """A thin handle on one W&B run; every method is a no-op when W&B is disabled."""

    def __init__(self, settings: WandbConfig, *, run_dir: Path, store: str, sweep: str, cell_id: str, config: dict,
                 tags: list[str], system_stats: bool = False) -> None:
        self.run = None
        if settings.mode == "disabled":
            return
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
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

    def finish(self, summary: dict, exit_code: int = 0) -> None:
        if self.run is None:
            return
        self.run.summary.update({k: v for k, v in summary.items()
                                 if not (isinstance(v, float) and not math.isfinite(v))})
        self.run.finish(exit_code=exit_code)
        import wandb

        wandb.teardown()  # stop the W&B service now, not at interpreter exit (Ray ends job processes abruptly)
