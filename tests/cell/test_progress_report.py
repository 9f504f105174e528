"""A cell's progress reports to a live display (a sweep's bar): throttled, the last step always, never failing the
cell; through shared memory from a spawned rank 0; and a real cell's reports, step by step to its last."""
from __future__ import annotations

import orchestrator.cell.progress_report as progress_report
from orchestrator.cell.progress_report import ProgressReporter, SharedProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reports_are_throttled_but_the_last_step_always_passes():
    clock, seen = Clock(), []
    report = ProgressReporter(lambda step, total: seen.append((step, total)), every_s=1.0, clock=clock)
    report(0, 50)
    clock.now += 0.5
    report(10, 50)  # within a second of the last report: dropped
    clock.now += 0.6
    report(20, 50)
    clock.now += 0.1
    report(50, 50)  # the last step
    assert seen == [(0, 50), (20, 50), (50, 50)]


def test_a_sink_that_raises_is_dropped_with_one_line_and_nothing_raises(capsys):
    calls = []

    def gone(step: int, total: int) -> None:
        calls.append(step)
        raise ConnectionError("board is gone")

    report = ProgressReporter(gone, every_s=0.0)
    report(1, 10)
    report(2, 10)
    assert calls == [1]
    assert capsys.readouterr().err == "[orchestrator] progress reports stopped: ConnectionError: board is gone\n"
    ProgressReporter(None)(1, 10)  # no sink (a cell outside a sweep): nothing to do


def test_shared_progress_relays_each_new_report_once():
    shared, seen = SharedProgress(), []
    shared.relay(lambda step, total: seen.append((step, total)))  # nothing written yet
    shared(3, 24)
    shared.relay(lambda step, total: seen.append((step, total)))
    shared.relay(lambda step, total: seen.append((step, total)))
    shared(24, 24)
    shared.relay(lambda step, total: seen.append((step, total)))
    assert seen == [(3, 24), (24, 24)]
    assert shared.read() == (24, 24)


def test_a_cell_reports_its_steps_to_the_sink_it_is_given(tiny, monkeypatch):
    from conftest import build

    from orchestrator.cell.run import run_cell

    monkeypatch.setattr(progress_report, "REPORT_EVERY_S", 0.0)
    seen = []
    outcome = run_cell(*build(tiny + ["pruning=none", "finetune.steps=4"]), report=lambda s, t: seen.append((s, t)))
    total = outcome.result["steps"] + 4  # pre-training, then fine-tuning: one total for the whole cell
    assert outcome.status == "done" and seen[0] == (0, total) and seen[-1] == (total, total)
    steps = [step for step, _ in seen]
    assert steps == sorted(steps) and len(set(steps)) == total + 1 and {t for _, t in seen} == {total}
