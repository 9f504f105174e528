"""Our cubic schedule is torch.ao's CubicSL (Zhu & Gupta 2017) shifted one interval earlier: our n events are
CubicSL's events 1..n over n intervals, whose event 0 sits at sparsity 0 (pruning/schedules.py)."""
import inspect

import pytest
from torch.ao.pruning.scheduler.cubic_scheduler import CubicSL

from pruning.schedules import kept_fractions

def cubic_sl(sparsity: float, intervals: int, every: int = 10, t_0: int = 0) -> list[float]:
    """CubicSL's sparsity at its intervals + 1 events t_0, t_0 + every, ..., t_0 + intervals·every (s_0 = 0)."""
    return [CubicSL.sparsity_compute_fn(0.0, sparsity, t_0 + k * every, t_0, every, intervals)
            for k in range(intervals + 1)]


def test_cubic_sl_takes_the_arguments_called_here():
    # torch/ao/pruning/scheduler/cubic_scheduler.py: s_t = s_f + (s_0 - s_f)·(1 - (t - t_0)/(dt·n))^3, clamped
    assert list(inspect.signature(CubicSL.sparsity_compute_fn).parameters) == [
        "s_0", "s_f", "t", "t_0", "dt", "n", "initially_zero"]


def test_cubic_sl_starts_at_sparsity_zero():
    assert [round(s, 3) for s in cubic_sl(0.8, 5)] == [0.0, 0.390, 0.627, 0.749, 0.794, 0.8]


def test_ours_at_the_same_six_events_prunes_from_the_first():
    assert [round(1 - kept, 3) for kept in kept_fractions("cubic", 6, 0.8)] == [0.337, 0.563, 0.700, 0.770,
                                                                                 0.796, 0.8]


@pytest.mark.parametrize("n_events", [1, 2, 5, 6, 17])
@pytest.mark.parametrize("sparsity", [0.3, 0.8, 0.95])
def test_ours_is_cubic_sl_shifted_one_interval_earlier(n_events, sparsity):
    theirs = cubic_sl(sparsity, n_events)  # n_events intervals: n_events + 1 events, the first at 0
    ours = [1.0 - kept for kept in kept_fractions("cubic", n_events, sparsity)]
    assert theirs[0] == 0.0
    assert ours == pytest.approx(theirs[1:], abs=1e-12)
