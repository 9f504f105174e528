"""The iso-compute planner: where pruning starts and ends, and how many steps a sparse run may train.

Start and end are fractions of COMPUTE, not of steps (DESIGN, "The science"). A training step costs

    c(t) = q + (1 - q)·ρ(t)  dense-equivalent steps,   ρ(t) = density_at_step(t) ∈ [1 - s, 1],

q (`fixed_cost` ∈ [0, 1)) being the share of a dense step's FLOPs that pruning does not remove: 0 when only the
prunable linear weights are counted (the paper's definition, budget.compute=linear), the attention scores' share
with budget.compute=total. A dense step costs 1 for any q, so a budget of C dense steps buys more sparse steps:

    compute(T) = Σ_{t=0}^{T-1} c(t).

Given C (dense-equivalent steps), sparsity s, window [a, b] and pruning interval f:

1. t_start = a·C rounded to the nearest multiple of f (and at most ⌊C/f⌋·f).
2. The window [t_start, t_end) must consume (b - a)·C of compute. With n events, t_end = t_start + (n-1)·f and the
   window's exact discrete compute is W(n) = f · Σ_{k=0}^{n-2} (q + (1 - q)·kept_k(n)). We pick the n ≥ 1 whose
   W(n) is closest to b·C - t_start, i.e. (b - a)·C corrected for the rounding of t_start so that the two roundings
   do not add up: pruning then ends at compute fraction b to within half an event. The continuous approximation
   t_end ≈ t_start + (b - a)·C / (q + (1 - q)·ρ̄) (ρ̄ = s / -ln(1-s) for the geometric schedule) is only the
   starting guess of a short walk over n (W(n) grows with n, so |W(n) - target| is unimodal).
3. The compute left, C - (t_start + W(n)), is spent at the final cost c_final = q + (1 - q)·(1 - s):
   T = t_end + tail with tail = round(left / c_final) to a multiple of f, but tail ≥ f. The last event (at t_end)
   must train: steps run 0..T-1 and an event at step t acts from step t on, so T > t_end is needed for the final
   mask (and the target sparsity) to be reached at all; tail ≥ f keeps T a multiple of f and gives the final mask
   at least f steps. So that this floor does not overshoot the budget when b is close to 1, the window target is
   capped at C - f·c_final - t_start. With these choices |compute(T) - C| ≤ f.

Plan.compute is Σ c(t) (in the chosen cost unit); Plan.avg_density and window_density stay means of the parameter
density ρ(t) (avg_density gives N_avg). With q = 0 every number is the linear-weights plan's, bit for bit.

one_shot: a single event at t_start; `end` is ignored (t_end = t_start).
No pruning (sparsity 0 or schedule "none", whose sparsity is ignored): T = C rounded to a multiple of f,
t_start = t_end = T, n_events = 0, avg_density = 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pruning.schedules import SCHEDULES, density_at_step, kept_fractions, mean_window_density

NO_PRUNING = "none"
GRADUAL_SCHEDULES = ("geometric", "cubic")


@dataclass(frozen=True)
class Plan:
    """The planner's output. Steps are optimizer steps; compute is in dense-equivalent steps."""

    schedule: str
    sparsity: float
    start: float  # compute fraction a at which pruning starts
    end: float  # compute fraction b at which pruning ends
    every: int  # f: steps between pruning events
    dense_steps: int  # C: the compute budget in dense-equivalent steps
    t_start: int  # first pruning event (applied before step t_start trains)
    t_end: int  # last pruning event
    n_events: int  # (t_end - t_start)/every + 1, or 0 without pruning
    total_steps: int  # T
    avg_density: float  # (1/T) Σ_{t<T} ρ(t): mean prunable density over the run
    window_density: float  # mean ρ(t) over t_start ≤ t < t_end (1 for an empty window)
    compute: float  # Σ_{t<T} c(t) = Σ q + (1 - q)·ρ(t), in dense-equivalent steps (ρ(t) when q = 0)

    @property
    def prunes(self) -> bool:
        return self.n_events > 0

    def density(self, step: int) -> float:
        """ρ(step): prunable density in force while training `step`."""
        if not self.prunes:
            return 1.0
        if self.schedule == "static":  # pruning.static: one mask from step 0, the same density throughout
            return self.avg_density
        return density_at_step(
            step, schedule=self.schedule, sparsity=self.sparsity,
            t_start=self.t_start, t_end=self.t_end, every=self.every,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def avg_params(plan: Plan, n_prunable: int) -> float:
    """Planned N_avg = avg_density · N_prunable (approximate: the real N_avg is counted from the masks)."""
    return plan.avg_density * n_prunable


def round_to_multiple(value: float, every: int) -> int:
    """The multiple of `every` nearest to `value` (halves round up)."""
    return every * math.floor(value / every + 0.5)


def check_fixed_cost(fixed_cost: float) -> None:
    """ValueError unless q is a number in [0, 1): the share of a dense step's compute that pruning leaves."""
    if not isinstance(fixed_cost, (int, float)) or isinstance(fixed_cost, bool) or not 0.0 <= fixed_cost < 1.0:
        raise ValueError(f"fixed_cost must be a number in [0, 1), got {fixed_cost!r}")


def step_cost(density: float, fixed_cost: float) -> float:
    """c = q + (1 - q)·ρ: a step's compute in dense-equivalent steps (ρ itself, exactly, when q = 0)."""
    return fixed_cost + (1.0 - fixed_cost) * density


def window_compute(schedule: str, n_events: int, sparsity: float, every: int, fixed_cost: float = 0.0) -> float:
    """W(n) = every · Σ_{k=0}^{n-2} (q + (1 - q)·kept_k(n)): exact compute of steps t_start..t_end-1 (one loop over
    events); with q = 0, every · Σ kept_k(n), the window's prunable-weight compute."""
    kept = math.fsum(kept_fractions(schedule, n_events, sparsity)[:-1])
    return every * (fixed_cost * (n_events - 1) + (1.0 - fixed_cost) * kept)


def closest_event_count(schedule: str, sparsity: float, every: int, target: float, fixed_cost: float = 0.0) -> int:
    """The n ≥ 1 minimising |W(n) - target| (the smaller n on a tie). W(1) = 0 and W grows with n."""
    if target <= 0.0:
        return 1
    cache: dict[int, float] = {}

    def error(n: int) -> float:
        if n not in cache:
            cache[n] = abs(window_compute(schedule, n, sparsity, every, fixed_cost) - target)
        return cache[n]

    # Continuous guess with the endpoint correction of a right Riemann sum of c over n - 1 events:
    # W(n)/every ≈ n·c̄ - (c(0) + c(1))/2 = n·(ρ̄ + q(1 - ρ̄)) - (1 - s/2 + q·s/2), c̄ = q + (1 - q)·ρ̄.
    rho = mean_window_density(schedule, sparsity)
    n = max(1, round((target / every + 1.0 - sparsity / 2 + fixed_cost * sparsity / 2)
                     / (rho + fixed_cost * (1.0 - rho))))
    while error(n + 1) < error(n):
        n += 1
    while n > 1 and error(n - 1) <= error(n):
        n -= 1
    return n


def _check_arguments(sparsity, dense_steps, start, end, every, schedule, fixed_cost) -> None:
    if schedule not in SCHEDULES + (NO_PRUNING,):
        raise ValueError(f"schedule must be one of {SCHEDULES + (NO_PRUNING,)}, got {schedule!r}")
    if not isinstance(sparsity, (int, float)) or isinstance(sparsity, bool) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    if not isinstance(dense_steps, int) or isinstance(dense_steps, bool) or dense_steps < every:
        raise ValueError(f"dense_steps must be an integer >= every ({every}), got {dense_steps!r}")
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if schedule in GRADUAL_SCHEDULES and not start < end:
        raise ValueError(f"start must be < end for the {schedule} schedule, got start={start}, end={end}")
    if start > end:
        raise ValueError(f"start must be <= end, got start={start}, end={end}")
    check_fixed_cost(fixed_cost)


def plan_iso_compute(
    *, sparsity: float, dense_steps: int, start: float, end: float, every: int, schedule: str = "geometric",
    fixed_cost: float = 0.0,
) -> Plan:
    """Plan a run that spends the compute of `dense_steps` dense steps (see the module docstring); `fixed_cost` is q,
    the share of a dense step's compute that pruning leaves (0: only the prunable weights are counted)."""
    _check_arguments(sparsity, dense_steps, start, end, every, schedule, fixed_cost)
    budget = dense_steps
    common = dict(schedule=schedule, sparsity=float(sparsity), start=float(start), end=float(end),
                  every=every, dense_steps=dense_steps)
    if sparsity == 0.0 or schedule == NO_PRUNING:
        total = round_to_multiple(budget, every)
        return Plan(**common, t_start=total, t_end=total, n_events=0, total_steps=total,
                    avg_density=1.0, window_density=1.0, compute=float(total))

    final_density = 1.0 - sparsity
    final_cost = step_cost(final_density, fixed_cost)
    t_start = min(round_to_multiple(start * budget, every), (budget // every) * every)
    if schedule == "one_shot":
        n_events = 1
    else:
        target = min(end * budget, budget - every * final_cost) - t_start
        n_events = closest_event_count(schedule, sparsity, every, target, fixed_cost)
    window = window_compute(schedule, n_events, sparsity, every, fixed_cost)
    window_kept = window_compute(schedule, n_events, sparsity, every)  # Σ ρ(t) over the window
    t_end = t_start + (n_events - 1) * every
    left = budget - (t_start + window)
    tail = max(every, round_to_multiple(left / final_cost, every))
    total = t_end + tail
    compute = t_start + window + tail * final_cost
    kept = t_start + window_kept + tail * final_density  # Σ_{t<T} ρ(t)
    return Plan(**common, t_start=t_start, t_end=t_end, n_events=n_events, total_steps=total,
                avg_density=kept / total,
                window_density=window_kept / (t_end - t_start) if t_end > t_start else 1.0, compute=compute)
