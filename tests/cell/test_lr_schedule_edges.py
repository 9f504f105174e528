"""Edges of the learning-rate schedules (orchestrator/cell/lr_schedule.py): the shortest cosine decays and a wsd
decay of a single step. Expected values are worked out by hand in the comments."""
import pytest

from orchestrator.cell.lr_schedule import WSDSchedule, learning_rate, wsd_decay_start, wsd_learning_rate

EXACT = 1e-12


def test_a_one_step_cosine_decay_ends_at_min_lr():
    # T = 2, no warmup: the decay runs over T - 1 - W = 1 step; step 0 is the peak (progress 0), step 1 = T - 1
    # is min_lr (progress 1/1, cos π = -1): 0.1 × 1.0
    kw = dict(total_steps=2, peak_lr=1.0, warmup_fraction=0.0, min_lr_ratio=0.1)
    assert learning_rate(0, **kw) == 1.0
    assert learning_rate(1, **kw) == pytest.approx(0.1, rel=EXACT)
    assert learning_rate(2, **kw) == pytest.approx(0.1, rel=EXACT)  # held after T


def test_a_cosine_warmup_leaving_one_decay_step():
    # T = 3, warmup_fraction 1/3 → W = round(1.0) = 1: step 0 = peak·1/1; step 1 = progress 0/max(1, 3-1-1) =
    # 0 → the peak; step 2 = T - 1 → progress 1 → min_lr = 0.2 × 2.0 = 0.4
    kw = dict(total_steps=3, peak_lr=2.0, warmup_fraction=1 / 3, min_lr_ratio=0.2)
    assert [learning_rate(t, **kw) for t in (0, 1)] == [2.0, 2.0]
    assert learning_rate(2, **kw) == pytest.approx(0.4, rel=EXACT)


@pytest.mark.parametrize("total_steps, decay_fraction, start", [
    (10, 0.1, 9),  # K = round(1.0) = 1 → D = 9
    (10, 0.0, 9),  # K = max(1, 0) = 1: the last step still decays
    (10, 0.04, 9),  # K = max(1, round(0.4) = 0) = 1
    (10, 0.2, 8),  # K = 2
    (1, 0.1, 0),  # K = max(1, round(0.1)) = 1 → D = 0
])
def test_the_decay_is_at_least_one_step(total_steps, decay_fraction, start):
    assert wsd_decay_start(total_steps, decay_fraction) == start
    assert WSDSchedule(total_steps, 1.0, 0, decay_fraction, 0.1).decay_start == start


def test_a_one_step_wsd_decay():
    # T = 10, decay_fraction 0.1 → K = 1, D = 9: steps 0..8 at the peak (no warmup), step 9 at r × peak =
    # 1 - (1 - 0.1)·(9 - 9 + 1)/1 = 0.1
    kw = dict(total_steps=10, peak_lr=1.0, warmup_steps=0, decay_fraction=0.1, min_lr_ratio=0.1)
    assert [wsd_learning_rate(t, **kw) for t in range(9)] == [1.0] * 9
    assert wsd_learning_rate(9, **kw) == pytest.approx(0.1, rel=EXACT)
    assert wsd_learning_rate(50, **kw) == pytest.approx(0.1, rel=EXACT)
