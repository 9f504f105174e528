"""cells.csv and the report's Cells table against the records they come from."""
from __future__ import annotations

import csv
import io

import pytest
from store_records import result_record

from orchestrator.study.cells_table import COLUMNS, cells_csv, cells_section

MICRO_ATTENTION_PER_TOKEN = 6 * 4 * 128 * 64  # 6 · n_layer · context · d_model at micro = 196,608


def _store() -> list[dict]:
    dense = result_record(val_loss=2.5, tokens=2_048_000)
    pruned = result_record(val_loss=2.4, sparsity=0.8, window=(0.0, 0.25), avg=100_000.0, tokens=4_096_000,
                           dense_steps=1000)
    failed = {**result_record(val_loss=2.6, sparsity=0.4, cell_id="broken"), "status": "failed", "val_loss": None,
              "error": "RuntimeError: boom\nwhile training step 12\nValueError: the last line"}
    return [dense, pruned, failed]


def test_cells_csv_has_one_row_per_cell_with_the_records_values() -> None:
    cells = _store()
    rows = list(csv.DictReader(io.StringIO(cells_csv(cells))))
    assert [row["cell_id"] for row in rows] == sorted(c["cell_id"] for c in cells)
    assert tuple(rows[0]) == COLUMNS
    by_id = {row["cell_id"]: row for row in rows}
    for cell in cells:
        row = by_id[cell["cell_id"]]
        assert row["status"] == cell["status"] and row["model"] == cell["cell"]["model"]
        assert float(row["epochs"]) == cell["epochs"] and int(row["tokens"]) == cell["tokens"]
    pruned = by_id[cells[1]["cell_id"]]
    # true FLOPs = 6 · N_avg · tokens + attention per token · tokens, by hand
    assert float(pruned["true_flops"]) == pytest.approx(6 * 100_000 * 4_096_000 + MICRO_ATTENTION_PER_TOKEN * 4_096_000)
    # over a dense run of C = 1000 steps of 2048 tokens: (6 · 212,992 + 196,608) per token
    budget = 1000 * 2048 * (6 * 212_992 + MICRO_ATTENTION_PER_TOKEN)
    assert float(pruned["true_flops_over_budget"]) == pytest.approx(float(pruned["true_flops"]) / budget)
    dense = by_id[cells[0]["cell_id"]]
    assert float(dense["true_flops_over_budget"]) == pytest.approx(1.0)  # a dense cell spends its budget
    assert by_id["broken"]["val_loss"] == "" and by_id["broken"]["error"] == "ValueError: the last line"


def test_the_report_names_each_cell_and_each_failure_with_its_last_error_line() -> None:
    text = "\n".join(cells_section(_store()))
    for cell in _store():
        assert f"| `{cell['cell_id']}` | {cell['status']} |" in text
    assert "- `broken` (failed): ValueError: the last line" in text
