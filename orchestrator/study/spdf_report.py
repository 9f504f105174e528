"""The SPDF section of the report: pre-training compute saved by a static mask against the loss after dense
fine-tuning, per sparsity, next to the dense cells of the same study (sparsity 0, or pruning=none).

Cells count when they finished (`done`) and were fine-tuned (result.json has `finetune`). Compute is result.json's
`pretrain_flops` (density-weighted, as the planner counts it); "saved" is relative to the dense cells' mean.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from orchestrator.study.figures import is_dense, pyplot, save_figure


def finetuned_cells(cells: list[dict]) -> list[dict]:
    return [c for c in cells if c.get("status") == "done" and isinstance(c.get("finetune"), dict)
            and c["finetune"].get("val_loss") is not None and c.get("pretrain_flops")]


def _sparsity(cell: dict) -> float:
    return 0.0 if is_dense(cell) else float(cell["cell"]["sparsity"])


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def spdf_rows(cells: list[dict]) -> list[dict[str, Any]]:
    """One row per sparsity (dense first): cells, mean pre-training FLOPs and the share saved against dense,
    pre-training and fine-tuned validation losses (mean, std over cells), and the fine-tuned gap to dense."""
    groups: dict[float, list[dict]] = {}
    for cell in finetuned_cells(cells):
        groups.setdefault(_sparsity(cell), []).append(cell)
    dense = groups.get(0.0)
    dense_flops = statistics.fmean(c["pretrain_flops"] for c in dense) if dense else None
    dense_loss = statistics.fmean(c["finetune"]["val_loss"] for c in dense) if dense else None
    rows = []
    for sparsity in sorted(groups):
        group = groups[sparsity]
        flops = statistics.fmean(c["pretrain_flops"] for c in group)
        pre = _mean_std([c["val_loss"] for c in group if c.get("val_loss") is not None] or [float("nan")])
        post = _mean_std([c["finetune"]["val_loss"] for c in group])
        rows.append({"sparsity": sparsity, "cells": len(group), "pretrain_flops": flops,
                     "compute_saved": 1.0 - flops / dense_flops if dense_flops else None,
                     "pretrain_val_loss": pre, "finetuned_val_loss": post,
                     "finetuned_gap": post[0] - dense_loss if dense_loss is not None else None})
    return rows


def _pm(mean_std: tuple[float, float | None]) -> str:
    mean, std = mean_std
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def spdf_section(cells: list[dict]) -> list[str]:
    """Markdown lines; empty when no cell was fine-tuned."""
    rows = spdf_rows(cells)
    if not rows:
        return []
    lines = ["## SPDF: sparse pre-training, dense fine-tuning", "",
             "Pre-training compute is density-weighted (6 FLOPs per non-zero linear weight per token); the losses "
             "are validation losses, before fine-tuning (pre-training's held-out split) and after it (the "
             "fine-tuning evaluation split). ± is the standard deviation over the cells of a row.", "",
             "| sparsity | cells | pre-training FLOPs | compute saved | val loss before FT | val loss after FT "
             "| after FT − dense |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        saved = f"{100 * row['compute_saved']:.1f} %" if row["compute_saved"] is not None else "n/a (no dense)"
        gap = f"{row['finetuned_gap']:+.4f}" if row["finetuned_gap"] is not None else "n/a"
        lines.append(f"| {row['sparsity']:g} | {row['cells']} | {row['pretrain_flops']:.3g} | {saved} | "
                     f"{_pm(row['pretrain_val_loss'])} | {_pm(row['finetuned_val_loss'])} | {gap} |")
    return lines + [""]


def spdf_figure(cells: list[dict], path: Path) -> Path | None:
    """Loss after fine-tuning (filled) and before it (hollow) against pre-training compute, one point per cell."""
    finetuned = finetuned_cells(cells)
    if not finetuned:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    sparsities = sorted({_sparsity(c) for c in finetuned})
    colours = plt.get_cmap("viridis")
    for index, sparsity in enumerate(sparsities):
        group = [c for c in finetuned if _sparsity(c) == sparsity]
        colour = colours(index / max(1, len(sparsities) - 1))
        flops = [c["pretrain_flops"] for c in group]
        ax.scatter(flops, [c["finetune"]["val_loss"] for c in group], color=colour, label=f"s = {sparsity:g}")
        ax.scatter(flops, [c["val_loss"] for c in group], facecolors="none", edgecolors=colour)
    ax.set_xlabel("pre-training FLOPs (density-weighted)")
    ax.set_ylabel("validation loss")
    ax.set_title("filled: after dense fine-tuning; hollow: before it", fontsize=9)
    ax.legend()
    return save_figure(fig, path)
