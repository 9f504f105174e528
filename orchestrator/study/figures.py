"""Figures of a finished sweep: pruning journeys, window heatmaps and the fitted size laws, and the helpers every
figure module shares.

Each figure function writes one PNG and returns its path, or None without data (`figure_set.write_figures` draws
them all). The small helpers here (cell classification, the law's prediction) are shared
with `orchestrator.study.markdown`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

DPI = 120
PREDICTORS = ("avg_params", "final_params", "initial_params")


def pyplot() -> Any:
    """pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def predict_loss(constants: dict, n: float, d: float) -> float:
    """The fitted law E + A/N^alpha + B/D^beta."""
    return float(constants["E"] + constants["A"] / n ** constants["alpha"] + constants["B"] / d ** constants["beta"])


def is_post_training(cell: dict) -> bool:
    """A P² cell: post-training of a structurally pruned base (reported in its own section)."""
    return isinstance(cell.get("structured"), dict)


def is_dense(cell: dict) -> bool:
    """A dense cell: no pruning schedule, or zero target sparsity."""
    return cell["cell"]["schedule"] == "none" or float(cell["cell"]["sparsity"]) == 0.0


def val_loss(cell: dict) -> float | None:
    """The final validation loss of a finished ("done") cell, None when absent or not finite."""
    value = cell.get("val_loss")
    if cell.get("status") != "done" or value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def lr_schedule_of(cell: dict) -> str:
    """The cell's learning-rate schedule (result.json `cell.lr_schedule`; absent for the paper's cosine)."""
    return (cell.get("cell") or {}).get("lr_schedule") or "cosine"


def duration_label(cell: dict) -> str:
    """The training duration of a cell: tokens per parameter when set, else the dense step count; a learning-rate
    schedule other than the paper's cosine is part of it ("tpp20-wsd"), so that every comparison made within one
    duration (window groups, seed noise per budget, heatmaps) never mixes cosine and wsd cells."""
    tpp = cell["cell"].get("tokens_per_param")
    label = f"tpp{float(tpp):g}" if tpp is not None else f"steps{int(cell['cell']['dense_steps'])}"
    schedule = lr_schedule_of(cell)
    return label if schedule == "cosine" else f"{label}-{schedule}"


def split_duration(label: str) -> tuple[str, float, str]:
    """A duration label's (kind "tpp" or "steps", its number, its learning-rate schedule)."""
    budget, _, schedule = label.partition("-")
    kind = "tpp" if budget.startswith("tpp") else "steps"
    return kind, float(budget[len(kind):]), schedule or "cosine"


def duration_order(label: str) -> tuple[str, str, float]:
    """Sort key of a duration label: kind, learning-rate schedule (cosine first), then its number."""
    kind, number, schedule = split_duration(label)
    return kind, "" if schedule == "cosine" else schedule, number


def window_label(cell: dict) -> str:
    """The pruning window as "start–end"."""
    return f"{float(cell['cell']['start']):g}–{float(cell['cell']['end']):g}"


def window_of(cell: dict) -> tuple[float, float]:
    """The pruning window (start, end) as numbers: the key that orders windows (0–0.25 before 0.25–0.5)."""
    return float(cell["cell"]["start"]), float(cell["cell"]["end"])


def window_colours(cells: list[dict]) -> dict[tuple[float, float], Any]:
    """One colour per pruning window of the cells, in numeric window order (tab10, tab20 past ten windows)."""
    windows = sorted({window_of(cell) for cell in cells})
    cmap = pyplot().get_cmap("tab10" if len(windows) <= 10 else "tab20")
    return {window: cmap(k % cmap.N) for k, window in enumerate(windows)}


def finite_series(metrics: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(tokens, key) pairs of the metrics rows where both are finite and tokens > 0."""
    xs, ys = [], []
    for row in metrics:
        x, y = row.get("tokens"), row.get(key)
        if x is not None and y is not None and math.isfinite(float(y)) and float(x) > 0:
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


def save_figure(fig: Any, path: Path) -> Path:
    """Save a figure at DPI and close it: tight layout first, unless it is laid out already (a layout engine of its
    own, or panel_grid's fixed margins). No engine is left on a laid-out figure for the save, which would otherwise
    draw it once more just to lay it out again (the cost of the report's figures doubled)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    plt = pyplot()
    engine = fig.get_layout_engine()
    if engine is None:
        fig.tight_layout()
    if not isinstance(engine, ConstrainedLayoutEngine):  # constrained layout happens in the save's first draw
        fig.set_layout_engine(None)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def panel_grid(count: int, columns: int, *, width: float, height: float, top: float = 0.75,
               bottom: float = 0.65, right: float = 0.25, **shared: bool) -> tuple[Any, np.ndarray]:
    """(figure, axes) of `count` panels in rows of at most `columns`, each panel `width` × `height` inches, with
    fixed margins in inches (room for a title above and labels below each panel) and the unused panels hidden.
    Fixed margins, not a layout engine: constrained layout measures every tick label in an extra draw per save,
    most of the cost of a many-panel figure."""
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    plt = pyplot()
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    left, gap_w, gap_h = 0.75, 0.55, 0.75
    fig_w = left + right + columns * width + (columns - 1) * gap_w
    fig_h = top + bottom + rows * height + (rows - 1) * gap_h
    fig, axes = plt.subplots(rows, columns, figsize=(fig_w, fig_h), squeeze=False, **shared)
    fig.set_layout_engine(PlaceHolderLayoutEngine(adjust_compatible=True, colorbar_gridspec=True))  # save as laid
    fig.subplots_adjust(left=left / fig_w, right=1 - right / fig_w, top=1 - top / fig_h, bottom=bottom / fig_h,
                        wspace=gap_w / width, hspace=gap_h / height)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    return fig, axes


def sparsity_colours(cells: list[dict]) -> tuple[Any, Any]:
    """(colormap, norm) over the sparsities of the cells."""
    from matplotlib.colors import Normalize

    plt = pyplot()
    values = [float(c["cell"]["sparsity"]) for c in cells] or [0.0]
    return plt.get_cmap("viridis"), Normalize(vmin=min(values), vmax=max(max(values), min(values) + 1e-9))


def journey(cells: list[dict], path: Path) -> Path | None:
    """params_current vs tokens, one panel per pruning schedule, one line per pruned cell."""
    pruned = [c for c in sorted(cells, key=lambda c: c["cell_id"]) if not is_dense(c)]
    panels: dict[str, list[tuple[dict, list[float], list[float]]]] = {}
    for cell in pruned:
        xs, ys = finite_series(cell.get("metrics") or [], "params_current")
        if xs:
            panels.setdefault(cell["cell"]["schedule"], []).append((cell, xs, ys))
    if not panels:
        return None
    plt = pyplot()
    cmap, norm = sparsity_colours(pruned)
    fig, axes = panel_grid(len(panels), len(panels), width=4.0, height=3.2, top=0.9, right=1.3, sharey=True)
    for ax, schedule in zip(axes[0], sorted(panels)):
        for cell, xs, ys in panels[schedule]:
            ax.plot(xs, ys, color=cmap(norm(float(cell["cell"]["sparsity"]))), lw=1)
        ax.set(xlabel="tokens", title=f"{schedule} ({len(panels[schedule])} cells)")
        ax.ticklabel_format(axis="both", style="sci", scilimits=(-3, 3))
    axes[0][0].set_ylabel("current parameters")
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes[0]), label="target sparsity", fraction=0.04,
                 pad=0.03)
    return save_figure(fig, path)


def heatmap_table(cells: list[dict]) -> dict[str, tuple[list[str], list[float], np.ndarray]]:
    """Per duration: (window rows, sparsity columns, mean val loss over seeds, NaN where missing). Rows run by
    model, schedule, then window start and end as numbers (0–0.25 before 0.25–0.5, not as strings)."""
    groups: dict[str, dict[tuple[tuple, float], list[float]]] = {}
    multi = len({c["cell"]["schedule"] for c in cells if not is_dense(c)}) > 1
    multi_model = len({c["cell"]["model"] for c in cells}) > 1
    labels: dict[tuple, str] = {}
    for cell in cells:
        loss = val_loss(cell)
        if is_dense(cell) or loss is None:
            continue
        grid = cell["cell"]
        key = (grid["model"] if multi_model else "", grid["schedule"] if multi else "", float(grid["start"]),
               float(grid["end"]))
        labels[key] = " ".join(p for p in (key[0], key[1], window_label(cell)) if p)
        groups.setdefault(duration_label(cell), {}).setdefault((key, float(grid["sparsity"])), []).append(loss)
    tables = {}
    for duration in sorted(groups, key=duration_order):
        keys = sorted({k for k, _ in groups[duration]})
        cols = sorted({s for _, s in groups[duration]})
        grid = np.full((len(keys), len(cols)), np.nan)
        for (key, sparsity), losses in groups[duration].items():
            grid[keys.index(key), cols.index(sparsity)] = float(np.mean(losses))
        tables[duration] = ([labels[k] for k in keys], cols, grid)
    return tables


def text_colour(rgba) -> str:
    """Black on a light cell, white on a dark one (relative luminance of the cell's colour)."""
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def heatmap(duration: str, rows: list[str], cols: list[float], grid: np.ndarray, path: Path) -> Path:
    """Final val loss over window x sparsity at one duration, each cell annotated."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 3, 0.6 * len(rows) + 2))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="magma_r", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if math.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=9,
                        color=text_colour(image.cmap(image.norm(grid[i, j]))))
    ax.set_xticks(range(len(cols)), [f"{s:g}" for s in cols])
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="target sparsity", ylabel="pruning window", title=f"Final val loss, {duration} (mean over seeds)")
    fig.colorbar(image, ax=ax, label="val loss")
    return save_figure(fig, path)


def _ranked(fit: dict) -> list[str]:
    """Predictor names present in the fit, in ranking order then the rest sorted."""
    present = fit.get("predictors") or {}
    ranking = [p for p in fit.get("ranking") or [] if p in present]
    return ranking + sorted(p for p in present if p not in ranking)


def heldout_points(cells: list[dict], fit: dict, predictor: str) -> np.ndarray:
    """(cross-validated prediction, measured) of each fitted cell: the predictions the held-out RMSE is computed
    from (fit.json `cv_predictions`, in the order of `cell_ids`); empty when the fit has none."""
    predictions = (fit.get("predictors") or {}).get(predictor, {}).get("cv_predictions")
    by_id = {cell.get("cell_id"): cell for cell in cells}
    ids = fit.get("cell_ids") or []
    if not predictions or len(predictions) != len(ids):
        return np.empty((0, 2))
    pairs = [(p, val_loss(by_id[i])) for p, i in zip(predictions, ids) if i in by_id and val_loss(by_id[i])]
    return np.array(pairs, dtype=float).reshape(-1, 2)


def predicted_vs_measured(cells: list[dict], fit: dict, path: Path) -> Path | None:
    """One panel per predictor: each cell's cross-validated prediction (its fold left it out) vs its measured val
    loss, the y = x line, and the held-out RMSE those points give."""
    names = [p for p in _ranked(fit) if len(heldout_points(cells, fit, p))]
    if not names:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        points = heldout_points(cells, fit, name)
        ax.scatter(points[:, 0], points[:, 1], s=14)
        lo, hi = float(points.min()), float(points.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        rmse = fit["predictors"][name].get("heldout_rmse")
        ax.set(xlabel="held-out prediction (cross-validated)", ylabel="measured val loss",
               title=f"{name}: held-out RMSE {rmse:.4f}" if rmse is not None else f"{name}: held-out RMSE n/a")
    return save_figure(fig, path)
