"""Chinchilla scaling-law fits L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, Approach 3).

The fit minimises, over theta = (a, b, e, alpha, beta),

    sum_i Huber_delta( LSE(a - alpha*log N_i, b - beta*log D_i, e) - log L_i ),

with A = exp(a), B = exp(b), E = exp(e), by L-BFGS-B from a grid of starting points, keeping the best
(law_objective.py holds the objective and the grid). `fit_predictors` fits one law per size predictor (avg / final /
initial non-zero params) and ranks the predictors by held-out RMSE in loss units. A predictor's refits — the
cross-validation folds, the extrapolation fit and the bootstrap resamples — run together (`_fit_many`): every start
of every refit is one L-BFGS-B routine of lbfgsb_batch.minimize_many, so they cost a vectorised evaluation per
round instead of ~300,000 separate `minimize` calls, and give the numbers those calls gave.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from orchestrator.study.figures import lr_schedule_of
from orchestrator.study.law_objective import BOUNDS, GridTable, objective, scaled_rows
from orchestrator.study.lbfgsb_batch import minimize_many

PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
PREDICTORS = ("avg_params", "final_params", "initial_params")
DEFAULT_STARTS = 8
MAX_FOLDS = 10
DELTA = 1e-3


def _validate(N, D, L) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return N, D, L as float arrays; ValueError naming the argument unless equal lengths >= 5, > 0, finite."""
    arrays = {}
    for name, values in (("N", N), ("D", D), ("L", L)):
        try:
            array = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be numeric: {error}") from None
        if array.size < 5:
            raise ValueError(f"{name} needs at least 5 values, got {array.size}")
        if not np.all(np.isfinite(array)) or not np.all(array > 0):
            raise ValueError(f"{name} must be positive and finite")
        arrays[name] = array
    if not arrays["N"].size == arrays["D"].size == arrays["L"].size:
        sizes = {name: array.size for name, array in arrays.items()}
        raise ValueError(f"N, D, L must have equal lengths, got {sizes}")
    return arrays["N"], arrays["D"], arrays["L"]


class _Data:
    """One data set's logs and its grid table, shared by all refits on subsets of it."""

    def __init__(self, N: np.ndarray, D: np.ndarray, L: np.ndarray, delta: float) -> None:
        self.N, self.D, self.L, self.delta = N, D, L, delta
        self.log_n, self.log_d, self.log_l = np.log(N), np.log(D), np.log(L)
        self.grid = GridTable(self.log_n, self.log_d, self.log_l, delta)

    def rows(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.log_n[cells], self.log_d[cells], self.log_l[cells]


@dataclass(frozen=True)
class _Refit:
    """One fit on the cells `cells` of a data set (indices; repeats allowed), from `seed_theta` (when given) and
    then the grid's best starts on those cells."""

    cells: np.ndarray
    seed_theta: np.ndarray | None = None


def _fit_many(data: _Data, refits: list[_Refit], starts: int | None) -> list[dict]:
    """Every refit, each from its starts, all L-BFGS-B routines in lockstep; the best start of each refit as the
    documented dict (plus `_theta`)."""
    x0s, owner = [], []
    for k, refit in enumerate(refits):
        x0 = data.grid.starts(refit.cells, starts)
        if refit.seed_theta is not None:
            x0 = np.vstack([np.clip(refit.seed_theta, *np.array(BOUNDS).T), x0])
        x0s.append(x0)
        owner += [k] * len(x0)
    owner_of = np.array(owner)
    by_size: dict[int, list[int]] = {}  # refits of one subset size share stacked data arrays
    for k, refit in enumerate(refits):
        by_size.setdefault(len(refit.cells), []).append(k)
    stacks = {size: tuple(np.stack(arrays) for arrays in zip(*(data.rows(refits[k].cells) for k in members)))
              for size, members in by_size.items()}
    size_of = np.array([len(refit.cells) for refit in refits])
    position = np.empty(len(refits), dtype=int)
    for members in by_size.values():
        position[members] = np.arange(len(members))

    def evaluate(rows: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values, grads = np.empty(len(rows)), np.empty(theta.shape)
        refit = owner_of[rows]
        for size, (log_n, log_d, log_l) in stacks.items():
            pick = np.flatnonzero(size_of[refit] == size)
            if pick.size:
                at = position[refit[pick]]
                values[pick], grads[pick] = scaled_rows(theta[pick], log_n[at], log_d[at], log_l[at], data.delta)
        return values, grads

    solutions = minimize_many(evaluate, np.vstack(x0s), BOUNDS, maxiter=500)
    fits = []
    for k, refit in enumerate(refits):
        best = None
        for row in np.flatnonzero(owner_of == k):
            solution = solutions[row]
            if np.all(np.isfinite(solution.x)) and (best is None or solution.fun < best.fun):
                best = solution
        fits.append(_as_fit(best.x, best.success, *data.rows(refit.cells), data.delta))
    return fits


def _as_fit(theta: np.ndarray, converged: bool, log_n, log_d, log_l, delta: float) -> dict:
    a, b, e, alpha, beta = (float(v) for v in theta)
    return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta,
            "objective": objective(theta, log_n, log_d, log_l, delta)[0], "converged": bool(converged),
            "at_bound": constants_at_bound(theta), "_theta": theta.copy()}


def constants_at_bound(theta: np.ndarray, tolerance: float = 1e-6) -> list[str]:
    """The constants (E, A, B, alpha, beta) whose parameter (e, a, b, alpha, beta) lies on its bound."""
    names = ("A", "B", "E", "alpha", "beta")  # the order of theta: a, b, e, alpha, beta
    return sorted(name for name, value, (low, high) in zip(names, theta, BOUNDS)
                  if value <= low + tolerance or value >= high - tolerance)


def _public(fit: dict) -> dict:
    return {key: value for key, value in fit.items() if not key.startswith("_")}


def fit_chinchilla(N, D, L, *, delta: float = DELTA, starts: int | None = None) -> dict:
    """Fit L = E + A/N^alpha + B/D^beta (Huber on log L, L-BFGS-B, multi-start).

    `starts=None` runs from all 4500 grid points (faithful to Hoffmann et al.); `starts=k` runs from the k grid
    points with the lowest initial objective (k = 8 gives the same optimum at a fraction of the cost).

    Returns E, A, B, alpha, beta, objective (final Huber sum), converged (L-BFGS-B success of the best start) and
    at_bound (the constants whose log or exponent sits at a bound of the search box: the fit did not identify them).
    """
    data = _Data(*_validate(N, D, L), delta)
    return _public(_fit_many(data, [_Refit(np.arange(len(data.L)))], starts)[0])


def predict(params: dict, N, D) -> np.ndarray:
    """L(N, D) = E + A/N^alpha + B/D^beta."""
    N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
    return params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]


def _rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def _folds(n: int, groups: Sequence | None) -> tuple[list[np.ndarray], str]:
    """Held-out index sets: leave-one-out for n <= 10, else k = 10 interleaved folds; whole groups if given."""
    if groups is None:
        labels = np.arange(n)
    else:
        labels = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
        if labels.size != n:
            raise ValueError(f"groups must have {n} values, got {labels.size}")
    n_labels = int(labels.max()) + 1
    k = min(n_labels, MAX_FOLDS)
    folds = [np.flatnonzero(labels % k == fold) for fold in range(k)]
    kind = "loo" if k == n else ("group-kfold" if groups is not None else "kfold")
    return folds, kind if kind == "loo" else f"{kind}-{k}"


def heldout_errors(N, D, L, *, groups: Sequence | None = None, extrapolate_by: Sequence | None = None,
                   starts: int | None = DEFAULT_STARTS, delta: float = DELTA) -> dict:
    """Cross-validated and extrapolation RMSE of the fitted law, in loss units.

    cv_rmse = sqrt(mean_i (L_i - Lhat_{-fold(i)}(N_i, D_i))^2) over k = min(n, 10) folds (loo when k = n);
    extrapolation_rmse fits on cells with extrapolate_by < its maximum and scores the cells at the maximum.
    """
    return _heldout(_Data(*_validate(N, D, L), delta), groups, extrapolate_by, starts)


def _extrapolation_split(n: int, extrapolate_by: Sequence | None) -> np.ndarray | None:
    """The held-out mask of the extrapolation score (the cells at the largest extrapolate_by); None if undefined."""
    if extrapolate_by is None:
        return None
    by = np.asarray(extrapolate_by, dtype=float).reshape(-1)
    if by.size != n:
        raise ValueError(f"extrapolate_by must have {n} values, got {by.size}")
    held = by == by.max()
    return None if held.all() or (~held).sum() < 5 else held


def _heldout(data: _Data, groups: Sequence | None, extrapolate_by: Sequence | None, starts: int | None) -> dict:
    n = len(data.L)
    folds, kind = _folds(n, groups)
    trains = [np.setdiff1d(np.arange(n), held) for held in folds]
    for train in trains:
        if train.size < 5:
            raise ValueError(f"{kind} leaves only {train.size} training cells; need at least 5")
    extrapolation = _extrapolation_split(n, extrapolate_by)
    extra = [] if extrapolation is None else [_Refit(np.flatnonzero(~extrapolation))]
    fits = _fit_many(data, [_Refit(train) for train in trains] + extra, starts)
    predicted = np.empty_like(data.L)
    for held, fit in zip(folds, fits):
        predicted[held] = predict(fit, data.N[held], data.D[held])
    extrapolation_rmse = None if extrapolation is None else _rmse(
        predict(fits[-1], data.N[extrapolation], data.D[extrapolation]), data.L[extrapolation])
    cv_rmse = _rmse(predicted, data.L)
    return {"cv": kind, "cv_rmse": cv_rmse, "loo_rmse": cv_rmse if kind == "loo" else None,
            "heldout_rmse": cv_rmse, "extrapolation_rmse": extrapolation_rmse,
            "cv_predictions": [float(v) for v in predicted]}


def bootstrap_draws(N, D, L, *, samples: int = 100, seed: int = 0, starts: int | None = 3,
                    delta: float = DELTA, full_fit: dict | None = None) -> np.ndarray:
    """(samples, 5) constants E, A, B, alpha, beta refitted on cell resamples with replacement, each from the full
    fit's solution plus the `starts` best grid points."""
    return _bootstrap(_Data(*_validate(N, D, L), delta), samples, seed, starts, full_fit)


def _bootstrap(data: _Data, samples: int, seed: int, starts: int | None, full_fit: dict | None) -> np.ndarray:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    n = len(data.L)
    full = full_fit if full_fit is not None and "_theta" in full_fit else \
        _fit_many(data, [_Refit(np.arange(n))], DEFAULT_STARTS)[0]
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, n, size=n) for _ in range(samples)]
    fits = _fit_many(data, [_Refit(cells, full["_theta"]) for cells in resamples], starts)
    return np.array([[fit[name] for name in PARAM_NAMES] for fit in fits], dtype=float).reshape(-1, len(PARAM_NAMES))


def bootstrap_intervals(N, D, L, *, samples: int = 100, seed: int = 0, starts: int | None = 3,
                        delta: float = DELTA, full_fit: dict | None = None) -> dict:
    """95 % percentile intervals (2.5th, 97.5th) of E, A, B, alpha, beta over cell resamples (bootstrap_draws)."""
    draws = bootstrap_draws(N, D, L, samples=samples, seed=seed, starts=starts, delta=delta, full_fit=full_fit)
    return _percentile_intervals(draws)


def _percentile_intervals(draws: np.ndarray) -> dict:
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return {name: (float(low[k]), float(high[k])) for k, name in enumerate(PARAM_NAMES)}


def _finished_pretraining(cells: list[dict]) -> list[dict]:
    keys = (*PREDICTORS, "tokens", "val_loss")
    return [cell for cell in cells if cell.get("status") == "done" and cell.get("structured") is None
            and all(isinstance(cell.get(key), (int, float)) and math.isfinite(cell[key]) and cell[key] > 0
                    for key in keys)]


def law_lr_schedules(cells: list[dict]) -> tuple[str | None, dict[str, int]]:
    """(the learning-rate schedule whose cells the law is fitted on, {other schedule: cells left out}): one law
    never mixes schedules (a wsd cell and a cosine cell of equal N and D do not reach the same loss). The paper's
    cosine when there are cosine cells, else the schedule of the most cells."""
    counts = Counter(lr_schedule_of(cell) for cell in _finished_pretraining(cells))
    if not counts:
        return None, {}
    chosen = "cosine" if "cosine" in counts else max(sorted(counts), key=counts.__getitem__)
    return chosen, {name: n for name, n in sorted(counts.items()) if name != chosen}


def fittable_cells(cells: list[dict]) -> list[dict]:
    """Cells with status done, a finite val_loss and positive finite sizes and tokens, of the law's learning-rate
    schedule (law_lr_schedules). P² cells (post-training of a structurally pruned model, result.json `structured`)
    are not pre-training runs: they have a law of their own."""
    chosen, _ = law_lr_schedules(cells)
    return [cell for cell in _finished_pretraining(cells) if lr_schedule_of(cell) == chosen]


def fit_predictors(cells: list[dict], *, bootstrap_samples: int = 100, seed: int = 0,
                   starts: int | None = DEFAULT_STARTS) -> dict:
    """The fit.json payload: one Chinchilla fit per size predictor, ranked by heldout_rmse ascending."""
    usable = fittable_cells(cells)
    if len(usable) < 5:
        raise ValueError(f"need at least 5 finished cells with finite val_loss, got {len(usable)}")
    D = np.array([cell["tokens"] for cell in usable], dtype=float)
    L = np.array([cell["val_loss"] for cell in usable], dtype=float)
    extrapolate_by = _dense_size_by_model(usable)
    predictors = {name: _predictor_entry(_Data(np.array([cell[name] for cell in usable], dtype=float), D, L, DELTA),
                                         extrapolate_by, bootstrap_samples, seed, starts) for name in PREDICTORS}
    ranking = sorted(PREDICTORS, key=lambda name: predictors[name]["heldout_rmse"])
    models = {(cell.get("cell") or {}).get("model") for cell in usable}
    ranges = {name: [float(min(c[name] for c in usable)), float(max(c[name] for c in usable))]
              for name in (*PREDICTORS, "tokens")}
    lr_schedule, left_out = law_lr_schedules(cells)
    return {"n_cells": len(usable), "cell_ids": [cell.get("cell_id") for cell in usable], "ranges": ranges,
            "lr_schedule": lr_schedule, "lr_schedules_left_out": left_out,
            "n_model_sizes": len({cell["initial_params"] for cell in usable}), "models": sorted(map(str, models)),
            "predictors": predictors, "ranking": ranking, "best": ranking[0]}


def _dense_size_by_model(cells: list[dict]) -> list[float] | None:
    """Each cell's model size = the largest initial_params among cells of its model (result.json `cell.model`);
    None when a cell does not name its model."""
    models = [(cell.get("cell") or {}).get("model") for cell in cells]
    if any(model is None for model in models):
        return None
    size: dict = {}
    for model, cell in zip(models, cells):
        size[model] = max(size.get(model, 0.0), float(cell["initial_params"]))
    return [size[model] for model in models]


def _predictor_entry(data: _Data, extrapolate_by, bootstrap_samples, seed, starts) -> dict:
    full = _fit_many(data, [_Refit(np.arange(len(data.L)))], starts)[0]
    entry = {name: float(full[name]) for name in PARAM_NAMES}
    entry.update(objective=float(full["objective"]), converged=bool(full["converged"]), at_bound=full["at_bound"])
    errors = _heldout(data, None, extrapolate_by, starts)
    entry.update({key: errors[key] for key in ("cv", "cv_rmse", "loo_rmse", "heldout_rmse", "extrapolation_rmse",
                                               "cv_predictions")})
    draws = _bootstrap(data, bootstrap_samples, seed, 3, full) if bootstrap_samples > 0 \
        else np.empty((0, len(PARAM_NAMES)))
    intervals = _percentile_intervals(draws) if len(draws) else {}
    entry["intervals"] = {name: [low, high] for name, (low, high) in intervals.items()}
    entry["bootstrap_draws"] = draws.tolist()  # rows of E, A, B, alpha, beta: orchestrator-plan's intervals
    return entry
