"""One row per cell: its coordinates, status, losses, sizes, tokens, epochs, FLOPs and wall time — `cells.csv`
beside report.md (ready for pandas) and the report's "Cells" table."""
from __future__ import annotations

import csv
import io

from orchestrator.store.reader import last_error_line
from orchestrator.study.figures import window_label
from orchestrator.study.flops import true_compute_ratio, true_flops

COLUMNS = ("cell_id", "sweep", "status", "model", "schedule", "sparsity", "start", "end", "seed", "dense_steps",
           "tokens_per_param", "steps", "tokens", "epochs", "initial_params", "avg_params", "final_params",
           "final_loss", "val_loss", "linear_flops", "true_flops", "true_flops_over_budget", "wall_seconds", "error")


def cell_row(cell: dict) -> dict:
    """The COLUMNS of one cell (None where the record has no such field, e.g. a failed cell's losses)."""
    grid = cell["cell"]
    return {"cell_id": cell["cell_id"], "sweep": cell.get("sweep"), "status": cell["status"],
            **{key: grid.get(key) for key in ("model", "schedule", "sparsity", "start", "end", "seed", "dense_steps",
                                              "tokens_per_param")},
            **{key: cell.get(key) for key in ("steps", "tokens", "epochs", "initial_params", "avg_params",
                                              "final_params", "final_loss", "val_loss")},
            "linear_flops": cell.get("pretrain_flops"), "true_flops": true_flops(cell),
            "true_flops_over_budget": true_compute_ratio(cell), "wall_seconds": cell.get("wall_seconds"),
            "error": last_error_line(cell.get("error"))}


def cells_csv(cells: list[dict]) -> str:
    """cells.csv: a header of COLUMNS, then one row per cell in cell-id order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in sorted(cells, key=lambda c: c["cell_id"]):
        writer.writerow(cell_row(cell))
    return out.getvalue()


def _number(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def cells_section(cells: list[dict]) -> list[str]:
    """The report's table of every cell (the columns a reader checks first; cells.csv has them all), and the failed
    and diverged cells with the last line of their error."""
    lines = ["## Cells", "", "Every cell of the store; `cells.csv` beside this report has these and more columns. "
             "Epochs: passes over the training split (above 1, the corpus repeats). True FLOPs ÷ budget: the cell's "
             "FLOPs with attention scores over those of a dense run of its budget C.", "",
             "| cell | status | window | C | steps | tokens | epochs | N_avg | val loss | true FLOPs | "
             "true FLOPs ÷ budget |", "|---" * 11 + "|"]
    for cell in sorted(cells, key=lambda c: c["cell_id"]):
        row = cell_row(cell)
        lines.append(f"| `{row['cell_id']}` | {row['status']} | {window_label(cell)} | {row['dense_steps']} | "
                     f"{row['steps'] or 'n/a'} | {_number(row['tokens'])} | {_number(row['epochs'], 3)} | "
                     f"{_number(row['avg_params'])} | {_number(row['val_loss'])} | {_number(row['true_flops'], 3)} | "
                     f"{_number(row['true_flops_over_budget'], 3)} |")
    broken = [cell_row(c) for c in sorted(cells, key=lambda c: c["cell_id"]) if c["status"] != "done"]
    if broken:
        lines += ["", "Cells that did not finish:", ""]
        lines += [f"- `{row['cell_id']}` ({row['status']}): {row['error'] or 'no error recorded'}" for row in broken]
    return lines + [""]
