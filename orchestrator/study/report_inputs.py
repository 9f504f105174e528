"""What a sweep's report was built from, so that a rerun that changed nothing does not rebuild it.

The end-of-sweep report (report_after_sweep) reads every cell's result.json, metrics.jsonl and plan.json, and the
commands in the sweep's manifest. Their fingerprint — each cell file's path, size and modification time, the
commands (each once: a rerun of the same command adds none), the report's options and the orchestrator's version —
is kept beside the report as `inputs.json` once the report is written. A later sweep
whose fingerprint matches (a rerun that skipped every cell) leaves the report as it is; any cell that trained,
failed or was deleted changes it. `orchestrator-report` always rebuilds (it is how to redraw by hand).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from orchestrator.store.files import read_json, write_json_atomic

INPUTS_FILE = "inputs.json"
CELL_FILES = ("result.json", "metrics.jsonl", "plan.json")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pruning-journey")
    except PackageNotFoundError:
        return "unknown"


def _stat(path: Path) -> list:
    try:
        info = path.stat()
    except FileNotFoundError:
        return [path.name, None]
    return [path.name, info.st_size, info.st_mtime_ns]


def report_inputs(sweep_dir: Path, options: dict, commands: list[str]) -> str:
    """The fingerprint of what a report of `sweep_dir` with `options` reads (a hex digest); `commands`: the sweep's
    commands as the report lists them. Cells are found as the store reader finds them: a result.json one or two
    folders down, no folder starting with a dot."""
    digest = hashlib.sha256(json.dumps([_version(), options, commands], sort_keys=True, default=str).encode())
    results = [*sweep_dir.glob("*/result.json"), *sweep_dir.glob("*/*/result.json")]
    for result in sorted(results):
        relative = result.relative_to(sweep_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        cell = result.parent
        digest.update(json.dumps([str(relative.parent), *(_stat(cell / name) for name in CELL_FILES)]).encode())
    return digest.hexdigest()


def unchanged_since_last_report(out_dir: Path, fingerprint: str) -> bool:
    """True when the report in out_dir was built from these inputs (and is still there)."""
    recorded = out_dir / INPUTS_FILE
    if not (recorded.is_file() and (out_dir / "report.md").is_file()):
        return False
    try:
        return read_json(recorded).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


def record_report_inputs(out_dir: Path, fingerprint: str) -> None:
    write_json_atomic(out_dir / INPUTS_FILE, {"fingerprint": fingerprint})
