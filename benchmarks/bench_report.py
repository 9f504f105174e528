"""The report's wall time: `orchestrator-report` on the committed reproduction store, into a scratch folder.

Each repeat runs the CLI as its own process (imports included, as a user runs it) and reads its per-stage progress
lines (read, fit, findings, figures, report) from stderr; the figure is the median wall time, against the target
of issue 20 (a report read in five minutes is also written in seconds: <= 15 s for the ~140 cells of
docs/reproduction/store on the 2-core box). The load average before each repeat is noted: the box is shared.

    python benchmarks/bench_report.py --repeats 3
    python benchmarks/bench_report.py --bootstrap 10 --figures none     # a smoke run
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import BenchmarkResult, Figure, Target, add_json_option, publish

REPO = Path(__file__).resolve().parents[1]

STORE = REPO / "docs" / "reproduction" / "store"
STAGE = re.compile(r"^\[report\] (\w+): (.*) \(([\d.]+) s\)$")
TARGET_S = 15.0


def run_once(store: Path, bootstrap: int, figures: str) -> tuple[float, dict[str, float], str]:
    """(wall seconds, {stage: seconds}, the read stage's line) of one `orchestrator-report` process."""
    report = Path(sys.executable).parent / "orchestrator-report"
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        done = subprocess.run([str(report), str(store), "--out", scratch, "--bootstrap", str(bootstrap),
                               "--figures", figures], capture_output=True, text=True,
                              env=os.environ | {"MPLBACKEND": "Agg"})
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"orchestrator-report failed ({done.returncode}): {done.stderr[-2000:]}")
    stages, read = {}, ""
    for line in done.stderr.splitlines():
        match = STAGE.match(line)
        if match:
            stages[match[1]] = float(match[3])
            read = match[2] if match[1] == "read" else read
    return seconds, stages, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=STORE, help="the store to report (default: the reproduction's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=100, help="as orchestrator-report --bootstrap")
    parser.add_argument("--figures", default="all", help="as orchestrator-report --figures")
    add_json_option(parser)
    args = parser.parse_args()

    runs, loads = [], []
    for _ in range(args.repeats):
        loads.append(os.getloadavg()[0])
        runs.append(run_once(args.store, args.bootstrap, args.figures))
    seconds = statistics.median(run[0] for run in runs)
    stages = {name: statistics.median(run[1].get(name, 0.0) for run in runs) for name in runs[0][1]}
    detail = ", ".join(f"{name} {value:.1f} s" for name, value in stages.items())
    full = args.bootstrap == 100 and args.figures == "all"
    result = BenchmarkResult("report", [
        Figure("orchestrator-report wall time (median)", seconds, f"{seconds:.1f} s", detail,
               Target("<=", TARGET_S, f"<= {TARGET_S:g} s") if full else None),
    ], notes=[f"store: {args.store.relative_to(REPO) if args.store.is_relative_to(REPO) else args.store} "
              f"({runs[0][2]}); --bootstrap {args.bootstrap} --figures {args.figures}; {args.repeats} repeats",
              "load average (1 min) before each repeat: " + ", ".join(f"{load:.2f}" for load in loads)])
    publish(result, args.json)


if __name__ == "__main__":
    main()
