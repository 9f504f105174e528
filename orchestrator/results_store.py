"""Read a result store back: every cell's result.json and metrics.jsonl, naming (not failing on) unreadable files.

`load_cells(path)` takes RESULTS_DIR (all sweeps) or RESULTS_DIR/<sweep> (one sweep)."""
from __future__ import annotations

import json
from pathlib import Path

from orchestrator.store import MetricsLog

REQUIRED_KEYS = ("status", "cell_id", "cell")


def _result_files(root: Path) -> list[Path]:
    files = list(root.glob("*/result.json")) + list(root.glob("*/*/result.json"))
    return sorted(p for p in set(files) if not any(part.startswith(".") for part in p.relative_to(root).parts))


def load_cells(root: str | Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """(cells, skipped): each cell is its result.json plus `metrics` (records) and `cell_dir`; skipped lists
    (path, reason) for every file that could not be read."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RESULTS_DIR {root} is not a directory")
    cells, skipped = [], []
    for path in _result_files(root):
        try:
            result = json.loads(path.read_text())
            missing = [key for key in REQUIRED_KEYS if key not in result]
            if missing:
                raise ValueError(f"missing keys {missing}")
        except (OSError, ValueError) as error:
            skipped.append((str(path), f"unreadable result.json: {error}"))
            continue
        try:
            metrics = MetricsLog(path.parent / "metrics.jsonl").read()
        except (OSError, ValueError) as error:
            skipped.append((str(path.parent / "metrics.jsonl"), f"unreadable metrics: {error}"))
            metrics = []
        cells.append(result | {"metrics": metrics, "cell_dir": str(path.parent)})
    return cells, skipped
