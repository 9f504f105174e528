"""The W&B review of a sweep: one summary run in the sweep's group with a Table of every cell, the fit constants
in its summary, and the report's figures as images. Offline runs live in the report folder (`wandb sync` later)."""
from __future__ import annotations

import math
from pathlib import Path

TABLE_COLUMNS = ("cell_id", "status", "model", "schedule", "sparsity", "start", "end", "dense_steps", "seed",
                 "tokens", "val_loss", "avg_params", "initial_params", "final_params")


def _row(cell: dict) -> list:
    coords = cell.get("cell", {})
    values = {**coords, **cell}
    row = []
    for column in TABLE_COLUMNS:
        value = values.get(column)
        row.append(None if isinstance(value, float) and not math.isfinite(value) else value)
    return row


def log_summary_run(cells: list[dict], fit: dict | None, figures: dict[str, Path], *, mode: str, project: str,
                    entity: str | None, group: str, run_dir: Path) -> str | None:
    """Log the summary run; returns its directory, or None when W&B is disabled."""
    if mode == "disabled":
        return None
    import os

    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(mode=mode, project=project, entity=entity, group=group, job_type="summary",
                     name=f"{group}-summary", dir=str(run_dir), reinit="create_new",
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
