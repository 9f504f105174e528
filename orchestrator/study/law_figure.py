"""law_curves.png: the best predictor's fitted law, loss against N, at several token counts D.

Cells train on many token counts (a pruned cell trains more tokens than a dense one of the same compute), so one
curve per duration cannot pass through its points. Here colour stands for D on one logarithmic scale: each curve is
drawn at a D, each cell at its own D, so a cell the law fits lies on (or between) the curves of its colour.
Pruned cells are circles, dense cells squares.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.study.figures import is_dense, predict_loss, pyplot, save_figure, val_loss

CURVES = 5  # token counts drawn as curves, log-spaced over the cells' range


def law_points(cells: list[dict], predictor: str) -> list[tuple[float, float, float, bool]]:
    """(N, D, measured val loss, dense) of the cells with a val loss and positive N and tokens, by cell id."""
    out = []
    for cell in sorted(cells, key=lambda c: c["cell_id"]):
        loss, n, d = val_loss(cell), float(cell.get(predictor) or 0), float(cell.get("tokens") or 0)
        if loss is not None and n > 0 and d > 0:
            out.append((n, d, loss, is_dense(cell)))
    return out


def draw_law_curves(cells: list[dict], fit: dict) -> Any | None:
    """The figure (not saved), or None without a fit of its best predictor or a cell to show."""
    best = fit.get("best")
    if best not in (fit.get("predictors") or {}):
        return None
    points = law_points(cells, best)
    if not points:
        return None
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    constants = fit["predictors"][best]
    n, d, loss, dense = (np.array(column) for column in zip(*points))
    norm = LogNorm(vmin=d.min(), vmax=max(d.max(), d.min() * 1.001))
    cmap = plt.get_cmap("plasma")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    grid = np.geomspace(n.min() / 1.5, n.max() * 1.5, 100)
    for tokens in np.geomspace(d.min(), d.max(), CURVES if d.max() > d.min() else 1):
        ax.plot(grid, [predict_loss(constants, x, tokens) for x in grid], color=cmap(norm(tokens)), lw=1.4,
                label=f"law at D = {tokens:.3g}")
    for marker, keep, label in (("o", ~dense, "pruned cells"), ("s", dense, "dense cells")):
        if keep.any():
            ax.scatter(n[keep], loss[keep], c=d[keep], cmap=cmap, norm=norm, marker=marker, s=22, edgecolors="k",
                       linewidths=0.4, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # under two decades, log minor labels overprint each other
    ax.set(xlabel=f"N = {best} (non-zero parameters)", ylabel="val loss",
           title=f"Fitted law on {best}: curves and cells coloured by their token count D")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="tokens D")
    ax.legend(fontsize=7)
    return fig


def law_curves(cells: list[dict], fit: dict, path: Path) -> Path | None:
    """Write law_curves.png (see the module docstring); None without the fit or cells."""
    fig = draw_law_curves(cells, fit)
    return None if fig is None else save_figure(fig, path)
