"""`orchestrator-status RESULTS_DIR [--sweep NAME]`: every cell of a store, or of one sweep, and what became of it.

A cell is done, diverged or failed (its result.json), running (a process holds its lock: orchestrator.store.lock),
interrupted (it started, holds no lock and has no result: a rerun resumes it from its last checkpoint), or missing
(in the sweep's manifest, orchestrator.store.manifest, but never started). A failed cell shows the last line of its
error. A sweep whose cells share dense trunks (share_trunks=true) lists its trunks the same way, each with the
steps it forks at and how many cells fork from it (sharing.json), so a cell waiting for its trunk can be told from
one that is stuck. Then the commands that rerun exactly the unfinished cells: the sweep's own command (finished
cells are skipped; so are finished trunks), and one command per unfinished cell. Reads only; a local store.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import sys
from collections import Counter
from pathlib import Path

from orchestrator.store.files import SHARING_FILE, TRUNKS_FOLDER, CorruptStoreFile, read_json
from orchestrator.store.lock import LOCK_NAME
from orchestrator.store.manifest import MANIFEST, read_manifest
from orchestrator.store.reader import last_error_line

FINISHED = ("done", "diverged")


def lock_is_held(cell_dir: Path) -> bool:
    """True while a process holds the cell's lock (a shared, non-blocking flock fails then); never creates it."""
    path = cell_dir / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def cell_state(cell_dir: Path) -> tuple[str, str]:
    """(state, detail) of one cell folder: see the module docstring."""
    result_path = cell_dir / "result.json"
    if result_path.exists():
        try:
            result = read_json(result_path)
        except CorruptStoreFile as error:
            return "failed", f"unreadable result.json: {error}"
        status = str(result.get("status"))
        return status, (last_error_line(result.get("error")) or "no error recorded") if status == "failed" else ""
    if lock_is_held(cell_dir):
        return "running", ""
    return ("interrupted", "no result.json; a rerun resumes it") if cell_dir.exists() else ("missing", "never started")


def _started_cells(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()
            if p.is_dir() and any((p / name).exists() for name in ("result.json", LOCK_NAME, "plan.json"))
            } if folder.is_dir() else set()


def trunk_status(sweep_dir: Path) -> dict[str, tuple[str, str]]:
    """{trunk id: (state, detail)} of the sweep's shared dense trunks: those its sharing.json plans (a trunk not yet
    started is missing) and those in its .trunks folder; the detail says where each forks and for how many cells."""
    sharing = sweep_dir / SHARING_FILE
    planned = {entry["trunk_id"]: entry for entry in read_json(sharing).get("trunks", [])} if sharing.is_file() \
        else {}
    trunks = {}
    for trunk_id in sorted(_started_cells(sweep_dir / TRUNKS_FOLDER) | set(planned)):
        state, detail = cell_state(sweep_dir / TRUNKS_FOLDER / trunk_id)
        entry = planned.get(trunk_id)
        forks = (f"forks at steps {', '.join(map(str, entry['forks']))} for {len(entry['children'])} cells"
                 if entry else f"not in {SHARING_FILE}")
        trunks[trunk_id] = (state, f"{forks}; {detail}" if detail and state != "missing" else forks)
    return trunks


def sweep_status(sweep_dir: Path) -> dict:
    """{"cells": {cell_id: (state, detail)}, "trunks": {trunk_id: (state, detail)}, "runs": the manifest's runs,
    "overrides": {cell_id: overrides}}."""
    manifest = read_manifest(sweep_dir)
    overrides = {cell["cell_id"]: cell["overrides"] for run in manifest["runs"] for cell in run["cells"]}
    found = _started_cells(sweep_dir)
    cells = {cell_id: cell_state(sweep_dir / cell_id) for cell_id in sorted(found | set(overrides))}
    return {"cells": cells, "trunks": trunk_status(sweep_dir), "runs": manifest["runs"], "overrides": overrides}


def _state_lines(entries: dict[str, tuple[str, str]], width: int) -> list[str]:
    return [f"  {name:<{width}}  {state:<11} {detail}".rstrip() for name, (state, detail) in entries.items()]


def _counts(entries: dict[str, tuple[str, str]]) -> str:
    counts = Counter(state for state, _ in entries.values())
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def sweep_dirs(results_dir: Path, sweep: str | None) -> list[Path]:
    if sweep is not None:
        return [results_dir / sweep]
    if (results_dir / MANIFEST).exists():  # RESULTS_DIR is itself one sweep's folder
        return [results_dir]
    return sorted(p for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name != "report" and ((p / MANIFEST).exists() or any(p.glob("*/result.json"))))


def render(sweep_dir: Path, status: dict) -> list[str]:
    cells, trunks = status["cells"], status.get("trunks") or {}
    lines = [f"sweep {sweep_dir.name} ({sweep_dir}): {len(cells)} cells — {_counts(cells)}"]
    width = max((len(c) for c in (*cells, *trunks)), default=0)
    lines += _state_lines(cells, width)
    if trunks:
        lines += [f"shared dense trunks ({TRUNKS_FOLDER}/, planned in {SHARING_FILE}): {len(trunks)} — "
                  f"{_counts(trunks)}", *_state_lines(trunks, width)]
    unfinished = [c for c, (state, _) in cells.items() if state not in FINISHED and state != "running"]
    if unfinished and status["runs"]:
        last = status["runs"][-1]
        lines += ["", f"rerun (finished cells are skipped), from {last['cwd']}:", f"  {last['command']}"]
        known = [c for c in unfinished if c in status["overrides"]]
        if known:
            lines.append("or exactly the unfinished cells, one command each:")
            lines += [f"  orchestrator-train -m {shlex.join(status['overrides'][c])}" for c in known]
    elif unfinished:
        lines += ["", f"{len(unfinished)} unfinished cells; no manifest ({MANIFEST}) says which command made them"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestrator-status", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="RESULTS_DIR (every sweep) or RESULTS_DIR/<sweep>")
    parser.add_argument("--sweep", default=None, help="only this sweep of RESULTS_DIR")
    args = parser.parse_args(argv)
    results_dir = Path(args.results_dir)
    if not results_dir.is_dir():
        print(f"error: RESULTS_DIR {results_dir} is not a directory", file=sys.stderr)
        return 2
    dirs = sweep_dirs(results_dir, args.sweep)
    if args.sweep is not None and not dirs[0].is_dir():
        print(f"error: no sweep {args.sweep!r} in {results_dir}", file=sys.stderr)
        return 2
    try:
        blocks = [render(d, sweep_status(d)) for d in dirs]
    except CorruptStoreFile as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n\n".join("\n".join(block) for block in blocks) if blocks else f"no sweep in {results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
