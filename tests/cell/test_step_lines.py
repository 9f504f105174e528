"""A cell's progress lines: step/total, loss, tokens/s and ETA from the logged record and the clock, at most one
every PRINT_EVERY_S seconds plus the last step; and a real cell prints them."""
from __future__ import annotations

import orchestrator.cell.step_lines as step_lines
from orchestrator.cell.step_lines import StepLines


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_carry_progress_rate_and_eta_and_are_throttled(capsys):
    clock = Clock()
    lines = StepLines("cell-x", clock=clock)
    lines.start_phase("pretrain", 0, 1000, 0)
    clock.now += 20.0  # 200 steps of 2048 tokens in 20 s: 20,480 tokens/s, 800 steps left at 0.1 s each
    lines.show({"step": 200, "tokens": 409_600, "loss": 2.5}, "loss")
    clock.now += 1.0  # within PRINT_EVERY_S of the last line: skipped
    lines.show({"step": 210, "tokens": 430_080, "loss": 2.4}, "loss")
    clock.now += 1.0
    lines.show({"step": 1000, "tokens": 2_048_000, "loss": 2.0}, "loss")  # the last step is always shown
    out = capsys.readouterr().out.splitlines()
    assert out == ["[orchestrator] cell-x: step 200/1000 (20.0 %), loss 2.5000, 20,480 tokens/s, ETA 1m 20s",
                   "[orchestrator] cell-x: step 1000/1000 (100.0 %), loss 2.0000, 93,091 tokens/s, ETA 0s"]  # 2,048,000 in 22 s


def test_a_record_without_a_loss_prints_nothing(capsys):
    lines = StepLines("cell-x", clock=Clock())
    lines.start_phase("finetune", 100, 200, 0)
    lines.show({"step": 200, "tokens": 1, "val_loss": 2.0}, "finetune_loss")
    assert capsys.readouterr().out == ""


def test_a_cell_prints_its_progress(tiny, capsys, monkeypatch):
    from conftest import build

    from orchestrator.cell.run import run_cell

    monkeypatch.setattr(step_lines, "PRINT_EVERY_S", 0.0)
    config, resolved = build(tiny + ["pruning=none"])
    outcome = run_cell(config, resolved)
    lines = [line for line in capsys.readouterr().out.splitlines() if "tokens/s, ETA" in line]
    assert lines and lines[-1].startswith(f"[orchestrator] {outcome.result['cell_id']}: step {outcome.result['steps']}/")
