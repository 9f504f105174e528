"""The paper's learning-rate schedule as a pure function of the step: linear warmup, then cosine decay to
`min_lr_ratio` × peak at the cell's last step. Stateless, so a resumed run needs nothing but the step."""
from __future__ import annotations

import math


def learning_rate(step: int, *, total_steps: int, peak_lr: float, warmup_fraction: float,
                  min_lr_ratio: float) -> float:
    warmup_steps = round(warmup_fraction * total_steps)
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
    min_lr = min_lr_ratio * peak_lr
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
