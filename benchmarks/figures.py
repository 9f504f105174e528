"""A benchmark's figures: each a value measured side by side, how the doc shows it, and the target it is held to.

Every benchmark script prints its figures as a table and, with `--json PATH`, writes them for `run_all.py`:
    {"benchmark": "step", "figures": [{"name", "value", "shown", "detail", "target", "met"}, ...],
     "notes": [...], "skipped": null | "why"}
`value` is what the target compares (a ratio, a fraction, seconds, or a bool); `shown` is how the doc writes it;
`detail` holds the side-by-side measurements behind it; `met` is true/false, or null with no target or no value.
"""
from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from pathlib import Path

COMPARISONS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Target:
    """`value <op> bound`, written for people as `shown` (e.g. Target("<=", 0.05, "<= 5 %"))."""

    op: str
    bound: float | bool
    shown: str

    def __post_init__(self) -> None:
        if self.op not in COMPARISONS:
            raise ValueError(f"Target.op must be one of {sorted(COMPARISONS)}, got {self.op!r}")

    def met(self, value: float | bool) -> bool:
        return bool(COMPARISONS[self.op](value, self.bound))


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | bool | None  # None: not measured (skipped, or the measurement failed)
    shown: str
    detail: str = ""
    target: Target | None = None

    def to_dict(self) -> dict:
        met = None if self.target is None or self.value is None else self.target.met(self.value)
        return {"name": self.name, "value": self.value, "shown": self.shown, "detail": self.detail,
                "target": self.target.shown if self.target else "", "met": met}


@dataclass
class BenchmarkResult:
    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts of this run the reader needs (sizes, threads, ...)
    skipped: str | None = None

    def to_dict(self) -> dict:
        return {"benchmark": self.benchmark, "figures": [f.to_dict() for f in self.figures], "notes": self.notes,
                "skipped": self.skipped}


def met_mark(met: bool | None) -> str:
    return {True: "yes", False: "**missed**", None: ""}[met]


def figure_rows(figures: list[dict]) -> list[str]:
    """Markdown rows `| figure | value | measured side by side | target | met |` for figure dicts."""
    rows = ["| figure | value | measured side by side | target | met |", "|---|---|---|---|---|"]
    rows += [f"| {f['name']} | {f['shown']} | {f['detail']} | {f['target']} | {met_mark(f['met'])} |"
             for f in figures]
    return rows


def publish(result: BenchmarkResult, json_path: str | None) -> None:
    """Print the figures (and notes) as a table; write them to `json_path` when given."""
    data = result.to_dict()
    for note in result.notes:
        print(note)
    if result.skipped:
        print(f"skipped: {result.skipped}")
    print("\n".join(figure_rows(data["figures"])), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(data, indent=1) + "\n")


def add_json_option(parser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON (what run_all.py reads)")
