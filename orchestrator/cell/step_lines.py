"""A training cell's progress on stdout: a line per logged step, at most one every PRINT_EVERY_S seconds, plus the
phase's last step, so that a cell running for minutes says how far it is (Ray forwards each cell's lines in a
sweep). Rank 0 only; the numbers are those of the logged record (metrics.jsonl) and the wall clock:

    [orchestrator] micro-…-1a2b3c4d: step 1200/3270 (36.7 %), loss 2.4107, 23,512 tokens/s, ETA 1m 28s
"""
from __future__ import annotations

import time

PRINT_EVERY_S = 10.0


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")


class StepLines:
    def __init__(self, cell_id: str, clock=time.monotonic) -> None:
        self.cell_id, self.clock = cell_id, clock
        self.end_step = 0
        self.last_print = -float("inf")
        self.mark: tuple[float, int, int] | None = None  # (time, step, tokens) where the phase's rate is measured

    def start_phase(self, name: str, step: int, end_step: int, tokens: int) -> None:
        self.end_step, self.name = end_step, name
        self.mark = (self.clock(), step, tokens)

    def show(self, record: dict, loss_key: str) -> None:
        step, loss = record["step"], record.get(loss_key)
        now = self.clock()
        if loss is None or (now - self.last_print < PRINT_EVERY_S and step < self.end_step) or self.mark is None:
            return
        self.last_print = now
        started, first_step, first_tokens = self.mark
        elapsed = max(now - started, 1e-9)
        rate = (record["tokens"] - first_tokens) / elapsed
        eta = (self.end_step - step) * elapsed / max(step - first_step, 1)
        phase = "" if self.name == "pretrain" else f" {self.name}"
        print(f"[orchestrator] {self.cell_id}:{phase} step {step}/{self.end_step} ({100 * step / self.end_step:.1f} %), "
              f"loss {loss:.4f}, {rate:,.0f} tokens/s, ETA {_duration(eta)}", flush=True)
