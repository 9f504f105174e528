"""The planner with a fixed cost q (budget.compute=total): a step costs q + (1 - q)·ρ(t) dense steps."""
import math

import pytest

from pruning.plan import Plan, plan_iso_compute
from pruning.static import plan_static

# plan_iso_compute(...).to_dict() as the linear-weights planner wrote them before fixed_cost existed
PINNED = [
    (dict(sparsity=0.8, dense_steps=1040, start=0.0, end=0.25, every=10),
     {'schedule': 'geometric', 'sparsity': 0.8, 'start': 0.0, 'end': 0.25, 'every': 10, 'dense_steps': 1040,
      't_start': 0, 't_end': 530, 'n_events': 54, 'total_steps': 4420, 'avg_density': 0.23539288711299666,
      'window_density': 0.4951633227159347, 'compute': 1040.4365610394452}),
    (dict(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100, schedule="cubic"),
     {'schedule': 'cubic', 'sparsity': 0.5, 'start': 0.25, 'end': 0.75, 'every': 100, 'dense_steps': 1000,
      't_start': 300, 't_end': 1000, 'n_events': 8, 'total_steps': 1500, 'avg_density': 0.6510416666666666,
      'window_density': 0.609375, 'compute': 976.5625}),
    (dict(sparsity=0.6, dense_steps=777, start=0.1, end=0.3, every=7, schedule="geometric"),
     {'schedule': 'geometric', 'sparsity': 0.6, 'start': 0.1, 'end': 0.3, 'every': 7, 'dense_steps': 777,
      't_start': 77, 't_end': 315, 'n_events': 35, 'total_steps': 1673, 'avg_density': 0.46368116735770154,
      'window_density': 0.6535234999556077, 'compute': 775.7385929894347}),
]


@pytest.mark.parametrize("args,expected", PINNED, ids=lambda a: str(a.get("schedule", "")))
def test_zero_fixed_cost_is_the_linear_plan_bit_for_bit(args, expected):
    assert plan_iso_compute(**args).to_dict() == expected
    assert plan_iso_compute(**args, fixed_cost=0.0).to_dict() == expected


def test_a_cubic_plan_with_fixed_cost_by_hand():
    # C = 100, s = 0.5, window [0.2, 0.44], f = 10, q = 0.5: a step costs 0.5 + 0.5·ρ.
    # t_start = 20; final cost 0.5 + 0.5·0.5 = 0.75; target = min(44, 100 - 10·0.75) - 20 = 24.
    # Cubic, n = 4: kept = [0.7109375, 0.5625, 0.5078125, 0.5] → costs [0.85546875, 0.78125, 0.75390625, 0.75];
    # W(4) = 10·(0.85546875 + 0.78125 + 0.75390625) = 23.90625 (W(3) ≈ 15.83, W(5) = 32.0): n = 4, t_end = 50.
    # left = 100 - 20 - 23.90625 = 56.09375; 56.09375 / 0.75 ≈ 74.8 → tail 70, T = 120.
    # compute = 20 + 23.90625 + 70·0.75 = 96.40625;
    # Σρ = 20 + 10·(0.7109375 + 0.5625 + 0.5078125) + 70·0.5 = 72.8125 → avg_density = 72.8125 / 120.
    plan = plan_iso_compute(sparsity=0.5, dense_steps=100, start=0.2, end=0.44, every=10, schedule="cubic",
                            fixed_cost=0.5)
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (20, 50, 4, 120)
    assert plan.compute == pytest.approx(96.40625, rel=1e-15)
    assert plan.avg_density == pytest.approx(72.8125 / 120, rel=1e-15)
    assert plan.window_density == pytest.approx(17.8125 / 30, rel=1e-15)
    # the linear plan of the same cell prunes longer (W(5) = 10·(0.756 + 0.608 + 0.532 + 0.504) = 24 = target)
    assert plan_iso_compute(sparsity=0.5, dense_steps=100, start=0.2, end=0.44, every=10,
                            schedule="cubic").n_events == 5


GRID = [
    dict(sparsity=s, dense_steps=c, start=a, end=b, every=f, schedule=sch, fixed_cost=q)
    for sch in ("geometric", "cubic", "one_shot")
    for s in (0.2, 0.8, 0.95)
    for c, f in ((1000, 10), (2400, 100), (777, 7))
    for a, b in ((0.25, 0.75), (0.0, 1.0), (0.5, 0.99))
    for q in (2 / 15, 0.5)
]


@pytest.mark.parametrize("args", GRID[::4], ids=lambda a: "-".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                                                     for v in a.values()))
def test_compute_under_the_fixed_cost_spends_the_budget(args):
    plan = plan_iso_compute(**args)
    q, every = args["fixed_cost"], args["every"]
    densities = [plan.density(t) for t in range(plan.total_steps)]
    assert plan.total_steps > plan.t_end and plan.total_steps % every == 0
    assert plan.compute == pytest.approx(math.fsum(q + (1 - q) * rho for rho in densities), rel=1e-12)
    assert abs(plan.compute - args["dense_steps"]) <= every
    assert plan.avg_density == pytest.approx(math.fsum(densities) / plan.total_steps, rel=1e-12)


@pytest.mark.parametrize("schedule", ["geometric", "cubic", "one_shot"])
def test_a_fixed_cost_buys_fewer_sparse_steps_and_leaves_dense_plans_alone(schedule):
    common = dict(sparsity=0.8, dense_steps=2000, start=0.25, end=0.75, every=10, schedule=schedule)
    linear, total = plan_iso_compute(**common), plan_iso_compute(**common, fixed_cost=2 / 15)
    assert total.total_steps < linear.total_steps
    assert total.avg_density > linear.avg_density  # fewer steps at the final density
    dense = dict(common, sparsity=0.0)
    assert plan_iso_compute(**dense, fixed_cost=2 / 15) == plan_iso_compute(**dense)


def test_static_plan_counts_the_fixed_cost():
    plan = plan_static(sparsity=0.5, dense_steps=100, masked_fraction=0.8, fixed_cost=0.25)
    # density 1 - 0.5·0.8 = 0.6; a step costs 0.25 + 0.75·0.6 = 0.7
    assert (plan.total_steps, plan.avg_density) == (100, pytest.approx(0.6))
    assert plan.compute == pytest.approx(70.0)
    assert plan_static(sparsity=0.5, dense_steps=100, masked_fraction=0.8).compute == pytest.approx(60.0)


@pytest.mark.parametrize("fixed_cost", [-0.1, 1.0, 1.5, True, "0.1"])
def test_bad_fixed_cost_is_named(fixed_cost):
    with pytest.raises(ValueError, match="fixed_cost"):
        plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100, fixed_cost=fixed_cost)
    with pytest.raises(ValueError, match="fixed_cost"):
        plan_static(sparsity=0.5, dense_steps=100, masked_fraction=0.8, fixed_cost=fixed_cost)


def test_plan_json_keeps_its_keys():
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100, fixed_cost=0.1)
    assert isinstance(plan, Plan) and set(plan.to_dict()) == set(PINNED[0][1])
