"""Read a result store back: every cell's result.json and metrics.jsonl, naming (not failing on) unreadable files.

`load_cells(location)` takes RESULTS_DIR (all sweeps) or RESULTS_DIR/<sweep> (one sweep), as a local path or a URI
that pyarrow's filesystem layer understands (`s3://bucket/results/journey80`, `gs://…`, `file:///…`).
"""
from __future__ import annotations

import json
from pathlib import Path

from orchestrator.store.files import parse_jsonl
from orchestrator.store.uri import is_uri, reject_credentials

REQUIRED_KEYS = ("status", "cell_id", "cell")
# the grid coordinates under `cell` that the report reads (orchestrator.store.cell_id.cell_coordinates writes them)
REQUIRED_CELL_KEYS = ("model", "schedule", "sparsity", "start", "end", "seed", "dense_steps", "tokens_per_param")


def last_error_line(error: str | None) -> str | None:
    """The last non-blank line of a result's `error` (where the exception's own message is); None without one."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


class StoreReader:
    """Lists and reads the files of a store through pyarrow.fs (local paths and URIs alike)."""

    def __init__(self, location: str | Path) -> None:
        from pyarrow import fs

        if is_uri(location):
            try:
                reject_credentials(str(location), "RESULTS_DIR")
            except ValueError as error:
                raise FileNotFoundError(str(error)) from None  # the CLI's "bad location" error: exit 2
            self.fs, self.root = fs.FileSystem.from_uri(str(location))
        else:
            self.fs, self.root = fs.LocalFileSystem(), str(Path(location).resolve())
        info = self.fs.get_file_info(self.root)
        if info.type != fs.FileType.Directory:
            raise FileNotFoundError(f"RESULTS_DIR {location} is not a directory")

    def result_files(self) -> list[str]:
        from pyarrow import fs

        found = []
        for info in self.fs.get_file_info(fs.FileSelector(self.root, recursive=True)):
            relative = info.path[len(self.root):].strip("/").split("/")
            if (relative[-1] == "result.json" and len(relative) in (2, 3)
                    and not any(part.startswith(".") for part in relative)):
                found.append(info.path)
        return sorted(found)

    def read_text(self, path: str) -> str:
        with self.fs.open_input_stream(path) as stream:
            return stream.read().decode()

    def exists(self, path: str) -> bool:
        from pyarrow import fs

        return self.fs.get_file_info(path).type == fs.FileType.File


def _read_metrics(reader: StoreReader, path: str) -> list[dict]:
    return parse_jsonl(reader.read_text(path), path) if reader.exists(path) else []


def load_cells(location: str | Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """(cells, skipped): each cell is its result.json plus `metrics` (records), `plan` (its plan.json, None when
    absent) and `cell_dir`; skipped lists (path, reason) for every file that could not be read."""
    reader = StoreReader(location)
    cells, skipped = [], []
    for path in reader.result_files():
        try:
            result = json.loads(reader.read_text(path))
            if not isinstance(result, dict):
                raise ValueError(f"a JSON {type(result).__name__}, not an object")
            missing = [key for key in REQUIRED_KEYS if key not in result]
            if missing:
                raise ValueError(f"missing keys {missing}")
            if not isinstance(result["cell"], dict):
                raise ValueError(f"`cell` is a JSON {type(result['cell']).__name__}, not an object")
            missing = [f"cell.{key}" for key in REQUIRED_CELL_KEYS if key not in result["cell"]]
            if missing:
                raise ValueError(f"missing keys {missing}")
        except (OSError, ValueError) as error:
            skipped.append((path, f"unreadable result.json: {error}"))
            continue
        cell_dir = path.rsplit("/", 1)[0]
        try:
            metrics = _read_metrics(reader, f"{cell_dir}/metrics.jsonl")
        except (OSError, ValueError) as error:
            skipped.append((f"{cell_dir}/metrics.jsonl", f"unreadable metrics: {error}"))
            metrics = []
        plan = None
        try:
            if reader.exists(f"{cell_dir}/plan.json"):
                plan = json.loads(reader.read_text(f"{cell_dir}/plan.json"))
        except (OSError, ValueError) as error:
            skipped.append((f"{cell_dir}/plan.json", f"unreadable plan.json: {error}"))
        cells.append(result | {"metrics": metrics, "cell_dir": cell_dir, "plan": plan})
    return cells, skipped
