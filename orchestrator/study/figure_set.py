"""Every figure of a report, in a fixed order: `write_figures` writes the PNGs into a folder and returns name ->
path; a figure without data is skipped (absent from the dict), and so is one the caller did not ask for
(`orchestrator-report --figures`, parsed by `parse_figures`)."""
from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from orchestrator.study.dense_equivalence_figure import dense_equivalence
from orchestrator.study.figures import (heatmap, heatmap_table, is_post_training, journey, lr_schedule_of,
                                        predicted_vs_measured)
from orchestrator.study.frontier_figure import frontier_figure
from orchestrator.study.law_figure import law_curves
from orchestrator.study.loss_figure import loss_curves
from orchestrator.study.p2_report import p2_figure, p2_fits
from orchestrator.study.schedule_figure import schedules
from orchestrator.study.spdf_report import spdf_figure

HEATMAP = "heatmap"  # every heatmap_<duration>; one of them by its full name
FIGURES = ("loss_curves", "journey", "schedules", HEATMAP, "predicted_vs_measured", "law_curves", "frontier",
           "dense_equivalence", "spdf", "p2")
FIGURE_HELP = ("which figures to draw: all (the default), none, or a comma-separated list of "
               f"{', '.join(FIGURES)} ({HEATMAP} draws one per duration; heatmap_<duration>, e.g. heatmap_tpp20, "
               "draws one)")


def parse_figures(spec: str) -> frozenset[str] | None:
    """The figure names of a --figures value: None for "all", an empty set for "none"; ValueError naming an
    unknown figure and the known ones."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if names == ["all"]:
        return None
    if names == ["none"]:
        return frozenset()
    unknown = [name for name in names if name not in FIGURES and not name.startswith(f"{HEATMAP}_")]
    if unknown or not names:
        raise ValueError(f"--figures: unknown figure {', '.join(unknown) or repr(spec)}; use all, none, or names "
                         f"from {', '.join(FIGURES)} (or heatmap_<duration>)")
    return frozenset(names)


def _wanted(name: str, only: Collection[str] | None) -> bool:
    return only is None or name in only or (name.startswith(f"{HEATMAP}_") and HEATMAP in only)


def write_figures(cells: list[dict], fit: dict | None, out_dir: Path,
                  only: Collection[str] | None = None) -> dict[str, Path]:
    """Write every figure that has data (and is in `only`, when given) into out_dir; returns file stem -> path, in
    the order of FIGURES."""
    fit, all_cells = fit or {}, cells
    cells = [cell for cell in cells if not is_post_training(cell)]
    law_schedule = fit.get("lr_schedule")  # the law's figures draw the cells of its learning-rate schedule only
    law_cells = [cell for cell in cells if law_schedule is None or lr_schedule_of(cell) == law_schedule]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawers: list[tuple[str, Callable[[Path], Path | None]]] = [
        ("loss_curves", lambda path: loss_curves(cells, path)),
        ("journey", lambda path: journey(cells, path)),
        ("schedules", lambda path: schedules(cells, path)),
    ]
    if only is None or any(name == HEATMAP or name.startswith(f"{HEATMAP}_") for name in only):
        for duration, (rows, cols, grid) in heatmap_table(cells).items():
            drawers.append((f"{HEATMAP}_{duration}",
                            lambda path, d=duration, r=rows, c=cols, g=grid: heatmap(d, r, c, g, path)))
    drawers += [
        ("predicted_vs_measured", lambda path: predicted_vs_measured(law_cells, fit, path)),
        ("law_curves", lambda path: law_curves(law_cells, fit, path)),
        ("frontier", lambda path: frontier_figure(law_cells, fit, path)),
        ("dense_equivalence", lambda path: dense_equivalence(cells, path)),
        ("spdf", lambda path: spdf_figure(cells, path)),
        ("p2", lambda path: p2_figure(all_cells, p2_fits(all_cells), path)),
    ]
    written = {name: draw(out_dir / f"{name}.png") for name, draw in drawers if _wanted(name, only)}
    return {name: path for name, path in written.items() if path is not None}
