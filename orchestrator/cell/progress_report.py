"""A cell's progress for a live display outside it (a sweep's progress bar): rank 0 hands (step, total) to a sink at
its logged steps, at most once every REPORT_EVERY_S seconds, and always its last step. `total` is the cell's last
step (fine-tuning included), so step / total only grows.

The sink is whatever the caller of `run_cell` gives (the Ray launcher's progress board in a sweep; none for a cell
run on its own). Reporting is best effort: a sink that raises is dropped with one line on stderr and the cell goes
on. A spawned rank 0 is another process than the caller's, so it writes into `SharedProgress` (two integers in shared
memory, which never block) and the process that spawned the group relays them to the sink.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from typing import Callable

REPORT_EVERY_S = 1.0

ProgressSink = Callable[[int, int], None]  # (step, total)


class ProgressReporter:
    """A sink, throttled to one call every `every_s` seconds (the last step always passes), that never raises."""

    def __init__(self, sink: ProgressSink | None, every_s: float | None = None, clock=time.monotonic) -> None:
        self.sink, self.clock = sink, clock
        self.every_s = REPORT_EVERY_S if every_s is None else every_s
        self.last = -float("inf")

    def __call__(self, step: int, total: int) -> None:
        now = self.clock()
        if self.sink is None or (now - self.last < self.every_s and step < total):
            return
        self.last = now
        try:
            self.sink(step, total)
        except Exception as error:  # the display is gone (a dead board, a closed pipe): the cell goes on without it
            self.sink = None
            print(f"[orchestrator] progress reports stopped: {type(error).__name__}: {error}", file=sys.stderr,
                  flush=True)


class SharedProgress:
    """(step, total) in shared memory: a spawned rank 0 writes it, the process that spawned the group reads it.
    Picklable at spawn time (it travels in the workers' arguments)."""

    def __init__(self) -> None:
        self.values = multiprocessing.get_context("spawn").RawArray("q", 2)
        self.relayed = (0, 0)

    def __call__(self, step: int, total: int) -> None:
        self.values[1], self.values[0] = total, step

    def read(self) -> tuple[int, int]:
        """The last (step, total) written; total is 0 before the first report."""
        return self.values[0], self.values[1]

    def relay(self, sink: ProgressSink) -> None:
        """Hand the last (step, total) written to `sink`, if there is one it has not had yet."""
        values = self.read()
        if values[1] and values != self.relayed:
            self.relayed = values
            sink(*values)
