"""The learning-rate schedule at chosen steps, worked out by hand: linear warmup, then cosine decay to min_lr at the
cell's last step, and min_lr after it.

A cell of T = 251 steps with warmup_fraction 0.2: warmup = round(50.2) = 50 steps (0..49), lr = peak·(step+1)/50.
The cosine runs over steps 50..250: progress = (step - 50)/(251 - 1 - 50) = (step - 50)/200, and
lr = min + (peak - min)·(1 + cos(π·progress))/2. With peak 1e-3 and min_lr_ratio 0.1, min = 1e-4, peak - min = 9e-4.
"""
import math

import pytest

from orchestrator.cell.lr_schedule import learning_rate

PEAK, MIN = 1e-3, 1e-4
EXACT = 1e-12  # a handful of float operations: agreement to ~1e-16 relative


def lr(step: int, total_steps: int = 251, warmup_fraction: float = 0.2) -> float:
    return learning_rate(step, total_steps=total_steps, peak_lr=PEAK, warmup_fraction=warmup_fraction,
                         min_lr_ratio=0.1)


@pytest.mark.parametrize("step, expected", [
    (0, 1e-3 / 50),  # the first warmup step already trains: (0 + 1)/50 of the peak, not 0
    (24, 1e-3 * 25 / 50),  # half way up: 5e-4
    (49, 1e-3),  # the last warmup step reaches the peak: 50/50
    (50, 1e-3),  # cosine at progress 0: (1 + cos 0)/2 = 1
    (100, 1e-4 + 9e-4 * (1 + math.sqrt(2) / 2) / 2),  # progress 1/4: cos(π/4) = √2/2 → 8.681981e-4
    (150, 1e-4 + 9e-4 * 0.5),  # progress 1/2, the cosine's midpoint: cos(π/2) = 0 → 5.5e-4
    (200, 1e-4 + 9e-4 * (1 - math.sqrt(2) / 2) / 2),  # progress 3/4: cos(3π/4) = -√2/2 → 2.318019e-4
    (250, 1e-4),  # the last step (T - 1): progress 1, cos π = -1 → min_lr
    (251, 1e-4),  # after the end (fine-tuning or a longer run) the progress is held at 1: min_lr
    (400, 1e-4),
])
def test_learning_rate_at_chosen_steps(step, expected):
    assert lr(step) == pytest.approx(expected, rel=EXACT)


def test_hand_values_in_decimals():
    # the same points as plain numbers, so a wrong formula in the expected values above cannot hide a wrong schedule
    assert lr(0) == pytest.approx(2e-5, rel=EXACT)
    assert lr(100) == pytest.approx(8.681981e-4, abs=5e-11)
    assert lr(150) == pytest.approx(5.5e-4, rel=EXACT)
    assert lr(200) == pytest.approx(2.318019e-4, abs=5e-11)


def test_the_warmup_length_rounds_to_the_nearest_step():
    # warmup_fraction 0.05 of 1000 steps = 50 steps: step 49 is the peak; of 1030 steps, 51.5 → 52 (not 51, as
    # truncating would give): step 50 is still warming up, at 51/52 of the peak.
    assert lr(49, total_steps=1000, warmup_fraction=0.05) == pytest.approx(PEAK, rel=EXACT)
    assert lr(50, total_steps=1030, warmup_fraction=0.05) == pytest.approx(PEAK * 51 / 52, rel=EXACT)


def test_without_warmup_the_first_step_is_the_peak_and_the_last_is_min_lr():
    # warmup 0: progress = step / (T - 1); T = 101: step 50 is the midpoint
    assert lr(0, total_steps=101, warmup_fraction=0.0) == pytest.approx(PEAK, rel=EXACT)
    assert lr(50, total_steps=101, warmup_fraction=0.0) == pytest.approx(5.5e-4, rel=EXACT)
    assert lr(100, total_steps=101, warmup_fraction=0.0) == pytest.approx(MIN, rel=EXACT)


def test_the_schedule_rises_then_falls():
    values = [lr(step) for step in range(260)]
    assert values[:50] == sorted(values[:50]) and values[49:251] == sorted(values[49:251], reverse=True)
    assert min(values[50:]) == pytest.approx(MIN, rel=EXACT) and max(values) == pytest.approx(PEAK, rel=EXACT)
