"""Which code produced a cell: the git commit of the orchestrator's checkout (with a `+dirty` mark when it has
uncommitted changes to tracked files), or the installed package's version when it runs from a wheel. Recorded in
result.json as `code`; the report lists the commits, commands and dates that produced a store."""
from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(PACKAGE_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """{"commit": sha[+dirty] or None, "version": the package's version or None}."""
    commit = _git("rev-parse", "HEAD") if (PACKAGE_ROOT / ".git").exists() else None
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    try:
        version = metadata.version("pruning-journey")
    except metadata.PackageNotFoundError:
        version = None
    return {"commit": commit, "version": version}
