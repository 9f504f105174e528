"""docs/reproduction: the committed study is whole, its report is the report of that store, and the page's claims
are the report's numbers (each verdict and each number it quotes, as findings.json has them)."""
from __future__ import annotations

import json
from pathlib import Path

from orchestrator.store.reader import load_cells

REPRO = Path(__file__).resolve().parents[2] / "docs" / "reproduction"


def _page() -> str:
    return (REPRO / "README.md").read_text(encoding="utf-8")


def _findings() -> dict:
    return json.loads((REPRO / "report" / "findings.json").read_text(encoding="utf-8"))


def test_every_committed_cell_is_finished_and_in_the_report() -> None:
    cells, skipped = load_cells(REPRO / "store")
    assert not skipped and cells
    assert {cell["status"] for cell in cells} == {"done"}
    report = (REPRO / "report" / "report.md").read_text(encoding="utf-8")
    assert f"- Cells: {len(cells)} — done ({len(cells)})." in report
    for cell in cells:  # what a cell needs to be re-read: its plan and its curve (models stay out of git)
        cell_dir = Path(cell["cell_dir"])
        assert (cell_dir / "plan.json").is_file() and (cell_dir / "metrics.jsonl").is_file()
        steps = [row["step"] for row in cell["metrics"]]
        assert steps == sorted(set(steps)), f"{cell_dir}: a step logged twice or out of order (resume)"


def _heading(page: str, number: int) -> str:
    return next(line for line in page.splitlines() if line.startswith(f"### Finding {number}"))


def test_the_page_states_each_verdict_of_the_report() -> None:
    found, page = _findings(), _page()
    for number, key in enumerate(("windows", "predictors", "dense_equivalence"), start=1):
        heading = _heading(page, number)
        assert heading.endswith(f"— {found[key]['verdict']}"), (heading, found[key]["verdict"])


def test_the_page_quotes_the_reports_numbers() -> None:
    found, page = _findings(), _page()
    windows, predictors, dense = found["windows"], found["predictors"], found["dense_equivalence"]
    quoted = [
        f"{windows['n_near_optimal']} of {windows['n_testable']}", f"{windows['mean_gap']:.4f}",
        f"{windows['max_gap']:.4f}", f"{windows['mean_rank']:.2f}",
        *(f"| {b['duration'][3:]} tokens/param | {b['n_testable']} of {b['n_groups']} | {b['verdict']} |"
          for b in windows["by_budget"]),
        *(f"{b['noise']:.4f} ({b['noise_dof']})" for b in windows["by_budget"] if b["noise"] is not None),
        *(f"{r['gap']:.4f} [{r['gap_interval'][0]:.4f}, {r['gap_interval'][1]:.4f}]" for r in windows["groups"]
          if r["gap_interval"] is not None),
        *(f"{predictors['heldout_rmse'][name]:.4f}" for name in ("avg_params", "final_params", "initial_params")),
        *(f"[{low:+.4f}," for low, _ in predictors["difference_ci"].values()),
        *(f"{high:+.4f}]" for _, high in predictors["difference_ci"].values()),
        f"{dense['gap']['mean']:+.4f}", f"{dense['mean_pct']:+.2f} %",
        *(f"{dense['contrast'][name]['mean']:+.4f}" for name in ("avg_params", "final_params", "initial_params")),
    ]
    missing = [number for number in quoted if number not in page]
    assert not missing, f"docs/reproduction/README.md does not quote {missing} (report/findings.json)"
