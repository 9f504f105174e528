"""dense_equivalence.png: finding 3 as a picture.

Each pruned cell's val loss against the loss of a dense model of the same tokens and size, read off the dense cells
without a law (dense_equivalence.dense_references: the numbers of finding 3). The first panel takes the size to be
the cell's N_avg, on every pruned cell with a dense reference there; the other two, for contrast, N_final and
N_initial, on the cells where all three sizes have one (finding 3's `contrast`). On the diagonal a pruned model
matches the dense one; the grey band is ± NOISE_MULTIPLE × seed noise, the finding's "within noise".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.study.dense_equivalence import NOISE_MULTIPLE, dense_equivalence_finding, dense_references
from orchestrator.study.figures import panel_grid, pyplot, save_figure, sparsity_colours

SIZES = {"avg_params": "N_avg", "final_params": "N_final", "initial_params": "N_initial"}


def equivalence_points(cells: list[dict]) -> dict[str, np.ndarray]:
    """{predictor: rows of (dense reference loss, pruned val loss, sparsity)}: N_avg over every pruned cell with a
    reference at its N_avg, N_final and N_initial over the cells with all three references."""
    _, pruned, refs = dense_references(cells)
    points = {}
    for name in SIZES:
        rows = [(r[name], c["val_loss"], float(c["cell"]["sparsity"])) for c, r in zip(pruned, refs)
                if (r[name] is not None if name == "avg_params" else all(v is not None for v in r.values()))]
        points[name] = np.array(rows, dtype=float).reshape(-1, 3)
    return points


def _title(name: str, found: dict, n: int) -> str:
    summary = found.get("gap") if name == "avg_params" else (found.get("contrast") or {}).get(name, {})
    mean = (summary or {}).get("mean")
    return f"at {SIZES[name]}: mean gap {mean:+.4f} ({n} cells)" if mean is not None else f"at {SIZES[name]}"


def draw_dense_equivalence(cells: list[dict]) -> Any | None:
    """The figure (not saved), or None when no pruned cell has a dense reference at its N_avg."""
    points = equivalence_points(cells)
    if not len(points["avg_params"]):
        return None
    found = dense_equivalence_finding(cells)
    noise = found.get("noise")
    plt = pyplot()
    cmap, norm = sparsity_colours([{"cell": {"sparsity": s}} for s in points["avg_params"][:, 2]])
    names = [name for name in SIZES if len(points[name])]
    fig, axes = panel_grid(len(names), len(names), width=3.8, height=3.6, top=0.9, right=1.2, sharex=True,
                           sharey=True)
    every = np.vstack([points[name][:, :2] for name in names])
    lo, hi = float(every.min()), float(every.max())
    line = np.array([lo, hi])
    for ax, name in zip(axes[0], names):
        rows = points[name]
        if noise:
            ax.fill_between(line, line - NOISE_MULTIPLE * noise, line + NOISE_MULTIPLE * noise, color="0.88",
                            label=f"± {NOISE_MULTIPLE:g} × seed noise ({noise:.4f})")
        ax.plot(line, line, "k--", lw=1, label="pruned = dense")
        ax.scatter(rows[:, 0], rows[:, 1], c=rows[:, 2], cmap=cmap, norm=norm, s=16, edgecolors="k", linewidths=0.3)
        ax.set(xlabel=f"dense val loss at the cell's tokens and {SIZES[name]}", ylabel="pruned cell's val loss",
               title=_title(name, found, len(rows)))
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes[0]), label="target sparsity",
                 fraction=0.03, pad=0.02)
    fig.suptitle(f"Finding 3: a pruned model against a dense one of its size — {found['verdict']}")
    return fig


def dense_equivalence(cells: list[dict], path: Path) -> Path | None:
    """Write dense_equivalence.png (see the module docstring); None without a dense reference."""
    fig = draw_dense_equivalence(cells)
    return None if fig is None else save_figure(fig, path)
