"""docs/benchmarks.md from one run of every benchmark: the prose of doc_template.md with the run's figures in it.

A run (what run_all.py collects) is
    {"machine": machine.describe_machine(...), "quick": bool, "seconds": float, "only": [names] or [],
     "benchmarks": {name: {"command": str, "seconds": float, "returncode": int,
                           "result": the script's --json output, or None when it wrote none}}}
in the order the benchmarks ran. The template holds `$header`, `$summary` and one `$<name>` per benchmark of
run_all.BENCHMARKS; each becomes the benchmark's command, notes and figures table, or why there are none (a name
the run lacks: "Not run in this run").
"""
from __future__ import annotations

from pathlib import Path
from string import Template

from figures import figure_rows, met_mark

TEMPLATE = Path(__file__).with_name("doc_template.md")


class _Sections(dict):
    """Template values: `header`, `summary`, and each benchmark's section, "Not run" for any other name."""

    def __missing__(self, name: str) -> str:
        return section(None)


def header(run: dict) -> str:
    machine = run["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    gpus = ", ".join(machine["gpus"]) or "no GPU"
    lines = [f"Machine: {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB), {gpus}; "
             f"{machine['os']}, Python {machine['python']}; {versions}.",
             f"Measured {machine['date']} at commit {machine['commit']}; the whole run took "
             f"{run['seconds'] / 60:.1f} min."]
    if run["quick"]:
        lines.append("\n> **Quick run** (`run_all.py --quick`: smaller sizes, fewer repeats): a smoke test of the "
                     "benchmarks, not figures to quote.")
    if run["only"]:
        lines.append(f"\n> Only {', '.join(run['only'])} ran (`--only`); the other sections have no figures.")
    return "\n".join(lines)


def _outcome(entry: dict | None) -> str | None:
    """Why a benchmark has no figures (not run, failed, skipped), or None when it has some."""
    if entry is None:
        return "not run in this run"
    if entry["returncode"] != 0 or entry["result"] is None:
        return f"**failed** (exit code {entry['returncode']}; its output is in the run's log)"
    return None


def summary(run: dict) -> str:
    """One row per figure of every benchmark that ran (or one row saying why a benchmark has none)."""
    rows = ["| benchmark | figure | value | target | met |", "|---|---|---|---|---|"]
    for name, entry in run["benchmarks"].items():
        problem = _outcome(entry)
        if problem:
            rows.append(f"| {name} | | {problem} | | |")
            continue
        rows += [f"| {name} | {f['name']} | {f['shown']} | {f['target']} | {met_mark(f['met'])} |"
                 for f in entry["result"]["figures"]]
    return "\n".join(rows)


def section(entry: dict | None) -> str:
    """A benchmark's command, its notes and its figures table, or why there are none."""
    if entry is None:
        return "Not run in this run."
    lines = [f"Command: `{entry['command']}` ({entry['seconds']:.0f} s)."]
    problem = _outcome(entry)
    if problem:
        return "\n".join(lines + ["", f"Result: {problem}."])
    result = entry["result"]
    lines += [f"Run: {note}." for note in result["notes"]]
    if result["skipped"]:
        return "\n".join(lines + ["", f"Skipped: {result['skipped']}."])
    return "\n".join(lines + [""] + figure_rows(result["figures"]))


def render(run: dict, template: str | None = None) -> str:
    template = TEMPLATE.read_text() if template is None else template
    values = _Sections({name: section(entry) for name, entry in run["benchmarks"].items()})
    values.update(header=header(run), summary=summary(run))
    return Template(template).substitute(values)
