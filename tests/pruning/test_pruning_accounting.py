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


# -- edges that mutation testing found unchecked (docs/testing.md) --------------------------------------------------
def test_a_fresh_accountant_saves_none_for_the_counts_it_has_not_seen():
    # the state_dict docstring: plain ints, and None before the first record
    assert ParamAccountant().state_dict() == {"steps_recorded": 0, "param_step_sum": 0, "initial_params": None,
                                              "current_params": None, "last_step": None}


def test_step_zero_and_zero_weights_are_valid_records():
    accountant = ParamAccountant()
    accountant.record(0, 0)  # the bounds are inclusive: step >= 0, n_nonzero >= 0
    assert (accountant.last_step, accountant.current_params, accountant.avg_params) == (0, 0, 0.0)


@pytest.mark.parametrize("step,n_nonzero,named", [
    (-1, 5, "step must be an integer >= 0, got -1"),
    (1.0, 5, "step must be an integer >= 0, got 1.0"),
    (True, 5, "step must be an integer >= 0, got True"),
    (0, 1.5, "n_nonzero must be an integer >= 0, got 1.5"),
    (0, True, "n_nonzero must be an integer >= 0, got True"),
])
def test_a_bad_record_is_refused_naming_the_argument(step, n_nonzero, named):
    with pytest.raises(ValueError, match=named):
        ParamAccountant().record(step, n_nonzero)


def test_a_loaded_state_answers_before_any_new_record():
    first = ParamAccountant()
    for step, n in [(0, 10), (1, 8), (2, 6)]:
        first.record(step, n)
    resumed = ParamAccountant()
    resumed.load_state_dict(round_trip(first.state_dict()))
    assert (resumed.initial_params, resumed.current_params, resumed.last_step) == (10, 6, 2)
    with pytest.raises(ValueError, match="step"):
        resumed.record(2, 6)  # step 2 was counted before the checkpoint
