"""Pruning schedules: how much of the prunable weights is kept after each pruning event.

Stateless functions of the event index (torchtitan style). Pruning events happen at steps
t_start, t_start + f, ..., t_end (every f steps), so there are n = (t_end - t_start)/f + 1 events, indexed
k = 0..n-1. An event at step t is applied BEFORE step t trains.

- geometric (Journey Matters, ICLR 2025):   kept_k = (1 - s)^((k + 1) / n)
- cubic (Zhu & Gupta 2017, "To prune or not to prune"):
                                            sparsity_k = s · (1 - (1 - (k + 1)/n)^3),   kept_k = 1 - sparsity_k
- one_shot: a single event (n = 1):         kept_0 = 1 - s

Every schedule reaches exactly kept_{n-1} = 1 - s at its last event.

Our cubic is Zhu & Gupta's shifted one interval earlier. Theirs (torch.ao.pruning's CubicSL.sparsity_compute_fn,
s_0 = 0) is s_t = s · (1 - (1 - (t - t_0)/(n·Δt))^3) over n intervals, so n + 1 events at t_0, t_0 + Δt, ...,
t_0 + n·Δt, the first at sparsity 0. Ours with n events is their events 1..n of that (n + 1)-event schedule:
sparsity_k = CubicSL's s at t = t_0 + (k + 1)·Δt, i.e. their t_0 is our t_start - f. No event is wasted at sparsity
0: our first event already prunes, and the target is reached at our event n - 1 (their event n). For s = 0.8 and six
events, CubicSL (five intervals) gives [0, .390, .627, .749, .794, .8] and ours [.337, .563, .700, .770, .796, .8]
(CubicSL's events 1..6 over six intervals); with five events ours is [.390, .627, .749, .794, .8].
"""
from __future__ import annotations

import math

SCHEDULES = ("geometric", "cubic", "one_shot")


def _check_schedule(schedule: str, n_events: int, sparsity: float) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not isinstance(n_events, int) or n_events < 1:
        raise ValueError(f"n_events must be an integer >= 1, got {n_events!r}")
    if schedule == "one_shot" and n_events != 1:
        raise ValueError(f"n_events must be 1 for the one_shot schedule, got {n_events}")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")


def _kept(schedule: str, event_index: int, n_events: int, sparsity: float) -> float:
    """The formulas of the module docstring, arguments already validated."""
    if event_index == n_events - 1:
        return 1.0 - sparsity  # exact at the last event, free of rounding in the formulas below
    progress = (event_index + 1) / n_events
    if schedule == "geometric":
        return (1.0 - sparsity) ** progress
    return 1.0 - sparsity * (1.0 - (1.0 - progress) ** 3)  # cubic (one_shot has no other event)


def kept_fraction(schedule: str, event_index: int, n_events: int, sparsity: float) -> float:
    """Fraction of the prunable weights kept after event `event_index` (0-based) of `n_events`."""
    _check_schedule(schedule, n_events, sparsity)
    if not isinstance(event_index, int) or not 0 <= event_index < n_events:
        raise ValueError(f"event_index must be an integer in [0, {n_events - 1}], got {event_index!r}")
    return _kept(schedule, event_index, n_events, sparsity)


def kept_fractions(schedule: str, n_events: int, sparsity: float) -> list[float]:
    """[kept_fraction(schedule, k, n_events, sparsity) for k in 0..n_events-1], validated once (fast for large n)."""
    _check_schedule(schedule, n_events, sparsity)
    return [_kept(schedule, k, n_events, sparsity) for k in range(n_events)]


def mean_window_density(schedule: str, sparsity: float) -> float:
    """Continuous-limit mean density over a pruning window (n → ∞); a starting guess for the planner.

    geometric: ∫_0^1 (1-s)^x dx = s / (-ln(1-s));   cubic: ∫_0^1 1 - s(1 - (1-x)^3) dx = 1 - 3s/4;
    one_shot: the window is empty, its density is that of the single event, 1 - s.
    """
    _check_schedule(schedule, 1, sparsity)
    if sparsity == 0.0:
        return 1.0
    if schedule == "geometric":
        return sparsity / -math.log1p(-sparsity)
    if schedule == "cubic":
        return 1.0 - 0.75 * sparsity
    return 1.0 - sparsity


def _check_window(t_start: int, t_end: int, every: int) -> int:
    """Validates an event window and returns its number of events n = (t_end - t_start)/every + 1."""
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    if not isinstance(t_start, int) or t_start < 0:
        raise ValueError(f"t_start must be an integer >= 0, got {t_start!r}")
    if not isinstance(t_end, int) or t_end < t_start or (t_end - t_start) % every:
        raise ValueError(
            f"t_end must be an integer t_start + j·every (j >= 0) = {t_start} + j·{every}, got {t_end!r}"
        )
    return (t_end - t_start) // every + 1


def count_events(t_start: int, t_end: int, every: int) -> int:
    """n = (t_end - t_start)/every + 1, after checking that the window is made of whole intervals."""
    return _check_window(t_start, t_end, every)


def event_steps(t_start: int, t_end: int, every: int) -> list[int]:
    """The pruning steps t_start, t_start + every, ..., t_end."""
    n_events = _check_window(t_start, t_end, every)
    return [t_start + k * every for k in range(n_events)]


def density_at_step(
    step: int, *, schedule: str, sparsity: float, t_start: int, t_end: int, every: int
) -> float:
    """Prunable density in force while training step `step`.

    1 before t_start; kept_fraction(k) on steps [t_start + k·every, t_start + (k+1)·every); 1 - s from t_end on.
    """
    n_events = _check_window(t_start, t_end, every)
    _check_schedule(schedule, n_events, sparsity)
    if sparsity == 0.0 or step < t_start:
        return 1.0
    if step >= t_end:
        return 1.0 - sparsity
    return _kept(schedule, (step - t_start) // every, n_events, sparsity)
