"""The result store: RESULTS_DIR/<sweep>/<cell_id>/ with config.yaml, plan.json, metrics.jsonl, result.json and
final_model.pt. Every whole-file write is atomic (temp file in the same folder, fsync, os.replace), so a reader
never sees a torn file and a crash leaves either the old file or the new one.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


FINISHED_STATUSES = ("done", "diverged")
SHARING_FILE = "sharing.json"  # <results_dir>/<sweep>/: the fork tree of its cells that share dense trunks
TRUNKS_FOLDER = ".trunks"  # <results_dir>/<sweep>/.trunks/<trunk id>/: hidden, not a cell of the sweep for readers


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    _atomic_write(Path(path), lambda handle: handle.write(text), "w")


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, allow_nan=True) + "\n")


def save_torch_atomic(path: Path, obj: Any) -> None:
    import torch  # here, not at the top: readers of a store (the report) need no torch

    _atomic_write(Path(path), lambda handle: torch.save(obj, handle), "wb")


class CorruptStoreFile(ValueError):
    """A store file that does not parse (edited by hand, or written by something other than this tool)."""


def parse_json(text: str, source: str) -> Any:
    """JSON from a store file's text; CorruptStoreFile names `source` (a path or a URI) when it does not parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptStoreFile(f"{source} is not valid JSON ({error}); it was left as it is: move it away "
                               "to run this cell again") from None


def read_json(path: Path) -> Any:
    return parse_json(Path(path).read_text(), str(path))


def is_finished(result: dict | None) -> bool:
    """Done or diverged: a final result that a rerun skips (a failed cell runs again)."""
    return result is not None and result.get("status") in FINISHED_STATUSES


@dataclass(frozen=True)
class CellPaths:
    """Where one cell's files live."""

    root: Path

    @classmethod
    def of(cls, results_dir: str | Path, sweep: str, cell_id: str) -> "CellPaths":
        return cls(Path(results_dir) / sweep / cell_id)

    config = property(lambda self: self.root / "config.yaml")
    plan = property(lambda self: self.root / "plan.json")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    result = property(lambda self: self.root / "result.json")
    final_model = property(lambda self: self.root / "final_model.pt")  # at the end of pre-training
    finetuned_model = property(lambda self: self.root / "finetuned_model.pt")  # after fine-tuning (SPDF)
    checkpoints = property(lambda self: self.root / "checkpoints")

    def read_result(self) -> dict | None:
        return read_json(self.result) if self.result.exists() else None

    def is_finished(self) -> bool:
        return is_finished(self.read_result())


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step, appended and flushed as training goes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after `step` (a resumed run logs them again from its checkpoint)."""
        if not self.path.exists():
            return
        kept = [line for line in self.read() if line["step"] <= step]
        write_text_atomic(self.path, "".join(json.dumps(line) + "\n" for line in kept))

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        """The logged records; a torn last line (a process killed mid-append) is left out."""
        if not self.path.exists():
            return []
        return parse_jsonl(self.path.read_text(), str(self.path))


def parse_jsonl(text: str, source: str) -> list[dict]:
    """JSON lines; a torn last line (a process killed mid-append) is left out, any other bad line raises."""
    lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number != len(lines) - 1:
                raise ValueError(f"{source}: line {number + 1} is not JSON") from None
    return records
