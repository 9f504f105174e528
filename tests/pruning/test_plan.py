"""The iso-compute planner: start/end are fractions of compute, and a sparse run spends the dense budget."""
import math
import time

import pytest

from pruning.plan import Plan, avg_params, closest_event_count, plan_iso_compute, window_compute

GRID = [
    dict(sparsity=s, dense_steps=c, start=a, end=b, every=f, schedule=sch)
    for sch in ("geometric", "cubic")
    for s in (0.1, 0.5, 0.75, 0.9, 0.98)
    for c, f in ((1000, 10), (2400, 100), (777, 7), (120, 40))
    for a, b in ((0.25, 0.75), (0.0, 1.0), (0.1, 0.3), (0.5, 0.99))
]


def brute_force_compute(plan: Plan, steps: range) -> float:
    return math.fsum(plan.density(t) for t in steps)


@pytest.mark.parametrize("args", GRID[::3], ids=lambda a: "-".join(str(v) for v in a.values()))
def test_plan_spends_the_dense_budget(args):
    plan = plan_iso_compute(**args)
    every, budget, s = args["every"], args["dense_steps"], args["sparsity"]
    assert plan.t_start % every == 0 and plan.t_end % every == 0 and plan.total_steps % every == 0
    assert plan.n_events == (plan.t_end - plan.t_start) // every + 1
    assert plan.total_steps > plan.t_end  # the last event's mask trains (and final sparsity is reached)
    assert abs(plan.compute - budget) <= every
    assert 1.0 - s <= plan.avg_density <= 1.0
    # compute, avg_density and window_density are the exact discrete sums of the schedule's densities
    assert plan.compute == pytest.approx(brute_force_compute(plan, range(plan.total_steps)), rel=1e-12)
    assert plan.avg_density == pytest.approx(plan.compute / plan.total_steps, rel=1e-12)
    if plan.t_end > plan.t_start:
        window = brute_force_compute(plan, range(plan.t_start, plan.t_end))
        assert plan.window_density == pytest.approx(window / (plan.t_end - plan.t_start), rel=1e-12)


def test_paper_window_consumes_half_the_compute():
    for sparsity in (0.2, 0.5, 0.8, 0.95):
        for schedule in ("geometric", "cubic"):
            plan = plan_iso_compute(sparsity=sparsity, dense_steps=10_000, start=0.25, end=0.75, every=100,
                                    schedule=schedule)
            assert plan.t_start == 2500  # 0.25·10000 is 25 whole intervals: nothing to round
            window = window_compute(schedule, plan.n_events, sparsity, 100)
            # n minimises |W(n) - 5000| and one more event adds at most f = 100 of compute: half an event
            assert abs(window - 5000) <= 50
            assert abs(plan.t_start + window - 7500) <= 50  # pruning ends at compute fraction b = 0.75


def test_geometric_window_matches_the_continuous_formula():
    # t_end ≈ t_start + (b - a)·C / ρ̄ with ρ̄ = s / -ln(1 - s), up to the discreteness of events: the right Riemann
    # sum W(n) ≈ f·(n·ρ̄ - (2 - s)/2) puts t_end = t_start + (n - 1)·f at f·((2 - s)/(2ρ̄) - 1) ≈ 16 steps after the
    # formula, and whole events move it by up to f/2 = 50 either side: 16 + 50 < 70
    plan = plan_iso_compute(sparsity=0.75, dense_steps=100_000, start=0.25, end=0.75, every=100)
    rho = 0.75 / -math.log(0.25)
    assert plan.t_end == pytest.approx(25_000 + 50_000 / rho, abs=70)


def test_more_sparsity_buys_more_steps():
    totals = [plan_iso_compute(sparsity=s, dense_steps=5000, start=0.25, end=0.75, every=50).total_steps
              for s in (0.0, 0.25, 0.5, 0.75, 0.9)]
    assert totals == sorted(totals) and len(set(totals)) == len(totals)


def test_no_pruning_trains_the_dense_budget():
    for schedule in ("geometric", "none"):
        plan = plan_iso_compute(sparsity=0.0, dense_steps=1000, start=0.25, end=0.75, every=100, schedule=schedule)
        assert (plan.total_steps, plan.t_start, plan.t_end, plan.n_events) == (1000, 1000, 1000, 0)
        assert plan.avg_density == 1.0 and plan.compute == 1000.0
    assert plan_iso_compute(sparsity=0.0, dense_steps=1060, start=0.2, end=0.7, every=100).total_steps == 1100


def test_one_shot_prunes_once_at_start_and_ignores_end():
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.5, end=0.9, every=100, schedule="one_shot")
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (500, 500, 1, 1500)
    assert plan.avg_density == 1000 / 1500  # Σρ = 500 + 1000·0.5 over T = 1500: exact in floating point
    same = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.5, end=0.5, every=100, schedule="one_shot")
    assert same.total_steps == plan.total_steps


def test_window_reaching_the_end_of_the_budget_still_trains_the_last_mask():
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.0, end=1.0, every=100)
    assert plan.total_steps - plan.t_end >= 100
    assert abs(plan.compute - 1000) <= 100


def test_closest_event_count_is_the_minimiser():
    for schedule in ("geometric", "cubic"):
        for target in (0.0, 35.0, 199.0, 1234.5):
            n = closest_event_count(schedule, 0.8, 10, target)
            errors = [abs(window_compute(schedule, m, 0.8, 10) - target) for m in range(1, 400)]
            assert errors[n - 1] == min(errors)


def test_avg_params_and_to_dict():
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100)
    assert avg_params(plan, 1000) == pytest.approx(plan.avg_density * 1000)
    as_dict = plan.to_dict()
    for key in ("t_start", "t_end", "total_steps", "avg_density", "sparsity", "start", "end", "dense_steps"):
        assert as_dict[key] == getattr(plan, key)


def test_large_budgets_plan_fast():
    began = time.perf_counter()
    plan = plan_iso_compute(sparsity=0.9, dense_steps=1_000_000, start=0.25, end=0.75, every=10)
    assert time.perf_counter() - began < 1.0
    assert abs(plan.compute - 1_000_000) <= 10


@pytest.mark.parametrize(
    "override, name",
    [
        (dict(sparsity=1.0), "sparsity"), (dict(sparsity=-0.1), "sparsity"),
        (dict(dense_steps=50), "dense_steps"), (dict(every=0), "every"),
        (dict(start=-0.1), "start"), (dict(end=1.5), "end"),
        (dict(start=0.5, end=0.5), "start"), (dict(schedule="linear"), "schedule"),
    ],
)
def test_bad_arguments_are_named(override, name):
    args = dict(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100) | override
    with pytest.raises(ValueError, match=name):
        plan_iso_compute(**args)
