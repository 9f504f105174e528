"""The report's "Provenance" section: the code (commit or version), the commands and the dates that produced the
store, from each result.json's `code` and `timing` and each sweep's manifest (sweep.json)."""
from __future__ import annotations

import datetime
from collections import Counter


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def provenance_section(cells: list[dict], commands: list[str]) -> list[str]:
    """Commits (or versions) with their cell counts, the first and last cell written, and the sweep commands."""
    codes = Counter((cell.get("code") or {}).get("commit") or (cell.get("code") or {}).get("version")
                    or "not recorded" for cell in cells)
    written = [cell["timing"]["result_written_at"] for cell in cells
               if isinstance((cell.get("timing") or {}).get("result_written_at"), (int, float))]
    lines = ["## Provenance", "",
             "- Code: " + "; ".join(f"`{code}` ({n} cells)" for code, n in sorted(codes.items())) + "."]
    if written:
        lines.append(f"- Cells written from {_when(min(written))} to {_when(max(written))}.")
    if commands:
        lines += ["- Commands (each sweep's manifest, `sweep.json`):", ""]
        lines += [f"      {command}" for command in dict.fromkeys(commands)]
    else:
        lines.append("- Commands: not recorded (no sweep manifest in this store).")
    return lines + [""]
