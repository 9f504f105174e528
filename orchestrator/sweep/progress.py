"""Live progress of a sweep on Ray and a summary table at its end.

One tqdm line: finished jobs over all jobs (bar, elapsed, ETA), the outcomes so far, how many are queued, then each
running job as `#<job> <percent of its steps>` (`-` before its first report), as many as the terminal's width holds
and `+N` for the rest:

  41%|████      | 33/80 [12:03<17:10, done=30 diverged=2 failed=1 queued=41 running 6: #33 12% #34 5% #35 - +3]

The job number is the summary table's `#`. Jobs report their start, and their cells their steps, to the sweep's
board actor (orchestrator/sweep/board.py), so "running" is what Ray actually runs, not a guess. A job's
outcome is its JobReturn: FAILED is `failed`; a COMPLETED job whose task returned one of the cell statuses
(done, diverged, skipped, planned) counts as that, any other return value as `done`.
"""
from __future__ import annotations

import shutil
import sys
from collections import Counter
from typing import Callable, Sequence

from hydra.core.utils import JobReturn, JobStatus

OUTCOMES = ("done", "diverged", "skipped", "planned", "interrupted", "failed")
BAR_FORMAT = "{percentage:3.0f}%|{bar:10}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
MIN_RUNNING_WIDTH = 16  # the running list keeps at least this much of a narrow terminal (tqdm trims the rest)

Snapshot = tuple[Sequence[int], dict[int, tuple[int, int]]]  # the board's: (started jobs, their (step, total))


def outcome_of(ret: JobReturn) -> str:
    if ret.status == JobStatus.FAILED:
        return "failed"
    value = ret._return_value
    return value if isinstance(value, str) and value in OUTCOMES else "done"


def running_text(running: Sequence[int], progress: dict[int, tuple[int, int]], width: int) -> str:
    """`running 5: #3 88% #12 37% #14 - +2`: the running jobs in job order with their share of their steps, as many
    as fit in `width` characters, then how many more there are."""
    entries = [f"#{index} {int(100 * progress[index][0] / progress[index][1])}%"
               if progress.get(index, (0, 0))[1] else f"#{index} -" for index in running]

    def text(shown: int) -> str:
        more = [f"+{len(entries) - shown}"] if shown < len(entries) else []
        return " ".join([f"running {len(entries)}" + (":" if entries else ""), *entries[:shown], *more])

    shown = len(entries)
    while shown and len(text(shown)) > width:
        shown -= 1
    return text(shown)


class SweepProgress:
    def __init__(self, labels: Sequence[str], *, enabled: bool = True) -> None:
        self.labels = list(labels)
        self.enabled = enabled

    def wait(self, pool, *, board, refused: dict[int, BaseException],
             on_error: Callable[[int, BaseException], JobReturn]) -> list[JobReturn]:
        """Collect every job's JobReturn in order from `pool` (orchestrator/sweep/pool.py: `poll` and `pending`);
        `refused` holds the jobs refused before submission, with why."""
        import ray
        from tqdm import tqdm

        returns: list[JobReturn | None] = [None] * len(self.labels)
        counts: Counter = Counter()
        bar = tqdm(total=len(returns), unit="job", file=sys.stderr, disable=not self.enabled, dynamic_ncols=True,
                   bar_format=BAR_FORMAT)
        for index, error in refused.items():
            returns[index] = on_error(index, error)
            counts["failed"] += 1
            bar.update(1)
        snapshot = ((), {})
        while pool.pending:
            for index, value, error in pool.poll(timeout=2.0):
                returns[index] = value if error is None else on_error(index, error)  # error: Ray gave up on it
                counts[outcome_of(returns[index])] += 1
                bar.update(1)
            try:
                snapshot = ray.get(board.snapshot.remote())
            except Exception:  # the board died: the bar goes on with what it last showed
                pass
            if self.enabled:
                self.show(bar, counts, returns, pool.pending, snapshot)
        bar.close()
        if self.enabled:
            print(summary_table(self.labels, returns), file=sys.stderr)
        return returns

    def show(self, bar, counts: Counter, returns: Sequence[JobReturn | None], pending: int,
             snapshot: Snapshot) -> None:
        """Set the bar's postfix: outcomes, queued jobs, and the running jobs' progress as the board has it."""
        started, progress = snapshot
        running = [index for index in started if returns[index] is None]
        queued = max(0, pending - len(running))
        outcomes = " ".join(f"{k}={counts[k]}" for k in OUTCOMES if counts[k])
        fixed = " ".join(part for part in (outcomes, f"queued={queued}" if queued else "") if part)
        width = shutil.get_terminal_size((100, 24)).columns
        used = len(bar.format_meter(**{**bar.format_dict, "postfix": fixed + " ", "ncols": None}))
        listing = running_text(running, progress, max(MIN_RUNNING_WIDTH, width - used - 1))
        bar.set_postfix_str(f"{fixed} {listing}".strip())


def summary_table(labels: Sequence[str], returns: Sequence[JobReturn]) -> str:
    rows = [(str(i), outcome_of(ret), label or "(no overrides)") for i, (label, ret) in enumerate(zip(labels, returns))]
    width = max(len(r[1]) for r in rows) if rows else 6
    lines = [f"{'#':>3}  {'status':<{width}}  overrides"]
    lines += [f"{i:>3}  {status:<{width}}  {label}" for i, status, label in rows]
    totals = Counter(r[1] for r in rows)
    lines.append("total: " + ", ".join(f"{totals[k]} {k}" for k in OUTCOMES if totals[k]))
    return "\n".join(lines)
