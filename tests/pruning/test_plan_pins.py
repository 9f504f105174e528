"""The iso-compute planner pinned to plans worked out by hand: t_start, t_end, events, T, compute, and where
pruning ends as a fraction of compute. Every expected number comes from the arithmetic in the comments, or from a
closed form written here (a geometric series, a sum of cubes), never from the planner or the schedule code.

A plan (pruning/plan.py): t_start = a·C rounded to the NEAREST multiple of f (halves up); n minimises
|W(n) - (b·C - t_start)|, W(n) = f·Σ_{j=1}^{n-1} kept_j; t_end = t_start + (n-1)·f; the compute left,
C - t_start - W(n), buys tail = round(left / (1 - s)) steps (a multiple of f); T = t_end + tail;
compute = t_start + W(n) + tail·(1 - s).
"""
import math

import pytest

from pruning.plan import plan_iso_compute

EXACT = 1e-12  # compute and densities are sums of at most a few thousand floats: they agree to ~1e-15 relative


def geometric_window(n: int, s: float, every: int) -> float:
    """W(n) for kept_j = (1 - s)^(j/n): f·Σ_{j=1}^{n-1} x^j = f·x(1 - x^(n-1))/(1 - x), x = (1 - s)^(1/n)."""
    x = (1.0 - s) ** (1.0 / n)
    return every * x * (1.0 - x ** (n - 1)) / (1.0 - x)


def cubic_window(n: int, s: float, every: int) -> float:
    """W(n) for kept_j = 1 - s + s·((n - j)/n)³: f·[(n-1)(1-s) + s·Σ_{i=1}^{n-1} i³/n³] with Σ i³ = (n-1)²n²/4."""
    return every * ((n - 1) * (1.0 - s) + s * (n - 1) ** 2 / (4 * n))


def pruning_end_fraction(plan) -> float:
    """(t_start + W(n)) / C counted step by step from the plan's densities: the compute spent before t_end."""
    return math.fsum(plan.density(t) for t in range(plan.t_end)) / plan.dense_steps


def test_the_default_geometric_plan_by_hand():
    # s = 0.5, C = 1000, window 0.25–0.75, f = 100 (the default config's plan).
    # t_start: 0.25·1000 = 250 = 2.5 intervals → rounds half up to 3 → 300 (rounding down would give 200).
    # target = min(0.75·1000, 1000 - 100·0.5) - 300 = 450 (the rounding of t_start taken out).
    # W(7) = 100·Σ_{j=1..6} 0.5^(j/7)
    #      = 100·(0.905724 + 0.820335 + 0.742997 + 0.672950 + 0.609507 + 0.552045) = 430.3558;
    # W(6) = 100·Σ_{j=1..5} 0.5^(j/6) = 358.29 and W(8) = 100·Σ_{j=1..7} 0.5^(j/8) = 502.44: |W - 450| is
    # 91.7, 19.6, 52.4 → n = 7, t_end = 300 + 6·100 = 900.
    # left = 1000 - 300 - 430.3558 = 269.6442; / 0.5 = 539.29 → 5.39 intervals → tail 500, T = 1400.
    # compute = 300 + 430.3558 + 500·0.5 = 980.3558; Σρ = the same (q = 0), so avg_density = 980.3558 / 1400.
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100)
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (300, 900, 7, 1400)
    window = 100 * math.fsum(0.5 ** (j / 7) for j in range(1, 7))
    assert window == pytest.approx(430.3558, abs=5e-5)  # the hand value above, to its 4 decimals
    assert plan.compute == pytest.approx(300 + window + 250, rel=EXACT)
    assert plan.compute == pytest.approx(980.3558, abs=5e-5)
    assert plan.avg_density == pytest.approx(980.3558 / 1400, abs=5e-5 / 1400)
    assert plan.window_density == pytest.approx(window / 600, rel=EXACT)
    # pruning ends at compute fraction (t_start + W(n)) / C = 730.3558 / 1000 (0.80 if the target ignored the
    # rounding of t_start: target 500 → n = 8, (300 + 502.44) / 1000)
    assert (plan.t_start + window) / 1000 == pytest.approx(0.7303558, abs=5e-8)
    assert pruning_end_fraction(plan) == pytest.approx(0.7303558, abs=5e-8)


def test_the_default_cubic_plan_by_hand():
    # s = 0.5, C = 1000, window 0.25–0.75, f = 100, cubic: t_start 300, target 450 as above.
    # kept_j = 0.5 + 0.5·((n - j)/n)³, so W(n) = 100·[0.5(n-1) + 0.5·Σ_{i=1}^{n-1} i³/n³]:
    # W(7) = 100·(3 + 0.5·441/343) = 364.29; W(8) = 100·(3.5 + 0.5·784/512) = 426.5625;
    # W(9) = 100·(4 + 0.5·1296/729) = 488.89 → |W - 450| = 85.7, 23.4, 38.9 → n = 8, t_end = 1000.
    # left = 1000 - 300 - 426.5625 = 273.4375; / 0.5 = 546.875 → tail 500, T = 1500.
    # compute = 300 + 426.5625 + 250 = 976.5625 (exact in binary); avg_density = 976.5625 / 1500.
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100, schedule="cubic")
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (300, 1000, 8, 1500)
    assert cubic_window(8, 0.5, 100) == 426.5625
    assert plan.compute == 976.5625
    assert plan.avg_density == pytest.approx(976.5625 / 1500, rel=EXACT)
    assert plan.window_density == pytest.approx(426.5625 / 700, rel=EXACT)
    assert pruning_end_fraction(plan) == pytest.approx(0.7265625, rel=EXACT)


def test_a_geometric_plan_whose_start_rounds_up_by_hand():
    # s = 0.9, C = 1000, window 0.27–0.6, f = 40.
    # t_start: 0.27·1000 = 270 = 6.75 intervals → 7 → 280 (rounding down: 240).
    # target = min(600, 1000 - 40·0.1) - 280 = 320.
    # W(n) = 40·x(1 - x^(n-1))/(1 - x), x = 0.1^(1/n): W(21) = 306.66, W(22) = 322.28, W(23) = 337.90
    # → |W - 320| = 13.3, 2.3, 17.9 → n = 22, t_end = 280 + 21·40 = 1120.
    # left = 1000 - 280 - 322.2752 = 397.7248; / 0.1 = 3977.25 → 99.43 intervals → tail 3960, T = 5080.
    # compute = 280 + 322.2752 + 3960·0.1 = 998.2752.
    plan = plan_iso_compute(sparsity=0.9, dense_steps=1000, start=0.27, end=0.6, every=40)
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (280, 1120, 22, 5080)
    window = geometric_window(22, 0.9, 40)
    assert [round(geometric_window(n, 0.9, 40), 2) for n in (21, 22, 23)] == [306.66, 322.28, 337.90]
    assert plan.compute == pytest.approx(280 + window + 396, rel=EXACT)
    assert plan.compute == pytest.approx(998.2752, abs=5e-5)
    assert plan.avg_density == pytest.approx((280 + window + 396) / 5080, rel=EXACT)
    assert pruning_end_fraction(plan) == pytest.approx(0.6022752, abs=5e-8)


def test_a_cubic_plan_by_hand():
    # s = 0.75, C = 1200, window 0.1–0.5, f = 25.
    # t_start: 0.1·1200 = 120 = 4.8 intervals → 5 → 125 (rounding down: 100).
    # target = min(600, 1200 - 25·0.25) - 125 = 475.
    # W(n) = 25·[0.25(n-1) + 0.75(n-1)²/(4n)]: W(44) = 465.73, W(45) = 25·(11 + 0.75·1936/180) = 476.6667,
    # W(46) = 487.60 → |W - 475| = 9.3, 1.7, 12.6 → n = 45, t_end = 125 + 44·25 = 1225.
    # left = 1200 - 125 - 476.6667 = 598.3333; / 0.25 = 2393.33 → 95.73 intervals → tail 2400, T = 3625.
    # compute = 125 + 476.6667 + 2400·0.25 = 1201 2/3.
    plan = plan_iso_compute(sparsity=0.75, dense_steps=1200, start=0.1, end=0.5, every=25, schedule="cubic")
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (125, 1225, 45, 3625)
    assert cubic_window(45, 0.75, 25) == pytest.approx(476 + 2 / 3, rel=EXACT)
    assert plan.compute == pytest.approx(1201 + 2 / 3, rel=EXACT)
    assert plan.avg_density == pytest.approx((1201 + 2 / 3) / 3625, rel=EXACT)
    assert plan.window_density == pytest.approx((476 + 2 / 3) / 1100, rel=EXACT)
    assert pruning_end_fraction(plan) == pytest.approx((125 + 476 + 2 / 3) / 1200, rel=EXACT)


def test_a_geometric_plan_from_step_zero_by_hand():
    # s = 0.8, C = 2000, window 0–0.25, f = 50: t_start = 0, target = min(500, 2000 - 50·0.2) = 500.
    # W(n) = 50·x(1 - x^(n-1))/(1 - x), x = 0.2^(1/n): W(20) = 467.34, W(21) = 492.18, W(22) = 517.02
    # → |W - 500| = 32.7, 7.8, 17.0 → n = 21, t_end = 1000.
    # left = 2000 - 492.1768 = 1507.8232; / 0.2 = 7539.12 → 150.78 intervals → tail 7550, T = 8550.
    # compute = 492.1768 + 7550·0.2 = 2002.1768.
    plan = plan_iso_compute(sparsity=0.8, dense_steps=2000, start=0.0, end=0.25, every=50)
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (0, 1000, 21, 8550)
    window = geometric_window(21, 0.8, 50)
    assert [round(geometric_window(n, 0.8, 50), 2) for n in (20, 21, 22)] == [467.34, 492.18, 517.02]
    assert plan.compute == pytest.approx(window + 1510, rel=EXACT)
    assert plan.compute == pytest.approx(2002.1768, abs=5e-5)
    assert pruning_end_fraction(plan) == pytest.approx(0.2460884, abs=5e-8)


def test_a_one_shot_plan_by_hand():
    # s = 0.5, C = 1000, start 0.36, f = 100: t_start = 360 = 3.6 intervals → 400 (rounding down: 300).
    # One event: t_end = 400, W = 0; left = 600, / 0.5 = 1200 = tail, T = 1600; compute = 400 + 600 = 1000;
    # avg_density = 1000 / 1600 = 0.625.
    plan = plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.36, end=0.9, every=100, schedule="one_shot")
    assert (plan.t_start, plan.t_end, plan.n_events, plan.total_steps) == (400, 400, 1, 1600)
    assert (plan.compute, plan.avg_density, plan.window_density) == (1000.0, 0.625, 1.0)


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
@pytest.mark.parametrize("sparsity", [0.2, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("dense_steps, every", [(1000, 100), (1000, 10), (2400, 100), (777, 7)])
@pytest.mark.parametrize("start, end", [(0.25, 0.75), (0.0, 0.25), (0.1, 0.5), (0.33, 0.66)])
def test_pruning_ends_at_the_window_end_within_half_an_event(schedule, sparsity, dense_steps, every, start, end):
    # The event count minimises |t_start + W(n) - b·C|, and one more event adds at most f·1 of compute, so the
    # compute spent before t_end is b·C to within f/2: the roundings of t_start and of n do not add up.
    plan = plan_iso_compute(sparsity=sparsity, dense_steps=dense_steps, start=start, end=end, every=every,
                            schedule=schedule)
    assert abs(plan.t_start - start * dense_steps) <= every / 2 + 1e-9  # the nearest multiple, not the one below
    spent = pruning_end_fraction(plan) * dense_steps
    assert abs(spent - end * dense_steps) <= every / 2 + 1e-9, (plan.t_start, plan.t_end, spent)
