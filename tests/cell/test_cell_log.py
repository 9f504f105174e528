"""cell.log: every rank's output, kept in the cell's folder across runs, with the traceback of a failed cell."""
from __future__ import annotations

import sys

import pytest
from conftest import build

import orchestrator.cell.step_lines as step_lines
from orchestrator.cell.cell_log import LOG_NAME, cell_log
from orchestrator.cell.run import run_cell


def test_the_tee_keeps_the_console_and_prefixes_each_line(tmp_path, capsys):
    with cell_log(tmp_path, rank=1):
        print("hello")
        print("partial", end="")
        print("warning", file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.out == "hello\npartial\n" and captured.err == "warning\n"
    lines = (tmp_path / LOG_NAME).read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["[rank 1] hello", "[rank 1] warning", "[rank 1] partial"]


def test_a_cell_logs_its_progress_and_a_failed_cell_its_traceback(tiny, monkeypatch):
    monkeypatch.setattr(step_lines, "PRINT_EVERY_S", 0.0)
    config, resolved = build(tiny + ["pruning=none"])
    outcome = run_cell(config, resolved)
    log = (outcome.paths.root / LOG_NAME).read_text()
    assert f"[rank 0] [orchestrator] {outcome.result['cell_id']}: step {outcome.result['steps']}/" in log

    broken, resolved = build(tiny + ["pruning=none", "seed=1"])
    checkpoints = outcome.paths.root.parent / run_cell(broken, resolved, stop_after_step=0).paths.root.name
    (checkpoints / "checkpoints").mkdir(exist_ok=True)
    (checkpoints / "checkpoints" / "latest").write_text("step000000012")  # a checkpoint that is not there
    with pytest.raises(Exception):
        run_cell(broken, resolved)
    log = (checkpoints / LOG_NAME).read_text()
    assert "[cell] failed:" in log and "Traceback (most recent call last)" in log
