"""frontier.png: val loss against training compute for every cell, dense and pruned, with the law's frontier.

Compute is C = 6 · N_avg · D, the FLOPs of the prunable linear weights over training (what the planner budgets and
result.json's `pretrain_flops` counts). The frontier is the lowest loss the law on N_avg (fit.json) predicts for a
compute C over the sizes the law was fitted on: min over N in [min N_avg, max N_avg] of L(N, C / (6 N)). The band
is the 95 % range of that frontier over the fit's bootstrap draws. A cell on the frontier spent its compute as well
as the law says any size could; one above it could have done better at another size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.study.figures import is_dense, pyplot, save_figure, sparsity_colours, val_loss

PREDICTOR = "avg_params"


def training_compute(cell: dict) -> float | None:
    """6 · N_avg · D in FLOPs; None without positive sizes and tokens."""
    n, d = float(cell.get("avg_params") or 0), float(cell.get("tokens") or 0)
    return 6.0 * n * d if n > 0 and d > 0 else None


def frontier(constants: np.ndarray, compute: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """min over N in [span] of E + A/N^alpha + B/(C/6N)^beta, for rows of constants (k, 5: E, A, B, alpha, beta)
    and computes (m,): shape (k, m). In x = log N the two terms are A·e^(-alpha x) + B·(6/C)^beta·e^(beta x), a
    convex function, so the minimum over the span is the unconstrained one, N* = (alpha A / (beta B))^(1/(alpha +
    beta)) · (C/6)^(beta/(alpha + beta)), clipped to the span (alpha = 0 puts it at the low end, beta = 0 at the
    high end, as the logs of 0 do)."""
    e, a, b, alpha, beta = (constants[:, j, None] for j in range(5))
    tokens_per_size = compute[None, :] / 6.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.log(alpha * a) - np.log(beta * b)
        log_n = (ratio + beta * np.log(tokens_per_size)) / (alpha + beta)
    n = np.exp(np.clip(np.nan_to_num(log_n, nan=np.log(span[0])), np.log(span[0]), np.log(span[1])))
    return e + a / n ** alpha + b / (tokens_per_size / n) ** beta


def draw_frontier(cells: list[dict], fit: dict) -> Any | None:
    """The figure (not saved), or None without a cell that has a val loss and a compute."""
    rows = [(training_compute(c), val_loss(c), is_dense(c), float(c["cell"]["sparsity"]))
            for c in sorted(cells, key=lambda c: c["cell_id"])]
    rows = [r for r in rows if r[0] is not None and r[1] is not None]
    if not rows:
        return None
    plt = pyplot()
    compute, loss, dense, sparsity = (np.array(column) for column in zip(*rows))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    law = (fit or {}).get("predictors", {}).get(PREDICTOR)
    if law is not None:
        fitted = [float(c[PREDICTOR]) for c in cells if training_compute(c) and val_loss(c) is not None]
        span = (fit.get("ranges") or {}).get(PREDICTOR) or [min(fitted), max(fitted)]
        span = (float(span[0]), max(float(span[1]), float(span[0])))
        grid = np.geomspace(compute.min() / 1.5, compute.max() * 1.5, 120)
        names = ("E", "A", "B", "alpha", "beta")
        ax.plot(grid, frontier(np.array([[law[k] for k in names]]), grid, span)[0], "k-", lw=1.5,
                label=f"law on N_avg: frontier over N_avg {span[0]:.3g}–{span[1]:.3g}")
        draws = np.array(law.get("bootstrap_draws") or [], dtype=float)
        if len(draws):
            low, high = np.percentile(frontier(draws, grid, span), [2.5, 97.5], axis=0)
            ax.fill_between(grid, low, high, color="0.85", label="95 % over bootstrap draws")
    cmap, norm = sparsity_colours([{"cell": {"sparsity": s}} for s in sparsity])
    if (~dense).any():
        ax.scatter(compute[~dense], loss[~dense], c=sparsity[~dense], cmap=cmap, norm=norm, s=18, edgecolors="k",
                   linewidths=0.3, label="pruned cells")
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="target sparsity")
    if dense.any():
        ax.scatter(compute[dense], loss[dense], marker="s", facecolors="none", edgecolors="k", s=26,
                   label="dense cells")
    ax.set_xscale("log")
    ax.set(xlabel="training compute C = 6 · N_avg · D (FLOPs)", ylabel="val loss",
           title=f"Loss against compute, {len(rows)} cells" + ("" if law is not None else " (no fit: no frontier)"))
    ax.legend(fontsize=7)
    return fig


def frontier_figure(cells: list[dict], fit: dict, path: Path) -> Path | None:
    """Write frontier.png (see the module docstring); None without a cell to show."""
    fig = draw_frontier(cells, fit)
    return None if fig is None else save_figure(fig, path)
