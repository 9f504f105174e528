"""The sweep's live bar shows each running cell's progress, as its cells report it to the board, in one line that fits
the terminal; and a job finds its board (or none) from its environment. No Ray cluster: the board is the actor's own
class used as a plain object, and the driver's loop runs over scripted `ray.wait`/`ray.get`."""
from __future__ import annotations

import io
import os
from collections import Counter

from hydra.core.utils import JobReturn, JobStatus

from orchestrator.sweep.board import BOARD_ENV, JOB_INDEX_ENV, ProgressBoard, board_reporter, job_environment
from orchestrator.sweep.progress import BAR_FORMAT, SweepProgress, running_text


def done(status: str = "done") -> JobReturn:
    ret = JobReturn(status=JobStatus.COMPLETED)
    ret.return_value = status
    return ret


def test_running_cells_are_listed_with_their_share_of_steps_as_many_as_fit():
    progress = {3: (88, 100), 12: (37, 100), 20: (1, 3)}
    assert running_text([3, 12, 14, 20], progress, width=80) == "running 4: #3 88% #12 37% #14 - #20 33%"
    assert running_text([3, 12, 14, 20], progress, width=28) == "running 4: #3 88% #12 37% +2"
    assert running_text([3, 12], progress, width=5) == "running 2: +2"
    assert running_text([], progress, width=80) == "running 0"


def test_the_board_keeps_started_jobs_and_their_last_report_and_a_retried_job_starts_over():
    board = ProgressBoard()
    board.started(4)
    board.started(1)
    board.report(4, 10, 40)
    board.report(4, 20, 40)
    assert board.snapshot() == ([1, 4], {4: (20, 40)})
    board.started(4)  # Ray retries the job: no progress until it reports again
    assert board.snapshot() == ([1, 4], {})


class ScriptedPool:
    """The job pool's `poll`/`pending` (orchestrator/sweep/pool.py) over a script: each poll runs the next step (cells
    starting and reporting to the board) and returns the jobs that step finishes; `get` resolves the board's
    snapshot ref, as ray.get does."""

    def __init__(self, board: ProgressBoard, script: list, results: dict) -> None:
        self.board, self.script, self.results = board, list(script), results
        self.unfinished = set(results)

    @property
    def pending(self) -> int:
        return len(self.unfinished)

    def poll(self, timeout):
        act, finished = self.script.pop(0)
        act(self.board)
        ended = [(index, self.results[index], None) for index in sorted(self.unfinished & finished)]
        self.unfinished -= finished
        return ended

    def get(self, ref):
        assert ref == "snapshot"
        return self.board.snapshot()


class FakeHandle:
    """The board as the driver holds it: `handle.snapshot.remote()` is a ref that ScriptedRay.get resolves."""

    class snapshot:  # noqa: N801 (an actor method's name)
        @staticmethod
        def remote() -> str:
            return "snapshot"


def test_the_bar_shows_each_running_cell_then_the_summary(monkeypatch, capsys):
    import ray

    monkeypatch.setenv("COLUMNS", "120")
    board = ProgressBoard()

    def start_two(b):
        b.started(0), b.started(1), b.report(0, 12, 24)

    def progress(b):
        b.report(1, 30, 60)

    script = [(start_two, set()), (progress, {0}), (lambda b: b.started(2), {1}), (lambda b: None, {2})]
    pool = ScriptedPool(board, script, {0: done(), 1: done("diverged"), 2: done()})
    monkeypatch.setattr(ray, "get", pool.get)
    lines, show = [], SweepProgress.show

    def recording(self, bar, *args):  # the bar's postfix after each refresh
        show(self, bar, *args)
        lines.append(bar.postfix)

    monkeypatch.setattr(SweepProgress, "show", recording)
    sweep = SweepProgress(["a=1", "a=2", "a=3", "a=4"])
    returns = sweep.wait(pool, board=FakeHandle(), refused={3: RuntimeError("too big")},
                         on_error=lambda index, error: JobReturn(status=JobStatus.FAILED))
    assert [r.status for r in returns] == [JobStatus.COMPLETED] * 3 + [JobStatus.FAILED]
    assert lines == ["failed=1 queued=1 running 2: #0 50% #1 -",
                     "done=1 failed=1 queued=1 running 1: #1 50%",
                     "done=1 diverged=1 failed=1 running 1: #2 -",
                     "done=2 diverged=1 failed=1 running 0"]
    assert "total: 2 done, 1 diverged, 1 failed" in capsys.readouterr().err


def test_eighty_cells_with_eight_running_fit_the_terminal_width(monkeypatch):
    from tqdm import tqdm

    board = ProgressBoard()
    for index in range(20, 28):
        board.started(index)
        board.report(index, index, 100)
    returns = [done()] * 20 + [None] * 60
    bar = tqdm(total=80, initial=20, file=io.StringIO(), bar_format=BAR_FORMAT)
    for columns, tail in [(80, "running 8: #20 20% +7]"),
                          (132, "running 8: " + " ".join(f"#{i} {i}%" for i in range(20, 28)) + "]")]:
        monkeypatch.setenv("COLUMNS", str(columns))
        SweepProgress([""] * 80).show(bar, Counter(done=20), returns, 60, board.snapshot())
        line = bar.format_meter(**bar.format_dict)
        assert len(line) <= columns and line.endswith(", done=20 queued=52 " + tail), line


def test_a_job_finds_its_board_only_inside_a_ray_sweep(monkeypatch):
    monkeypatch.setenv(BOARD_ENV, "")  # both variables come back as they were after the test
    monkeypatch.setenv(JOB_INDEX_ENV, "")
    assert board_reporter() is None  # a cell run on its own, or by Hydra's basic launcher
    job_environment("sweep-progress-x", 7)
    assert (os.environ[BOARD_ENV], os.environ[JOB_INDEX_ENV]) == ("sweep-progress-x", "7")
    assert board_reporter() is None  # named, but this process is no Ray worker: nothing to report to
    job_environment(None, 8)
    assert BOARD_ENV not in os.environ
