"""Parameter accounting: N_avg = (1/T) Σ_t N_t from the real masks, exact across a resume."""
import io

import pytest
import torch
import torch.nn as nn

from pruning.accounting import ParamAccountant
from pruning.magnitude import GlobalMagnitudePruner, prunable_weights
from pruning.plan import plan_iso_compute


def round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_counts_initial_current_final_and_average():
    accountant = ParamAccountant()
    for step, n in enumerate([100, 100, 80, 60, 60]):
        accountant.record(step, n)
    assert accountant.steps_recorded == 5
    assert accountant.initial_params == 100
    assert accountant.current_params == accountant.final_params == 60
    assert accountant.avg_params == 400 / 5


def test_resume_is_bit_identical():
    counts = [1_000_003, 999_999, 777_777, 555_555, 333_331, 333_331, 333_331]
    uninterrupted = ParamAccountant()
    for step, n in enumerate(counts):
        uninterrupted.record(step, n)
    first = ParamAccountant()
    for step, n in enumerate(counts[:3]):
        first.record(step, n)
    resumed = ParamAccountant()
    resumed.load_state_dict(round_trip(first.state_dict()))
    for step, n in enumerate(counts[3:], start=3):
        resumed.record(step, n)
    assert resumed.state_dict() == uninterrupted.state_dict()
    assert resumed.avg_params == uninterrupted.avg_params  # exactly, not approximately


def test_a_step_is_never_counted_twice_and_empty_counts_are_undefined():
    accountant = ParamAccountant()
    with pytest.raises(RuntimeError, match="avg_params"):
        accountant.avg_params
    accountant.record(3, 10)
    with pytest.raises(ValueError, match="step"):
        accountant.record(3, 10)
    with pytest.raises(ValueError, match="n_nonzero"):
        accountant.record(4, -1)


def test_average_from_real_masks_matches_the_plan():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    plan = plan_iso_compute(sparsity=0.75, dense_steps=200, start=0.25, end=0.75, every=10)
    pruner = GlobalMagnitudePruner(prunable_weights(model), schedule=plan.schedule, sparsity=plan.sparsity,
                                   t_start=plan.t_start, t_end=plan.t_end, every=plan.every)
    accountant = ParamAccountant()
    for step in range(plan.total_steps):
        pruner.update(step)
        accountant.record(step, pruner.n_nonzero())
    assert accountant.initial_params == pruner.n_total
    assert accountant.final_params == round(0.25 * pruner.n_total)
    # the plan's N_avg and the measured one differ only by rounding the kept count to whole weights
    assert accountant.avg_params == pytest.approx(plan.avg_density * pruner.n_total, abs=0.5)
