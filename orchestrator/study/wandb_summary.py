"""The W&B review of a sweep: one summary run in the sweep's group with a Table of every cell, the fit constants
in its summary, and the report's figures as images. Offline runs live in the report folder (`wandb sync` later).

The summary run's id is stable (the store's salt, the sweep, "summary": orchestrator.store.identity), so a rerun
of the report updates the sweep's one summary run instead of adding another; a report over a store of several
sweeps logs one per sweep, each with its own cells."""
from __future__ import annotations

import math
from pathlib import Path

from orchestrator.study.figures import window_label
from orchestrator.study.flops import true_flops
from orchestrator.store.identity import wandb_run_id

TABLE_COLUMNS = ("cell_id", "status", "model", "schedule", "sparsity", "window", "start", "end", "dense_steps",
                 "tokens_per_param", "seed", "tokens", "final_loss", "val_loss", "avg_params", "initial_params",
                 "final_params", "pretrain_flops", "total_flops")


def _row(cell: dict) -> list:
    coords = cell.get("cell", {})
    values = {**coords, **cell, "window": window_label(cell), "total_flops": true_flops(cell)}
    row = []
    for column in TABLE_COLUMNS:
        value = values.get(column)
        row.append(None if isinstance(value, float) and not math.isfinite(value) else value)
    return row


def log_summary_runs(cells: list[dict], fit: dict | None, figures: dict[str, Path], *, mode: str, project: str,
                     entity: str | None, salt: str, run_dir: Path) -> list[str]:
    """One summary run per sweep of `cells` (see the module docstring); their directories ([] when disabled)."""
    by_sweep: dict[str, list[dict]] = {}
    for cell in cells:
        by_sweep.setdefault(str(cell.get("sweep") or "default"), []).append(cell)
    directories = [log_summary_run(group, fit, figures, mode=mode, project=project, entity=entity, group=sweep,
                                   run_id=wandb_run_id(salt, sweep, "summary"), run_dir=run_dir)
                   for sweep, group in sorted(by_sweep.items())]
    return [d for d in directories if d is not None]


def log_summary_run(cells: list[dict], fit: dict | None, figures: dict[str, Path], *, mode: str, project: str,
                    entity: str | None, group: str, run_id: str, run_dir: Path) -> str | None:
    """Log (or update) one sweep's summary run; returns its directory, or None when W&B is disabled."""
    if mode == "disabled":
        return None
    import os

    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(mode=mode, project=project, entity=entity, group=group, job_type="summary",
                     name=f"{group}-summary", id=run_id, resume="allow", dir=str(run_dir), reinit="create_new",
                     settings=wandb.Settings(console="off", x_disable_stats=True))
    run.log({"cells": wandb.Table(columns=list(TABLE_COLUMNS), data=[_row(c) for c in cells])})
    if fit is not None:
        for name, constants in fit["predictors"].items():
            run.summary.update({f"fit/{name}/{key}": value for key, value in constants.items()
                                if isinstance(value, (int, float)) and value is not None})
        run.summary["fit/best_predictor"] = fit["best"]
    run.log({f"figures/{name}": wandb.Image(str(path)) for name, path in figures.items()})
    directory = run.dir
    run.finish()
    wandb.teardown()
    return directory
