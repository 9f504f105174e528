"""Run every benchmark, print a summary of its figures against their targets, and rewrite docs/benchmarks.md.

Each benchmark runs as its own process (`.venv/bin/python benchmarks/bench_X.py ARGS --json PATH`), one after the
other, so that no benchmark's imports, threads or memory touch another's; its figures come back through the JSON.
A benchmark that fails is recorded as failed and the others still run; the exit status is then 1. A missed target
is a result, not a failure.

    .venv/bin/python benchmarks/run_all.py           # real figures → docs/benchmarks.md (what `make bench` runs)
    .venv/bin/python benchmarks/run_all.py --quick   # smaller sizes, one repeat: a smoke run → a scratch file
    .venv/bin/python benchmarks/run_all.py --only step --only memory --out /tmp/bench.md

Only a full run of every benchmark writes docs/benchmarks.md by default; `--quick` and `--only` write to a scratch
file unless `--out` says otherwise, so a smoke run never replaces the real figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from machine import describe_machine
from render_doc import render, summary

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    full: tuple[str, ...] = ()  # arguments of the real run
    quick: tuple[str, ...] = ()  # arguments of the smoke run


BENCHMARKS = (
    Benchmark("step", "bench_step.py", ("--repeats", "5"), ("--repeats", "1", "--short", "20", "--long", "60")),
    Benchmark("threshold", "bench_threshold.py", ("--params", "1_000_000_000"), ("--params", "50_000_000")),
    Benchmark("memory", "bench_memory.py", ("--dense-steps", "60"), ("--dense-steps", "20")),
    Benchmark("sweep", "bench_sweep.py", ("--trivial", "200", "--gang", "8"),
              ("--override", "budget.tokens_per_param=0.25,0.5", "--trivial", "4", "--gang", "2")),
    Benchmark("pool_memory", "bench_pool_memory.py", (), ("--cells", "3", "--steps", "10")),
    Benchmark("sharing", "bench_sharing.py", (), ("--tokens-per-param", "5", "--sparsities", "0.8")),
    Benchmark("sparse_matmul", "bench_sparse_matmul.py", ("--repeats", "5"), ("--repeats", "1", "--presets", "micro")),
    Benchmark("worker_group", "bench_worker_group.py", ("--repeats", "3"), ("--repeats", "1")),
    Benchmark("data", "bench_data.py", (), ("--shard-tokens", "2_000_000", "--repeats", "1")),
    Benchmark("gpu", "bench_gpu.py", (), ("--dense-steps", "40", "--bare-steps", "40")),
    Benchmark("threads", "bench_threads.py", (), ("--steps", "3", "--repeats", "1")),
    Benchmark("report", "bench_report.py", ("--repeats", "3"), ("--repeats", "1", "--bootstrap", "10",
                                                                "--figures", "none")),
)


def shown_python() -> str:
    """The interpreter as a reader would type it: relative to the repository when it lives there (.venv)."""
    python = Path(sys.executable)
    return str(python.relative_to(REPO)) if python.is_relative_to(REPO) else str(python)


def run_benchmark(benchmark: Benchmark, quick: bool) -> dict:
    """Run one benchmark script in its own process; its command, wall time, exit status and figures."""
    command = [f"benchmarks/{benchmark.script}", *(benchmark.quick if quick else benchmark.full)]
    shown = shlex.join([shown_python(), *command])
    print(f"\n=== {benchmark.name}: {shown}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.json"
        started = time.perf_counter()
        process = subprocess.run([sys.executable, *command, "--json", str(figures)], cwd=REPO,
                                 env=os.environ | {"RAY_USAGE_STATS_ENABLED": "0"})
        seconds = time.perf_counter() - started
        result = json.loads(figures.read_text()) if figures.exists() else None
    return {"command": shown, "seconds": seconds, "returncode": process.returncode, "result": result}


def default_out(quick: bool, only: list[str]) -> Path:
    if not quick and not only:
        return DOC
    return Path(tempfile.gettempdir()) / f"benchmarks-{'quick' if quick else 'partial'}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and one repeat: a smoke run")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", action="append", default=[], choices=names, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(names)}")
    parser.add_argument("--out", type=Path, help="where to write the doc (default: docs/benchmarks.md for a full "
                                                 "run, a scratch file for --quick or --only)")
    args = parser.parse_args()

    started = time.perf_counter()
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    results = {b.name: run_benchmark(b, args.quick) for b in selected}
    run = {"machine": describe_machine(REPO), "quick": args.quick, "only": args.only,
           "seconds": time.perf_counter() - started, "benchmarks": results}
    out = args.out or default_out(args.quick, args.only)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(run))
    print(f"\n{summary(run)}\n\nwrote {out} ({run['seconds'] / 60:.1f} min)")
    failed = [name for name, entry in results.items() if entry["returncode"] != 0 or entry["result"] is None]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
