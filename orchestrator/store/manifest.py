"""A sweep's manifest, `<results_dir>/<sweep>/sweep.json`: every run of the sweep's command, with its cells.

The launcher's validation hook writes it once every cell has validated (a bad sweep writes nothing), before any
cell runs, so `orchestrator-status` can tell a cell that never started from one that was never asked for. Each run
of `orchestrator-train -m` into the folder appends one entry: the command line, the folder it ran in, the time, and
each cell's id and overrides. Written atomically; a local store only (an object store's sweeps have no manifest).
"""
from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from orchestrator.store.files import CorruptStoreFile, read_json, write_json_atomic
from orchestrator.store.uri import is_uri

MANIFEST = "sweep.json"


def command_line(argv: list[str] | None = None) -> str:
    """The command as a user would type it again: the program's name, then its arguments, shell-quoted."""
    argv = list(sys.argv if argv is None else argv)
    return shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else ""


def read_manifest(sweep_dir: Path) -> dict:
    """The manifest of a sweep folder ({"runs": []} when there is none; CorruptStoreFile when it is unreadable)."""
    path = Path(sweep_dir) / MANIFEST
    if not path.exists():
        return {"runs": []}
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs"), list):
        raise CorruptStoreFile(f"{path}: not a sweep manifest (expected {{\"runs\": [...]}})")
    return manifest


def record_run(results_dir: str, sweep: str, cells: list[dict], command: str | None = None) -> Path | None:
    """Append this run of the sweep (cells: [{"cell_id", "overrides"}]) to its manifest; None for a URI store."""
    if is_uri(results_dir):
        return None
    sweep_dir = Path(results_dir) / sweep
    try:
        manifest = read_manifest(sweep_dir)
    except CorruptStoreFile:
        manifest = {"runs": []}  # a torn manifest is replaced: the cells' own files are the record
    manifest["runs"].append({"command": command_line() if command is None else command, "cwd": str(Path.cwd()),
                             "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cells": cells})
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(sweep_dir / MANIFEST, manifest)
    return sweep_dir / MANIFEST
