"""Learning-rate schedules as pure functions of the step. Stateless, so a resumed run needs nothing but the step.

cosine (the paper's): linear warmup over `warmup_fraction` of the cell's T steps, then cosine decay to
`min_lr_ratio` × peak at the cell's last step (T - 1), held there after it.

wsd (warmup–stable–decay; Hu et al. 2024, MiniCPM): linear warmup over W steps, the peak held constant, then a
linear decay over the cell's last K = max(1, round(decay_fraction · T)) steps, from step D = T - K on:

    lr(t) = peak · min( (t + 1) / W,  1,  1 - (1 - r) · (t - D + 1) / K )     (the last term only for t >= D)

so step D is the first below the peak and step T - 1 is at r × peak (r = min_lr_ratio); after T it stays there.
W does not depend on T (it is given in steps, or as a fraction of the dense budget C), and the learning rate before
D does not either: cells of different lengths train the same weights until their own decay begins, which is what
trunk sharing relies on. `total_steps=None` is a schedule that never decays (a shared dense trunk).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def learning_rate(step: int, *, total_steps: int, peak_lr: float, warmup_fraction: float,
                  min_lr_ratio: float) -> float:
    """The cosine schedule (see the module docstring)."""
    warmup_steps = round(warmup_fraction * total_steps)
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps)
    min_lr = min_lr_ratio * peak_lr
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def wsd_decay_start(total_steps: int, decay_fraction: float) -> int:
    """D = T - max(1, round(decay_fraction · T)): the first step of the WSD decay."""
    return total_steps - max(1, round(decay_fraction * total_steps))


def wsd_learning_rate(step: int, *, total_steps: int | None, peak_lr: float, warmup_steps: int,
                      decay_fraction: float, min_lr_ratio: float) -> float:
    """The warmup–stable–decay schedule (see the module docstring); `total_steps=None`: no decay."""
    factor = 1.0 if step >= warmup_steps else (step + 1) / warmup_steps
    if total_steps is not None:
        decay_start = wsd_decay_start(total_steps, decay_fraction)
        if step >= decay_start:
            progress = min(1.0, (step - decay_start + 1) / (total_steps - decay_start))
            factor = min(factor, 1.0 - (1.0 - min_lr_ratio) * progress)
    return peak_lr * factor


@dataclass(frozen=True)
class CosineSchedule:
    total_steps: int
    peak_lr: float
    warmup_fraction: float
    min_lr_ratio: float

    def __call__(self, step: int) -> float:
        return learning_rate(step, total_steps=self.total_steps, peak_lr=self.peak_lr,
                             warmup_fraction=self.warmup_fraction, min_lr_ratio=self.min_lr_ratio)


@dataclass(frozen=True)
class WSDSchedule:
    total_steps: int | None  # None: never decays (a shared trunk)
    peak_lr: float
    warmup_steps: int
    decay_fraction: float
    min_lr_ratio: float

    def __call__(self, step: int) -> float:
        return wsd_learning_rate(step, total_steps=self.total_steps, peak_lr=self.peak_lr,
                                 warmup_steps=self.warmup_steps, decay_fraction=self.decay_fraction,
                                 min_lr_ratio=self.min_lr_ratio)

    @property
    def decay_start(self) -> int | None:
        return None if self.total_steps is None else wsd_decay_start(self.total_steps, self.decay_fraction)
