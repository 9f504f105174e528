"""Chinchilla scaling-law fits L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, Approach 3).

The fit minimises, over theta = (a, b, e, alpha, beta),

    sum_i Huber_delta( LSE(a - alpha*log N_i, b - beta*log D_i, e) - log L_i ),

with A = exp(a), B = exp(b), E = exp(e), by L-BFGS-B from a grid of starting points, keeping the best.
`fit_predictors` fits one law per size predictor (avg / final / initial non-zero params) and ranks
the predictors by held-out RMSE in loss units.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
PREDICTORS = ("avg_params", "final_params", "initial_params")
_GRID = np.array(list(itertools.product(
    (0, 5, 10, 15, 20, 25), (0, 5, 10, 15, 20, 25), (-1, -0.5, 0, 0.5, 1),
    (0, 0.5, 1.0, 1.5, 2.0), (0, 0.5, 1.0, 1.5, 2.0))), dtype=float)  # columns: a, b, e, alpha, beta
_BOUNDS = [(-20.0, 60.0), (-20.0, 60.0), (-10.0, 10.0), (0.0, 3.0), (0.0, 3.0)]
DEFAULT_STARTS = 8
MAX_FOLDS = 10


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


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """The three log-terms (a - alpha log N, b - beta log D, e), shape (..., n, 3) for theta (..., 5)."""
    a, b, e, alpha, beta = (theta[..., k, None] for k in range(5))
    t_n, t_d = a - alpha * log_n, b - beta * log_d
    return np.stack([t_n, t_d, np.broadcast_to(e, t_n.shape)], -1)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber_delta(r) = r^2/2 if |r| <= delta else delta*(|r| - delta/2)."""
    abs_r = np.abs(r)
    return np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def _objective(theta, log_n, log_d, log_l, delta) -> tuple[float, np.ndarray]:
    """Huber objective and its gradient; d LSE / d term_k = softmax_k, d term / d alpha = -log N, etc."""
    a, b, e, alpha, beta = theta
    t_n, t_d = a - alpha * log_n, b - beta * log_d
    top = np.maximum(np.maximum(t_n, t_d), e)
    w_n, w_d, w_e = np.exp(t_n - top), np.exp(t_d - top), np.exp(e - top)
    total = w_n + w_d + w_e
    residual = top + np.log(total) - log_l
    psi = np.clip(residual, -delta, delta) / total  # Huber'(r) times the softmax normaliser
    g_n, g_d = psi * w_n, psi * w_d
    grad = np.array([g_n.sum(), g_d.sum(), (psi * w_e).sum(), -(g_n @ log_n), -(g_d @ log_d)])
    return float(_huber(residual, delta).sum()), grad


def _scaled_objective(theta, log_n, log_d, log_l, delta) -> tuple[float, np.ndarray]:
    """The objective / (n * delta), so that L-BFGS-B's default tolerances act on an O(|r| / delta) scale."""
    value, grad = _objective(theta, log_n, log_d, log_l, delta)
    scale = 1.0 / (len(log_l) * delta)
    return value * scale, grad * scale


def _logsumexp3(terms: np.ndarray) -> np.ndarray:
    """log(exp(t0) + exp(t1) + exp(t2)) over the last axis (of size 3), shifted by the maximum: what
    scipy.special.logsumexp gives, at a fraction of its cost on the (grid × cells × 3) array of _grid_starts."""
    top = terms.max(axis=-1)
    return top + np.log(np.exp(terms - top[..., None]).sum(axis=-1))


def _grid_starts(log_n, log_d, log_l, delta: float, starts: int | None) -> np.ndarray:
    """The Hoffmann grid; with `starts`, its `starts` points of lowest initial objective (deterministic)."""
    if starts is None or starts >= len(_GRID):
        return _GRID
    residual = _logsumexp3(_terms(_GRID, log_n, log_d)) - log_l
    order = np.argsort(_huber(residual, delta).sum(axis=-1), kind="stable")
    return _GRID[order[:max(1, starts)]]


def _fit_from(x0s: np.ndarray, log_n, log_d, log_l, delta: float) -> dict:
    """L-BFGS-B from each start; the best result as the documented dict."""
    best = None
    for x0 in x0s:
        result = minimize(_scaled_objective, x0, args=(log_n, log_d, log_l, delta), jac=True,
                          method="L-BFGS-B", bounds=_BOUNDS, options={"maxiter": 500})
        if np.all(np.isfinite(result.x)) and (best is None or result.fun < best.fun):
            best = result
    a, b, e, alpha, beta = (float(v) for v in best.x)
    objective = _objective(best.x, log_n, log_d, log_l, delta)[0]
    return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta,
            "objective": objective, "converged": bool(best.success), "at_bound": constants_at_bound(best.x),
            "_theta": best.x.copy()}


def constants_at_bound(theta: np.ndarray, tolerance: float = 1e-6) -> list[str]:
    """The constants (E, A, B, alpha, beta) whose parameter (e, a, b, alpha, beta) lies on its bound."""
    names = ("A", "B", "E", "alpha", "beta")  # the order of theta: a, b, e, alpha, beta
    return sorted(name for name, value, (low, high) in zip(names, theta, _BOUNDS)
                  if value <= low + tolerance or value >= high - tolerance)


def _public(fit: dict) -> dict:
    return {key: value for key, value in fit.items() if not key.startswith("_")}


def fit_chinchilla(N, D, L, *, delta: float = 1e-3, starts: int | None = None) -> dict:
    """Fit L = E + A/N^alpha + B/D^beta (Huber on log L, L-BFGS-B, multi-start).

    `starts=None` runs from all 4500 grid points (faithful to Hoffmann et al., ~15 s for 40 cells); `starts=k`
    runs from the k grid points with the lowest initial objective (k = 8 gives the same optimum in ~0.1 s).

    Returns E, A, B, alpha, beta, objective (final Huber sum), converged (L-BFGS-B success of the best start) and
    at_bound (the constants whose log or exponent sits at a bound of the search box: the fit did not identify them).
    """
    return _public(_fit_log(*_validate(N, D, L), delta=delta, starts=starts))


def _fit_log(N: np.ndarray, D: np.ndarray, L: np.ndarray, *, delta: float, starts: int | None,
             seed_theta: np.ndarray | None = None) -> dict:
    log_n, log_d, log_l = np.log(N), np.log(D), np.log(L)
    x0s = _grid_starts(log_n, log_d, log_l, delta, starts)
    if seed_theta is not None:
        x0s = np.vstack([np.clip(seed_theta, *np.array(_BOUNDS).T), x0s])
    return _fit_from(x0s, log_n, log_d, log_l, delta)


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
                   starts: int | None = DEFAULT_STARTS, delta: float = 1e-3) -> dict:
    """Cross-validated and extrapolation RMSE of the fitted law, in loss units.

    cv_rmse = sqrt(mean_i (L_i - Lhat_{-fold(i)}(N_i, D_i))^2) over k = min(n, 10) folds (loo when k = n);
    extrapolation_rmse fits on cells with extrapolate_by < its maximum and scores the cells at the maximum.
    """
    N, D, L = _validate(N, D, L)
    folds, kind = _folds(len(L), groups)
    predicted = np.empty_like(L)
    for held in folds:
        train = np.setdiff1d(np.arange(len(L)), held)
        if train.size < 5:
            raise ValueError(f"{kind} leaves only {train.size} training cells; need at least 5")
        predicted[held] = predict(_fit_log(N[train], D[train], L[train], delta=delta, starts=starts), N[held], D[held])
    cv_rmse = _rmse(predicted, L)
    return {"cv": kind, "cv_rmse": cv_rmse, "loo_rmse": cv_rmse if kind == "loo" else None,
            "heldout_rmse": cv_rmse, "extrapolation_rmse": _extrapolation_rmse(N, D, L, extrapolate_by, starts, delta),
            "cv_predictions": [float(v) for v in predicted]}


def _extrapolation_rmse(N, D, L, extrapolate_by, starts, delta) -> float | None:
    """RMSE on the cells at the largest extrapolate_by value of a fit to the others; None if undefined."""
    if extrapolate_by is None:
        return None
    by = np.asarray(extrapolate_by, dtype=float).reshape(-1)
    if by.size != len(L):
        raise ValueError(f"extrapolate_by must have {len(L)} values, got {by.size}")
    held = by == by.max()
    if held.all() or (~held).sum() < 5:
        return None
    fit = _fit_log(N[~held], D[~held], L[~held], delta=delta, starts=starts)
    return _rmse(predict(fit, N[held], D[held]), L[held])


def bootstrap_draws(N, D, L, *, samples: int = 100, seed: int = 0, starts: int | None = 3,
                    delta: float = 1e-3, full_fit: dict | None = None) -> np.ndarray:
    """(samples, 5) constants E, A, B, alpha, beta refitted on cell resamples with replacement, each from the full
    fit's solution plus the `starts` best grid points."""
    N, D, L = _validate(N, D, L)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    full = full_fit if full_fit is not None and "_theta" in full_fit else _fit_log(N, D, L, delta=delta,
                                                                                  starts=DEFAULT_STARTS)
    rng = np.random.default_rng(seed)
    draws = np.empty((samples, len(PARAM_NAMES)))
    for row in range(samples):
        idx = rng.integers(0, len(L), size=len(L))
        fit = _fit_log(N[idx], D[idx], L[idx], delta=delta, starts=starts, seed_theta=full["_theta"])
        draws[row] = [fit[name] for name in PARAM_NAMES]
    return draws


def bootstrap_intervals(N, D, L, *, samples: int = 100, seed: int = 0, starts: int | None = 3,
                        delta: float = 1e-3, full_fit: dict | None = None) -> dict:
    """95 % percentile intervals (2.5th, 97.5th) of E, A, B, alpha, beta over cell resamples (bootstrap_draws)."""
    draws = bootstrap_draws(N, D, L, samples=samples, seed=seed, starts=starts, delta=delta, full_fit=full_fit)
    return _percentile_intervals(draws)


def _percentile_intervals(draws: np.ndarray) -> dict:
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return {name: (float(low[k]), float(high[k])) for k, name in enumerate(PARAM_NAMES)}


def fittable_cells(cells: list[dict]) -> list[dict]:
    """Cells with status done, a finite val_loss and positive finite sizes and tokens. P² cells (post-training of a
    structurally pruned model, result.json `structured`) are not pre-training runs: they have a law of their own."""
    keys = (*PREDICTORS, "tokens", "val_loss")
    return [cell for cell in cells if cell.get("status") == "done" and cell.get("structured") is None
            and all(isinstance(cell.get(key), (int, float)) and math.isfinite(cell[key]) and cell[key] > 0
                    for key in keys)]


def fit_predictors(cells: list[dict], *, bootstrap_samples: int = 100, seed: int = 0,
                   starts: int | None = DEFAULT_STARTS) -> dict:
    """The fit.json payload: one Chinchilla fit per size predictor, ranked by heldout_rmse ascending."""
    usable = fittable_cells(cells)
    if len(usable) < 5:
        raise ValueError(f"need at least 5 finished cells with finite val_loss, got {len(usable)}")
    D = np.array([cell["tokens"] for cell in usable], dtype=float)
    L = np.array([cell["val_loss"] for cell in usable], dtype=float)
    extrapolate_by = _dense_size_by_model(usable)
    predictors = {name: _predictor_entry(np.array([cell[name] for cell in usable], dtype=float), D, L,
                                         extrapolate_by, bootstrap_samples, seed, starts) for name in PREDICTORS}
    ranking = sorted(PREDICTORS, key=lambda name: predictors[name]["heldout_rmse"])
    models = {(cell.get("cell") or {}).get("model") for cell in usable}
    ranges = {name: [float(min(c[name] for c in usable)), float(max(c[name] for c in usable))]
              for name in (*PREDICTORS, "tokens")}
    return {"n_cells": len(usable), "cell_ids": [cell.get("cell_id") for cell in usable], "ranges": ranges,
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


def _predictor_entry(N, D, L, extrapolate_by, bootstrap_samples, seed, starts) -> dict:
    full = _fit_log(N, D, L, delta=1e-3, starts=starts)
    entry = {name: float(full[name]) for name in PARAM_NAMES}
    entry.update(objective=float(full["objective"]), converged=bool(full["converged"]), at_bound=full["at_bound"])
    errors = heldout_errors(N, D, L, extrapolate_by=extrapolate_by, starts=starts)
    entry.update({key: errors[key] for key in ("cv", "cv_rmse", "loo_rmse", "heldout_rmse", "extrapolation_rmse",
                                               "cv_predictions")})
    draws = bootstrap_draws(N, D, L, samples=bootstrap_samples, seed=seed, full_fit=full) \
        if bootstrap_samples > 0 else np.empty((0, len(PARAM_NAMES)))
    intervals = _percentile_intervals(draws) if len(draws) else {}
    entry["intervals"] = {name: [low, high] for name, (low, high) in intervals.items()}
    entry["bootstrap_draws"] = draws.tolist()  # rows of E, A, B, alpha, beta: orchestrator-plan's intervals
    return entry
