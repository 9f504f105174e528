"""Edges of the iso-compute planner (pruning/plan.py), of the sparsity schedules (pruning/schedules.py) and of
orchestrator-plan: the exact messages of every argument check (the user-facing contract: they name the argument,
its range and the value given), boundary values (sparsity 0, every 1, every = C, a start at 1, windows touching
0 and 1), ties and near-ties in closest_event_count, and how far the walk over n starts from its answer.

Every expected number is worked out by hand in the comments (or is a closed form written here), never taken from
the code under test.
"""
import itertools
import json
import math
import re

import pytest

import pruning.plan as plan_module
from orchestrator.study.plan_cli import main
from pruning.plan import Plan, closest_event_count, plan_iso_compute
from pruning.schedules import count_events, density_at_step, event_steps, kept_fraction, mean_window_density

EXACT = 1e-12


def plan(**kwargs) -> Plan:
    args = dict(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100, schedule="geometric")
    return plan_iso_compute(**(args | kwargs))


def raises(message: str):
    return pytest.raises(ValueError, match="^" + re.escape(message) + "$")


# ---------------------------------------------------------------------------------------------- argument checks

@pytest.mark.parametrize("sparsity", [1.0, 1.5, -0.1, 2.0, False, True, "0.5", None])
def test_a_sparsity_outside_0_1_or_not_a_number_is_refused(sparsity):
    # 1 (everything pruned) is refused here, by the planner's own message, not later by the schedules
    with raises(f"sparsity must be a number in [0, 1), got {sparsity!r}"):
        plan(sparsity=sparsity)


def test_sparsity_1_is_refused_even_without_pruning():
    # schedule "none" ignores the sparsity's value, not its check
    with raises("sparsity must be a number in [0, 1), got 1.0"):
        plan(sparsity=1.0, schedule="none")


@pytest.mark.parametrize("every", [0, -5, 2.0, 100.0, True, "100"])
def test_every_must_be_an_integer_at_least_1(every):
    with raises(f"every must be an integer >= 1, got {every!r}"):
        plan(every=every)


@pytest.mark.parametrize("dense_steps", [99, 0, 1000.0, "1000", None])
def test_dense_steps_must_be_an_integer_at_least_every(dense_steps):
    with raises(f"dense_steps must be an integer >= every (100), got {dense_steps!r}"):
        plan(dense_steps=dense_steps)


def test_dense_steps_true_is_not_the_integer_1():
    with raises("dense_steps must be an integer >= every (1), got True"):
        plan(dense_steps=True, every=1)


@pytest.mark.parametrize("name, value", [("start", -0.1), ("start", 1.5), ("start", False), ("start", True),
                                         ("start", "0.25"), ("end", 1.01), ("end", -0.5), ("end", True),
                                         ("end", False), ("end", "1")])
def test_start_and_end_must_be_numbers_in_0_1(name, value):
    with raises(f"{name} must be a number in [0, 1], got {value!r}"):
        plan(**{name: value})


@pytest.mark.parametrize("schedule", ["one_shot", "none"])
def test_start_after_end_is_refused_for_every_schedule(schedule):
    # the gradual schedules have their own (strict) check; one_shot and none reach the general one
    with raises("start must be <= end, got start=0.6, end=0.5"):
        plan(start=0.6, end=0.5, schedule=schedule)


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
def test_a_gradual_schedule_needs_a_window(schedule):
    with raises(f"start must be < end for the {schedule} schedule, got start=0.5, end=0.5"):
        plan(start=0.5, end=0.5, schedule=schedule)


# ----------------------------------------------------------------------------------------------- boundary plans

@pytest.mark.parametrize("schedule, sparsity", [("none", 0.9), ("geometric", 0.0), ("cubic", 0), ("one_shot", 0.0)])
def test_a_plan_without_pruning_is_dense_throughout(schedule, sparsity):
    # C = 1050, f = 100: T = 1050 rounded to a multiple of 100, halves up → 1100; t_start = t_end = T, no events
    p = plan(dense_steps=1050, schedule=schedule, sparsity=sparsity)
    assert (p.t_start, p.t_end, p.n_events, p.total_steps) == (1100, 1100, 0, 1100)
    assert (p.avg_density, p.window_density, p.compute) == (1.0, 1.0, 1100.0)
    assert not p.prunes
    assert [p.density(t) for t in (0, 550, 1099, 1100, 5000)] == [1.0] * 5


def test_every_1_is_a_valid_interval():
    # one_shot, s = 0.5, C = 10, start = end = 0.5, f = 1: t_start = 5 = t_end, one event; left = 10 - 5 = 5
    # buys 5 / 0.5 = 10 steps at density 0.5 → T = 15, compute = 5 + 10·0.5 = 10 = C, avg density 10 / 15
    p = plan(sparsity=0.5, dense_steps=10, start=0.5, end=0.5, every=1, schedule="one_shot")
    assert (p.t_start, p.t_end, p.n_events, p.total_steps) == (5, 5, 1, 15)
    assert p.compute == 10.0
    assert p.avg_density == pytest.approx(10 / 15, rel=EXACT)
    assert p.window_density == 1.0  # the window is empty
    assert [p.density(t) for t in (4, 5, 14)] == [1.0, 0.5, 0.5]
    # dense with f = 1: T = C exactly
    assert plan(sparsity=0.0, dense_steps=7, every=1).total_steps == 7


def test_every_equal_to_the_budget_is_a_valid_interval():
    # geometric, s = 0.5, C = f = 100, window [0, 1]: t_start = 0.
    # target = min(1·100, 100 - 100·0.5) - 0 = 50 (the cap that keeps room for one tail interval).
    # W(1) = 0, W(2) = 100·0.5^(1/2) = 70.7107, W(3) = 100·(0.5^(1/3) + 0.5^(2/3)) = 100·(0.7937 + 0.6300) = 142.37
    # → |W - 50| = 50, 20.71, 92.37 → n = 2, t_end = 100.
    # left = 100 - 70.7107 = 29.2893, / 0.5 = 58.58 → rounds to 100 (0.5858 intervals → 1) → tail 100, T = 200;
    # compute = 70.7107 + 100·0.5 = 120.7107 (|compute - C| = 20.7 <= f).
    p = plan(dense_steps=100, every=100, start=0.0, end=1.0)
    assert (p.t_start, p.t_end, p.n_events, p.total_steps) == (0, 100, 2, 200)
    window = 100 * math.sqrt(0.5)
    assert p.compute == pytest.approx(window + 50, rel=EXACT)
    assert p.compute == pytest.approx(120.7107, abs=5e-5)
    assert p.window_density == pytest.approx(math.sqrt(0.5), rel=EXACT)
    assert p.avg_density == pytest.approx((window + 50) / 200, rel=EXACT)
    # and dense: C = f = 100 is T = 100
    dense = plan(dense_steps=100, every=100, schedule="none")
    assert (dense.total_steps, dense.compute) == (100, 100.0)


def test_a_start_at_1_is_capped_at_the_last_whole_interval():
    # one_shot, s = 0.5, C = 1050, f = 100, start = end = 1: 1·1050 = 10.5 intervals rounds up to 1100 > C; the cap
    # ⌊1050/100⌋·100 = 1000 (an integer step) takes it. left = 1050 - 1000 = 50 → 50 / 0.5 = 100 → tail 100,
    # T = 1100, compute = 1000 + 100·0.5 = 1050.
    p = plan(dense_steps=1050, start=1.0, end=1.0, schedule="one_shot")
    assert (p.t_start, p.t_end, p.n_events, p.total_steps) == (1000, 1000, 1, 1100)
    assert all(isinstance(v, int) for v in (p.t_start, p.t_end, p.total_steps))
    assert p.compute == 1050.0
    assert p.avg_density == pytest.approx(1050 / 1100, rel=EXACT)


def test_a_window_from_0_to_1_keeps_one_tail_interval():
    # cubic, s = 0.5, C = 1000, f = 100, window [0, 1]: t_start = 0, target = min(1000, 1000 - 100·0.5) = 950.
    # W(n) = 100·[0.5(n-1) + 0.5·(n-1)²/(4n)]: W(15) = 100·(7 + 0.5·196/60) = 863.33,
    # W(16) = 100·(7.5 + 0.5·225/64) = 925.78, W(17) = 100·(8 + 0.5·256/68) = 988.24 → |W - 950| = 86.7, 24.2,
    # 38.2 → n = 16, t_end = 1500. left = 1000 - 925.78125 = 74.21875, / 0.5 = 148.4 → 1.48 intervals → tail 100,
    # T = 1600; compute = 925.78125 + 50 = 975.78125 (exact in binary).
    p = plan(start=0.0, end=1.0, schedule="cubic")
    assert (p.t_start, p.t_end, p.n_events, p.total_steps) == (0, 1500, 16, 1600)
    assert p.compute == pytest.approx(975.78125, rel=EXACT)
    assert p.density(0) == pytest.approx(1 - 0.5 * (1 - (15 / 16) ** 3), rel=EXACT)  # pruned from step 0


# ----------------------------------------------------------------------------------------- closest_event_count

@pytest.mark.parametrize("target", [0.0, -0.0, -3.0, -1e9])
def test_no_compute_to_spend_is_a_single_event(target):
    assert closest_event_count("geometric", 0.5, 100, target) == 1
    assert closest_event_count("cubic", 0.9, 1, target, fixed_cost=0.5) == 1
    # one_shot's only count is 1: with nothing to spend no window is evaluated (a walk would ask for W(2), which
    # one_shot does not have)
    assert closest_event_count("one_shot", 0.5, 100, target) == 1


def test_a_target_below_one_step_can_still_want_a_second_event():
    # geometric, s = 0.36, f = 1, target 1.0: W(1) = 0, W(2) = 0.64^(1/2) = 0.8,
    # W(3) = 0.64^(1/3) + 0.64^(2/3) = 0.8618 + 0.7427 = 1.6045 → |W - 1| = 1, 0.2, 0.6 → n = 2
    assert closest_event_count("geometric", 0.36, 1, 1.0) == 2
    # target 0.5: |W - 0.5| = 0.5, 0.3, 1.1 → n = 2 too; target 0.3: 0.3, 0.5 → n = 1
    assert closest_event_count("geometric", 0.36, 1, 0.5) == 2
    assert closest_event_count("geometric", 0.36, 1, 0.3) == 1


def test_a_tiny_target_with_high_sparsity_is_one_event():
    # geometric, s = 0.99, f = 1, target 0.01: W(2) = 0.01^(1/2) = 0.1 → |W - 0.01| = 0.01 (n = 1) vs 0.09 (n = 2)
    # → n = 1. (The continuous guess, (0.01 + 1 - 0.495) / (0.99 / ln 100) = 0.515 / 0.21498 = 2.4 → 2, starts above
    # the answer: the walk must come down to 1.)
    assert closest_event_count("geometric", 0.99, 1, 0.01) == 1
    # and the same at f = 100, target 1: W(2) = 10
    assert closest_event_count("geometric", 0.99, 100, 1.0) == 1


@pytest.mark.parametrize("schedule, sparsity, every, w2", [
    ("geometric", 0.75, 4, 2.0),  # W(2) = 4·0.25^(1/2) = 2 exactly
    ("cubic", 0.5, 1, 0.5625),  # W(2) = kept_0(2) = 1 - 0.5·(1 - (1/2)³) = 0.5625 exactly
    ("cubic", 0.5, 8, 4.5),  # 8·0.5625
])
def test_an_exact_tie_between_one_and_two_events_goes_to_one(schedule, sparsity, every, w2):
    # target = W(2)/2 exactly: |W(1) - target| = |W(2) - target| → "the smaller n on a tie" → 1; a hair either side
    # decides it. (The continuous guess starts at 2 here, e.g. geometric: (0.25 + 1 - 0.375)/(0.75/ln 4) = 1.6 → 2.)
    half = w2 / 2
    assert closest_event_count(schedule, sparsity, every, half) == 1
    assert closest_event_count(schedule, sparsity, every, math.nextafter(half, 0.0)) == 1
    assert closest_event_count(schedule, sparsity, every, math.nextafter(half, math.inf)) == 2


def test_a_near_tie_between_two_and_three_events():
    # cubic, s = 0.5, f = 4: W(2) = 4·0.5625 = 2.25; W(3) = 4·(kept_0(3) + kept_1(3)),
    # kept_0(3) = 0.5 + 0.5·(2/3)³ = 0.5 + 4/27, kept_1(3) = 0.5 + 0.5·(1/3)³ = 0.5 + 1/54
    # → W(3) = 4·(1 + 9/54) = 4 + 2/3 = 4.6667; midpoint (2.25 + 4.6667)/2 = 3.4583
    mid = (2.25 + 14 / 3) / 2
    assert closest_event_count("cubic", 0.5, 4, mid - 1e-9) == 2
    assert closest_event_count("cubic", 0.5, 4, mid + 1e-9) == 3


@pytest.mark.parametrize("fixed_cost", [0.0, 0.5])
def test_without_sparsity_ties_go_down_and_a_hair_above_a_tie_goes_up(fixed_cost):
    # s = 0: every step costs q + (1 - q)·1 = 1, so W(n) = f·(n - 1) exactly and |W(n) - target| is exact.
    # target 1.5·f: W(2) = f and W(3) = 2f are both 0.5·f away → the smaller, 2
    assert closest_event_count("geometric", 0.0, 1, 1.5, fixed_cost) == 2
    assert closest_event_count("cubic", 0.0, 100, 150.0, fixed_cost) == 2
    # target 2.5·f: a tie between 3 and 4 → 3 (the guess, round(3.5) = 4, starts above: the walk comes down)
    assert closest_event_count("geometric", 0.0, 1, 2.5, fixed_cost) == 3
    # one ulp above 1.5: W(3) is nearer (0.5 - 2^-52 against 0.5 + 2^-52) → 3. The guess (t/f + 1 = 2.5 + 2^-52
    # rounds to 2.5 in floats, and round(2.5) = 2) starts BELOW the answer here: the walk must go up.
    above = math.nextafter(1.5, math.inf)
    assert closest_event_count("geometric", 0.0, 1, above, fixed_cost) == 3
    assert closest_event_count("cubic", 0.0, 100, math.nextafter(150.0, math.inf), fixed_cost) == 3  # t/f = 1.5
    assert closest_event_count("geometric", 0.0, 1, math.nextafter(1.5, 0.0), fixed_cost) == 2


def _evaluated_counts(monkeypatch, *args) -> tuple[int, list[int]]:
    seen: list[int] = []
    real = plan_module.window_compute

    def counting(schedule, n_events, *rest, **kwargs):
        seen.append(n_events)
        return real(schedule, n_events, *rest, **kwargs)

    monkeypatch.setattr(plan_module, "window_compute", counting)
    return closest_event_count(*args), seen


CASES = list(itertools.product(("geometric", "cubic"), (0.01, 0.3, 0.75, 0.99), (0.0, 0.5, 0.9), (1, 100),
                               (0.4, 3.3, 57.5, 1234.5)))


@pytest.mark.parametrize("schedule, sparsity, fixed_cost, every, events", CASES)
def test_the_walk_starts_at_most_one_event_above_its_answer(monkeypatch, schedule, sparsity, fixed_cost, every,
                                                            events):
    # The guess n ≈ (target/f + (c(0) + c(1))/2) / c̄ inverts the trapezoid rule W(n)/f ≈ n·c̄ - (c(0) + c(1))/2.
    # Both schedules' densities are convex in the event's position, so the trapezoid rule overestimates their
    # integral: W(n) >= its estimate, the true n is never above the guess, and the guess is within one event of it
    # (in exact arithmetic: float rounding at a near-tie can start the walk one below, see the test above).
    # The walk then evaluates W at the guess, one above and at most two below: four counts, however large n is
    # (each W(n) costs n, so a guess far off is a walk of many O(n) sums).
    target = events * every
    answer, seen = _evaluated_counts(monkeypatch, schedule, sparsity, every, target, fixed_cost)
    guess = seen[0] - 1  # the walk first compares W(guess + 1) with W(guess)
    assert guess in (answer, answer + 1), (guess, answer)
    assert len(set(seen)) <= 4
    assert set(seen) <= set(range(max(1, answer - 1), answer + 3))


# --------------------------------------------------------------------------------------------------- schedules

def test_mean_window_density_limits_by_hand():
    # geometric: s / -ln(1 - s); s = 0.75: 0.75 / ln 4 = 0.75 / 1.3862944 = 0.5410106
    assert mean_window_density("geometric", 0.75) == pytest.approx(0.75 / math.log(4), rel=EXACT)
    assert mean_window_density("geometric", 0.75) == pytest.approx(0.5410106, abs=5e-8)
    # cubic: 1 - 3s/4; s = 0.8: 1 - 0.6 = 0.4; s = 0.5: 0.625
    assert mean_window_density("cubic", 0.8) == pytest.approx(0.4, rel=EXACT)
    assert mean_window_density("cubic", 0.5) == 0.625
    # one_shot: the single event's density 1 - s
    assert mean_window_density("one_shot", 0.5) == 0.5
    assert mean_window_density("one_shot", 0.9) == pytest.approx(0.1, rel=EXACT)


@pytest.mark.parametrize("schedule", ["geometric", "cubic", "one_shot"])
def test_mean_window_density_without_sparsity_is_1(schedule):
    # the geometric formula is 0/0 at s = 0; its limit (and every schedule's density) is 1
    assert mean_window_density(schedule, 0.0) == 1.0


def test_mean_window_density_checks_the_sparsity():
    with raises("sparsity must be in [0, 1), got 1.0"):
        mean_window_density("cubic", 1.0)


@pytest.mark.parametrize("t_start", [-10, -1, 2.0, "0"])
def test_t_start_must_be_a_non_negative_integer(t_start):
    with raises(f"t_start must be an integer >= 0, got {t_start!r}"):
        count_events(t_start, 20, 10)


@pytest.mark.parametrize("t_start, t_end, every", [(10, 5, 5), (10, 0, 10), (0, 20.0, 10), (0, 25, 10)])
def test_t_end_must_be_t_start_plus_whole_intervals(t_start, t_end, every):
    with raises(f"t_end must be an integer t_start + j·every (j >= 0) = {t_start} + j·{every}, got {t_end!r}"):
        event_steps(t_start, t_end, every)


def test_event_counts_at_the_window_edges():
    # an empty window is one event; t_start = 0 is allowed
    assert count_events(0, 0, 10) == 1 and event_steps(0, 0, 10) == [0]
    assert count_events(0, 30, 10) == 4 and event_steps(0, 30, 10) == [0, 10, 20, 30]


@pytest.mark.parametrize("event_index, n_events, shown", [(5, 5, 4), (-1, 5, 4), (1, 1, 0), (2, 2, 1)])
def test_an_event_index_out_of_range_names_the_range(event_index, n_events, shown):
    with raises(f"event_index must be an integer in [0, {shown}], got {event_index!r}"):
        kept_fraction("geometric", event_index, n_events, 0.5)


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
def test_density_at_the_window_edges(schedule):
    # s = 0.75, events at 0, 10, 20, 30 (n = 4): 1 before nothing (t_start = 0), kept_k on [10k, 10k + 10),
    # exactly 1 - s = 0.25 from t_end = 30 on; geometric kept_0 = 0.25^(1/4) = 0.7071, cubic 1 - 0.75·(1 - 0.75³)
    kw = dict(schedule=schedule, sparsity=0.75, t_start=0, t_end=30, every=10)
    first = 0.25 ** 0.25 if schedule == "geometric" else 1 - 0.75 * (1 - 0.75 ** 3)
    assert density_at_step(0, **kw) == pytest.approx(first, rel=EXACT)
    assert density_at_step(9, **kw) == density_at_step(0, **kw)
    assert [density_at_step(t, **kw) for t in (29, 30, 31, 10 ** 6)] == [
        density_at_step(20, **kw), 0.25, 0.25, 0.25]
    # sparsity 0: 1 everywhere
    assert {density_at_step(t, **(kw | {"sparsity": 0.0})) for t in (0, 15, 30, 99)} == {1.0}


# ------------------------------------------------------------------------------------------- orchestrator-plan

def test_the_cli_plans_a_dense_run_with_schedule_none(capsys):
    # --schedule none: T = C = 1000 (a multiple of 100), no events, whatever the sparsity
    assert main(["--sparsity", "0.5", "--dense-steps", "1000", "--schedule", "none"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = json.loads(captured.out)
    assert (out["schedule"], out["n_events"], out["total_steps"], out["t_start"], out["t_end"]) == (
        "none", 0, 1000, 1000, 1000)
    assert (out["avg_density"], out["window_density"], out["compute"]) == (1.0, 1.0, 1000.0)
