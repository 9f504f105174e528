"""schedules.png: each planned pruning schedule, prunable density against the fraction of the compute budget spent.

Read from each cell's plan.json (the planner's output, pruning/plan.py): density rho(t) is `Plan.density(t)`, and
step t costs c(t) = q + (1 - q)·rho(t) dense-equivalent steps, with q the share of a step that pruning leaves,
recovered from the plan's own totals (compute = q·T + (1 - q)·Σ rho; q = 0 under budget.compute=linear). The
x-axis is Σ_{u<t} c(u) / C, C = `dense_steps`: the compute fractions `pruning.start` and `pruning.end` are set in,
so the shaded window [start, end] is where the plan was asked to prune. One panel per schedule and window (windows
in numeric order), one line per planned sparsity and budget (seeds share a plan).
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.study.figures import is_dense, panel_grid, pyplot, save_figure, sparsity_colours

COLUMNS = 5


def planned_density(plan: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(compute fraction at the start of each piece, density over it) of a plan.json, piecewise constant between
    pruning events, ending at (spent fraction, final density); None for a plan that is not a pruning plan."""
    from pruning.plan import Plan

    try:
        planned = Plan(**{f.name: plan[f.name] for f in fields(Plan)})
        total, budget = int(planned.total_steps), float(planned.dense_steps)
        events = range(planned.t_start, planned.t_end + 1, planned.every) if planned.n_events else ()
        cuts = sorted({0, total, *(t for t in events if 0 < t < total)})  # the density changes only at events
        density = np.array([planned.density(t) for t in cuts[:-1]])
    except (KeyError, TypeError, ValueError):
        return None
    if total <= 0 or budget <= 0:
        return None
    lengths = np.diff(cuts)
    spent = float(np.dot(lengths, density))  # Σ rho over the run
    q = (planned.compute - spent) / (total - spent) if total - spent > 1e-9 else 0.0
    q = min(max(q, 0.0), 0.999)
    cost = np.concatenate([[0.0], np.cumsum(lengths * (q + (1 - q) * density))]) / budget
    return cost, np.append(density, density[-1])


def _plans(cells: list[dict]) -> dict[tuple[str, float, float], list[tuple[dict, tuple[np.ndarray, np.ndarray]]]]:
    """Pruned cells' distinct plans by (schedule, start, end), in schedule then numeric window order."""
    panels: dict[tuple[str, float, float], dict[tuple, tuple[dict, Any]]] = {}
    for cell in sorted(cells, key=lambda c: c["cell_id"]):
        plan = cell.get("plan")
        if is_dense(cell) or not isinstance(plan, dict):
            continue
        curve = planned_density(plan)
        if curve is not None:
            key = (str(plan["schedule"]), float(plan["start"]), float(plan["end"]))
            same = (float(plan["sparsity"]), int(plan["dense_steps"]), int(plan["every"]))
            panels.setdefault(key, {}).setdefault(same, (cell, curve))
    return {key: sorted(panels[key].values(), key=lambda item: float(item[0]["cell"]["sparsity"]))
            for key in sorted(panels)}


def draw_schedules(cells: list[dict]) -> Any | None:
    """The figure (not saved), or None without a pruned cell's plan."""
    panels = _plans(cells)
    if not panels:
        return None
    plt = pyplot()
    fig, axes = panel_grid(len(panels), COLUMNS, width=2.9, height=2.2, right=1.2, sharex=True, sharey=True)
    cmap, norm = sparsity_colours([cell for plans in panels.values() for cell, _ in plans])
    for ax, ((schedule, start, end), plans) in zip(axes.flat, panels.items()):
        ax.axvspan(start, end, color="0.9", lw=0)
        for cell, (spent, density) in plans:
            ax.step(spent, density, where="post", color=cmap(norm(float(cell["cell"]["sparsity"]))), lw=1.1)
        ax.set(xlabel="fraction of compute budget C", ylabel="prunable density",
               title=f"{schedule}, window {start:g}–{end:g}")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat), label="target sparsity",
                 fraction=0.03, pad=0.02)
    fig.suptitle("Planned density against compute (shaded: the window asked for, as fractions of C)")
    return fig


def schedules(cells: list[dict], path: Path) -> Path | None:
    """Write schedules.png (see the module docstring); None without a pruned cell's plan."""
    fig = draw_schedules(cells)
    return None if fig is None else save_figure(fig, path)
