"""Every figure of a report, in a fixed order: `write_figures` writes the PNGs into a folder and returns name ->
path; a figure without data is skipped (absent from the dict)."""
from __future__ import annotations

from pathlib import Path

from orchestrator.study.figures import (heatmap, heatmap_table, is_post_training, journey, law_curves, loss_curves,
                                        predicted_vs_measured)
from orchestrator.study.p2_report import p2_figure, p2_fits
from orchestrator.study.spdf_report import spdf_figure


def write_figures(cells: list[dict], fit: dict | None, out_dir: Path) -> dict[str, Path]:
    """Write every figure that has data into out_dir; returns file stem -> path, in a fixed order."""
    fit, all_cells = fit or {}, cells
    cells = [cell for cell in cells if not is_post_training(cell)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path | None] = {
        "loss_curves": loss_curves(cells, out_dir / "loss_curves.png"),
        "journey": journey(cells, out_dir / "journey.png"),
    }
    for duration, (rows, cols, grid) in heatmap_table(cells).items():
        written[f"heatmap_{duration}"] = heatmap(duration, rows, cols, grid, out_dir / f"heatmap_{duration}.png")
    written["predicted_vs_measured"] = predicted_vs_measured(cells, fit, out_dir / "predicted_vs_measured.png")
    written["law_curves"] = law_curves(cells, fit, out_dir / "law_curves.png")
    written["spdf"] = spdf_figure(cells, out_dir / "spdf.png")
    written["p2"] = p2_figure(all_cells, p2_fits(all_cells), out_dir / "p2.png")
    return {name: path for name, path in written.items() if path is not None}
