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


def test_the_schedule_objects_the_cell_uses_pass_every_field_through():
    # the cell asks CosineSchedule / WSDSchedule (frozen dataclasses) for each step's rate; each field must reach
    # the function: T = 11, W = round(0.2·11) = 2 → step 0 = (0+1)/2 of 3.0; step 10 = T - 1 = min_lr = 0.25 × 3.0
    from orchestrator.cell.lr_schedule import CosineSchedule

    cosine = CosineSchedule(total_steps=11, peak_lr=3.0, warmup_fraction=0.2, min_lr_ratio=0.25)
    assert [cosine(step) for step in range(12)] == [
        learning_rate(step, total_steps=11, peak_lr=3.0, warmup_fraction=0.2, min_lr_ratio=0.25) for step in range(12)]
    assert cosine(0) == 1.5 and cosine(1) == 3.0 and cosine(10) == pytest.approx(0.75, rel=EXACT)
    # wsd: T = 20, W = 4 (step 1 = (1+1)/4 · 2.0), decay over the last round(0.25 · 20) = 5 steps from D = 15, to
    # 0.5 × 2.0 at step 19; a trunk (T None) holds the peak for good
    wsd = WSDSchedule(total_steps=20, peak_lr=2.0, warmup_steps=4, decay_fraction=0.25, min_lr_ratio=0.5)
    assert [wsd(step) for step in range(21)] == [
        wsd_learning_rate(step, total_steps=20, peak_lr=2.0, warmup_steps=4, decay_fraction=0.25, min_lr_ratio=0.5)
        for step in range(21)]
    assert (wsd(1), wsd(14), wsd(19)) == (pytest.approx(1.0, rel=EXACT), 2.0, pytest.approx(1.0, rel=EXACT))
    trunk = WSDSchedule(total_steps=None, peak_lr=2.0, warmup_steps=4, decay_fraction=0.25, min_lr_ratio=0.5)
    assert trunk(10_000) == 2.0 and trunk.decay_start is None
