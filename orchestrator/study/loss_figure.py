"""loss_curves.png: training loss against tokens, one panel per target sparsity.

In a panel, each pruned cell's line is coloured by its pruning window (windows in numeric order), and the dense
cells of the same model(s) are drawn dashed in grey in every panel: the reference a pruned curve is read against.
A last panel holds every dense cell, coloured by model, when the store has dense cells of other models (a dense
ladder). The legend says what colours and line styles mean.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.study.figures import (finite_series, is_dense, lr_schedule_of, panel_grid, pyplot, save_figure,
                                        window_colours, window_label, window_of)

DENSE_STYLE = {"color": "black", "ls": "--", "lw": 0.9}
COLUMNS = 4
LEGEND_COLUMNS = 5


def _series(cells: list[dict]) -> list[tuple[dict, list[float], list[float]]]:
    """(cell, tokens, loss) of the cells with a finite training-loss curve, by cell id."""
    series = [(cell, *finite_series(cell.get("metrics") or [], "loss")) for cell in
              sorted(cells, key=lambda c: c["cell_id"])]
    return [s for s in series if s[1]]


def _panels(series: list) -> list[tuple[str, list, list]]:
    """(title, pruned series, dense reference series) per panel: one per sparsity (and per learning-rate schedule,
    when the cells used several: a cosine and a wsd curve are never drawn as one comparison, nor against the other
    schedule's dense reference), then the dense cells of the models no sparsity panel shows (all dense cells when
    there is no pruned cell)."""
    pruned = [s for s in series if not is_dense(s[0])]
    dense = [s for s in series if is_dense(s[0])]
    several = len({lr_schedule_of(s[0]) for s in series}) > 1

    def panel_of(s) -> tuple[float, str]:
        return float(s[0]["cell"]["sparsity"]), lr_schedule_of(s[0])

    panels = []
    for sparsity, schedule in sorted({panel_of(s) for s in pruned}, key=lambda key: (key[1] != "cosine", key)):
        group = [s for s in pruned if panel_of(s) == (sparsity, schedule)]
        models = {s[0]["cell"]["model"] for s in group}
        name = f"sparsity {sparsity:g}, {schedule}" if several else f"sparsity {sparsity:g}"
        panels.append((f"{name} ({len(group)} cells)", group,
                       [s for s in dense if s[0]["cell"]["model"] in models and lr_schedule_of(s[0]) == schedule]))
    shown = {s[0]["cell"]["model"] for s in pruned}
    if any(s[0]["cell"]["model"] not in shown for s in dense):
        panels.append((f"dense cells ({len(dense)}), by model", [], dense))
    return panels


def _model_order(series: list) -> list[str]:
    """The dense cells' models, smallest first."""
    size: dict[str, float] = {}
    for cell, _, _ in series:
        model = cell["cell"]["model"]
        size[model] = max(size.get(model, 0.0), float(cell.get("initial_params") or 0))
    return sorted(size, key=lambda m: (size[m], m))


def draw_loss_curves(cells: list[dict]) -> Any | None:
    """The figure (not saved), or None when no cell has a training-loss curve."""
    series = _series(cells)
    panels = _panels(series)
    if not panels:
        return None
    plt = pyplot()
    colours = window_colours([s[0] for s in series if not is_dense(s[0])])
    models = _model_order([s for s in series if is_dense(s[0])])
    legend_rows = -(-(len(colours) + len(models) + 1) // LEGEND_COLUMNS)
    fig, axes = panel_grid(len(panels), COLUMNS, width=3.6, height=2.8, bottom=1.0 + 0.2 * legend_rows, sharey=True)
    model_cmap = plt.get_cmap("plasma")
    handles: dict[str, Any] = {}
    for ax, (title, pruned, dense) in zip(axes.flat, panels):
        for cell, xs, ys in dense:
            if pruned:  # the reference in a sparsity panel
                line, = ax.plot(xs, ys, **DENSE_STYLE)
                handles.setdefault("dense, same model (reference)", line)
            else:
                k = models.index(cell["cell"]["model"])
                line, = ax.plot(xs, ys, color=model_cmap(0.85 * k / max(1, len(models) - 1)), ls="--", lw=1.0)
                handles.setdefault(f"dense {cell['cell']['model']}", line)
        for cell, xs, ys in pruned:
            line, = ax.plot(xs, ys, color=colours[window_of(cell)], lw=1.0, alpha=0.85)
            handles.setdefault(f"window {window_label(cell)}", line)
        ax.set_xscale("log")
        ax.set(xlabel="tokens", ylabel="training loss", title=title)
    windows = [f"window {window_label({'cell': {'start': a, 'end': b}})}" for a, b in colours]
    order = [k for k in (*windows, "dense, same model (reference)", *(f"dense {m}" for m in models)) if k in handles]
    fig.legend([handles[k] for k in order], order, loc="lower center", ncol=LEGEND_COLUMNS, fontsize=8,
               title="solid: pruned, coloured by pruning window (fractions of compute); dashed: dense",
               title_fontsize=8, frameon=False)
    fig.suptitle(f"Training loss of {len(series)} cells, by target sparsity")
    return fig


def loss_curves(cells: list[dict], path: Path) -> Path | None:
    """Write loss_curves.png (see the module docstring); None without a training-loss curve."""
    fig = draw_loss_curves(cells)
    return None if fig is None else save_figure(fig, path)
