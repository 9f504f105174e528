"""Pruning schedules: the formulas, written out by hand, and the step → density map."""
import pytest

from pruning.schedules import SCHEDULES, density_at_step, event_steps, kept_fraction, kept_fractions


def test_geometric_values_by_hand():
    # s = 0.75, n = 4: kept_k = 0.25^((k+1)/4)
    expected = [0.25 ** 0.25, 0.25 ** 0.5, 0.25 ** 0.75, 0.25]
    assert expected == [0.7071067811865476, 0.5, 0.3535533905932738, 0.25]  # these decimals are the doubles' repr
    for k, value in enumerate(expected):
        assert kept_fraction("geometric", k, 4, 0.75) == pytest.approx(value, rel=1e-15)


def test_cubic_values_by_hand():
    # s = 0.5, n = 4: sparsity_k = 0.5 (1 - (1 - (k+1)/4)^3)
    # k=0: 0.5 (1 - 0.421875) = 0.2890625; k=1: 0.5 (1 - 0.125) = 0.4375; k=2: 0.5 (1 - 0.015625) = 0.4921875
    expected = [1 - 0.2890625, 1 - 0.4375, 1 - 0.4921875, 0.5]
    for k, value in enumerate(expected):
        assert kept_fraction("cubic", k, 4, 0.5) == pytest.approx(value, rel=1e-15)


def test_one_shot_keeps_one_minus_s_and_needs_a_single_event():
    assert kept_fraction("one_shot", 0, 1, 0.6) == 1.0 - 0.6  # the last event returns 1 - s itself, unrounded
    with pytest.raises(ValueError, match="n_events"):
        kept_fraction("one_shot", 0, 2, 0.6)


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
@pytest.mark.parametrize("n_events", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.75, 0.99])
def test_last_event_is_exact_and_kept_only_decreases(schedule, n_events, sparsity):
    values = kept_fractions(schedule, n_events, sparsity)
    assert values[-1] == 1.0 - sparsity
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert all(1.0 - sparsity <= v <= 1.0 for v in values)
    assert values == [kept_fraction(schedule, k, n_events, sparsity) for k in range(n_events)]


@pytest.mark.parametrize(
    "args, name",
    [
        (("linear", 0, 4, 0.5), "schedule"),
        (("geometric", 4, 4, 0.5), "event_index"),
        (("geometric", -1, 4, 0.5), "event_index"),
        (("geometric", 0, 0, 0.5), "n_events"),
        (("geometric", 0, 4, 1.0), "sparsity"),
        (("cubic", 0, 4, -0.1), "sparsity"),
    ],
)
def test_bad_arguments_are_named(args, name):
    with pytest.raises(ValueError, match=name):
        kept_fraction(*args)


def test_event_steps():
    assert event_steps(100, 400, 100) == [100, 200, 300, 400]
    assert event_steps(50, 50, 10) == [50]
    with pytest.raises(ValueError, match="t_end"):
        event_steps(100, 350, 100)
    with pytest.raises(ValueError, match="every"):
        event_steps(100, 400, 0)


def test_density_at_step_applies_events_before_their_step():
    window = dict(schedule="geometric", sparsity=0.75, t_start=100, t_end=400, every=100)
    assert density_at_step(0, **window) == 1.0
    assert density_at_step(99, **window) == 1.0
    assert density_at_step(100, **window) == kept_fraction("geometric", 0, 4, 0.75)
    assert density_at_step(199, **window) == kept_fraction("geometric", 0, 4, 0.75)
    assert density_at_step(200, **window) == 0.5  # 0.25^(2/4) = √0.25: exact in binary
    assert density_at_step(399, **window) == kept_fraction("geometric", 2, 4, 0.75)
    assert density_at_step(400, **window) == 0.25
    assert density_at_step(10_000, **window) == 0.25


def test_density_without_sparsity_is_one_and_one_shot_is_a_step():
    assert density_at_step(500, schedule="cubic", sparsity=0.0, t_start=0, t_end=400, every=100) == 1.0
    one_shot = dict(schedule="one_shot", sparsity=0.5, t_start=300, t_end=300, every=100)
    assert [density_at_step(t, **one_shot) for t in (299, 300, 301)] == [1.0, 0.5, 0.5]
    assert SCHEDULES == ("geometric", "cubic", "one_shot")
