"""docs/benchmarks.md is rendered from a run's figures: every figure, value and target lands in it, and a benchmark
that was skipped, failed or not run says so. Fake figures only; no benchmark runs here and no time is asserted."""
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS_DIR))

from figures import BenchmarkResult, Figure, Target  # noqa: E402
from render_doc import TEMPLATE, render  # noqa: E402
from run_all import BENCHMARKS  # noqa: E402

MACHINE = {"cpu": "Test CPU 9000", "cores": 2, "memory_gib": 23.5, "gpus": [], "os": "Linux 6", "python": "3.11.7",
           "versions": {"torch": "2.13.0+cpu", "deepspeed": "0.19.8"}, "commit": "abc1234", "date": "2026-11-23"}


def _entry(result: BenchmarkResult | None, returncode: int = 0) -> dict:
    return {"command": ".venv/bin/python benchmarks/bench_x.py --repeats 5", "seconds": 12.0,
            "returncode": returncode, "result": result.to_dict() if result else None}


def _run(**benchmarks: dict) -> dict:
    return {"machine": MACHINE, "quick": False, "only": [], "seconds": 600.0, "benchmarks": benchmarks}


def test_target_says_whether_a_value_meets_it():
    assert Target("<=", 1.05, "<= 1.05").met(1.03) and not Target("<=", 1.05, "<= 1.05").met(1.06)
    assert Target(">=", 0.5, ">= 50 %").met(0.5) and Target("==", True, "identical").met(True)
    with pytest.raises(ValueError, match="Target.op"):
        Target("<", 1.0, "< 1")
    assert Figure("no target", 3.0, "3").to_dict()["met"] is None
    assert Figure("not measured", None, "skipped", target=Target("<=", 1.0, "<= 1")).to_dict()["met"] is None


def test_every_figure_and_target_lands_in_the_doc():
    step = BenchmarkResult("step", [
        Figure("marginal step ratio", 1.031, "1.031", "71.3 ms vs 69.2 ms", Target("<=", 1.05, "<= 1.05")),
        Figure("prune event ratio", 1.7, "1.700", "1.7 ms vs 1.0 ms", Target("<=", 1.0, "<= 1.0")),
    ], notes=["threads 2, batch 32"])
    memory = BenchmarkResult("memory", [Figure("peak RSS ratio", 1.08, "1.08", "480 MiB vs 446 MiB")])
    doc = render(_run(step=_entry(step), memory=_entry(memory)))
    for figure in step.figures + memory.figures:
        assert figure.name in doc and figure.shown in doc and figure.detail in doc
    assert "<= 1.05 | yes |" in doc and "<= 1.0 | **missed** |" in doc
    assert "Command: `.venv/bin/python benchmarks/bench_x.py --repeats 5`" in doc and "threads 2, batch 32" in doc
    assert "Test CPU 9000 (2 cores, 23.5 GiB), no GPU" in doc and "torch 2.13.0+cpu" in doc and "abc1234" in doc
    assert "Quick run" not in doc
    assert "The cell's marginal step cost is the difference" in doc  # the methodology prose is kept


def test_skipped_failed_and_missing_benchmarks_say_so():
    gpu = BenchmarkResult("gpu", [Figure("MFU", None, "skipped", target=Target(">=", 0.5, ">= 50 %"))],
                          skipped="no GPU on this machine")
    run = _run(gpu=_entry(gpu), sweep=_entry(None, returncode=1)) | {"quick": True, "only": ["gpu", "sweep"]}
    doc = render(run)
    assert "Skipped: no GPU on this machine." in doc
    assert "**failed** (exit code 1" in doc
    assert "Not run in this run." in doc  # e.g. the step section
    assert "Quick run" in doc and "Only gpu, sweep ran" in doc


def test_the_template_has_a_section_for_every_benchmark():
    template = TEMPLATE.read_text()
    for benchmark in BENCHMARKS:
        assert f"${benchmark.name}\n" in template, benchmark.name
        assert (BENCHMARKS_DIR / benchmark.script).exists()


def test_a_step_ratio_from_a_non_positive_marginal_is_not_a_result():
    from bench_step import step_overhead_figure

    assert step_overhead_figure("step", 0.071, 0.069).to_dict()["met"] is True
    noisy = step_overhead_figure("step", -0.1, 0.069).to_dict()
    assert noisy["value"] is None and noisy["met"] is None and noisy["shown"] == "not measurable"
