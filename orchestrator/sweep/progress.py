"""Live progress of a sweep on Ray (a tqdm bar: done / running / failed / diverged, ETA) and a summary table.

Jobs report their start to a tiny board actor, so "running" is what Ray actually runs, not a guess. A job's
outcome is its JobReturn: FAILED is `failed`; a COMPLETED job whose task returned one of the cell statuses
(done, diverged, skipped, planned) counts as that, any other return value as `done`.
"""
from __future__ import annotations

import sys
from collections import Counter
from typing import Callable, Sequence

from hydra.core.utils import JobReturn, JobStatus

OUTCOMES = ("done", "diverged", "skipped", "planned", "interrupted", "failed")


def outcome_of(ret: JobReturn) -> str:
    if ret.status == JobStatus.FAILED:
        return "failed"
    value = ret._return_value
    return value if isinstance(value, str) and value in OUTCOMES else "done"


class SweepProgress:
    def __init__(self, labels: Sequence[str], *, enabled: bool = True) -> None:
        self.labels = list(labels)
        self.enabled = enabled

    def wait(self, refs: list, *, board, refused: dict[int, BaseException],
             on_error: Callable[[int, BaseException], JobReturn]) -> list[JobReturn]:
        """Collect every job's JobReturn in order; `refs[i]` is None for a job refused before submission."""
        import ray
        from tqdm import tqdm

        index_of = {ref: i for i, ref in enumerate(refs) if ref is not None}
        returns: list[JobReturn | None] = [None] * len(refs)
        counts: Counter = Counter()
        bar = tqdm(total=len(refs), unit="job", file=sys.stderr, disable=not self.enabled, dynamic_ncols=True)
        for index, error in refused.items():
            returns[index] = on_error(index, error)
            counts["failed"] += 1
            bar.update(1)
        pending = list(index_of)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=2.0)
            for ref in ready:
                index = index_of[ref]
                try:
                    returns[index] = ray.get(ref)
                except Exception as error:  # the job's process or node died more often than max_retries
                    returns[index] = on_error(index, error)
                counts[outcome_of(returns[index])] += 1
                bar.update(1)
            running = ray.get(board.count.remote()) - (len(index_of) - len(pending))
            bar.set_postfix_str(" ".join(f"{k}={counts[k]}" for k in OUTCOMES if counts[k])
                                + f" running={max(0, running)} queued={len(pending) - max(0, running)}")
        bar.close()
        if self.enabled:
            print(summary_table(self.labels, returns), file=sys.stderr)
        return returns


def summary_table(labels: Sequence[str], returns: Sequence[JobReturn]) -> str:
    rows = [(str(i), outcome_of(ret), label or "(no overrides)") for i, (label, ret) in enumerate(zip(labels, returns))]
    width = max(len(r[1]) for r in rows) if rows else 6
    lines = [f"{'#':>3}  {'status':<{width}}  overrides"]
    lines += [f"{i:>3}  {status:<{width}}  {label}" for i, status, label in rows]
    totals = Counter(r[1] for r in rows)
    lines.append("total: " + ", ".join(f"{totals[k]} {k}" for k in OUTCOMES if totals[k]))
    return "\n".join(lines)
