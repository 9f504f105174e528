"""Chinchilla fits (orchestrator.study.scaling_law) on synthetic data drawn from a planted law."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from store_records import result_record

from orchestrator.study.scaling_law import (PARAM_NAMES, PREDICTORS, bootstrap_intervals, fit_chinchilla,
                                            fit_predictors, heldout_errors, predict)

PLANTED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Approach 3


def _planted_grid(seed: int = 1, noise: float = 0.005) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """42 (N, D) points over 1e5..1e8 params x 1e7..1e10 tokens, L with multiplicative Gaussian noise."""
    N, D = (grid.ravel() for grid in np.meshgrid(np.logspace(5, 8, 7), np.logspace(7, 10, 6)))
    rng = np.random.default_rng(seed)
    return N, D, predict(PLANTED, N, D) * (1 + noise * rng.standard_normal(N.size))


def _pruned_cells(seed: int = 0) -> list[dict]:
    """36 cells, 3 model sizes x 3 final densities x 4 token budgets; the loss follows the law in avg_params.

    A cell pruned to final density f averages (1 + f) / 2 of its initial parameters over training.
    """
    rng = np.random.default_rng(seed)
    cells = []
    for model, initial in (("s", 2e6), ("m", 8e6), ("l", 3e7)):
        for density in (1.0, 0.5, 0.25):
            for tokens in (2e8, 5e8, 1.2e9, 3e9):
                avg = initial * (1 + density) / 2
                loss = float(predict(PLANTED, avg, tokens)) * (1 + 0.002 * rng.standard_normal())
                cells.append(result_record(val_loss=loss, sparsity=1 - density, window=(0.0, 1.0), model=model,
                                           initial=initial, avg=avg, final=initial * density, tokens=tokens))
    return cells


def test_fit_recovers_planted_constants():
    N, D, L = _planted_grid()
    fit = fit_chinchilla(N, D, L, starts=8)
    assert abs(fit["alpha"] - PLANTED["alpha"]) < 0.05
    assert abs(fit["beta"] - PLANTED["beta"]) < 0.05
    assert abs(fit["E"] - PLANTED["E"]) < 0.05
    assert np.max(np.abs(predict(fit, N, D) / predict(PLANTED, N, D) - 1)) < 0.01
    assert fit["converged"] and math.isfinite(fit["objective"])
    assert all(isinstance(fit[name], float) for name in PARAM_NAMES)


def test_fit_accepts_lists_and_stays_finite_with_few_distinct_values():
    N = [1e6, 1e6, 1e6, 4e6, 4e6, 4e6]
    D = [1e8, 1e9, 1e8, 1e9, 1e8, 1e9]
    L = [float(v) for v in predict(PLANTED, N, D)]
    fit = fit_chinchilla(N, D, L, starts=4)
    assert all(math.isfinite(fit[name]) for name in PARAM_NAMES)
    assert 0 <= fit["alpha"] <= 3 and 0 <= fit["beta"] <= 3
    assert np.allclose(predict(fit, N, D), L, rtol=0.01)


@pytest.mark.parametrize("kwargs, name", [
    ({"N": [1e6, 2e6, 3e6, 4e6]}, "N"),
    ({"D": [1e8, 2e8, -1.0, 4e8, 5e8]}, "D"),
    ({"L": [3.0, 2.9, float("nan"), 2.7, 2.6]}, "L"),
    ({"N": [1e6, 2e6, 3e6, 4e6, 5e6, 6e6]}, "equal lengths"),
    ({"L": ["a", "b", "c", "d", "e"]}, "L"),
])
def test_bad_input_raises_naming_the_argument(kwargs, name):
    args = {"N": [1e6, 2e6, 3e6, 4e6, 5e6], "D": [1e8, 2e8, 3e8, 4e8, 5e8], "L": [3.0, 2.9, 2.8, 2.7, 2.6]}
    args.update(kwargs)
    for function in (fit_chinchilla, heldout_errors, bootstrap_intervals):
        with pytest.raises(ValueError, match=name):
            function(args["N"], args["D"], args["L"])


def test_heldout_errors_keys_and_scale():
    N, D, L = _planted_grid()
    by = np.repeat(np.arange(6), 7)  # the token budget, so the largest D is extrapolated to
    errors = heldout_errors(N, D, L, extrapolate_by=by, starts=4)
    assert errors["cv"] == "kfold-10" and errors["loo_rmse"] is None
    assert errors["heldout_rmse"] == errors["cv_rmse"] < 0.05
    assert 0 < errors["extrapolation_rmse"] < 0.1
    few = heldout_errors(N[:8], D[:8] * np.arange(1, 9), L[:8], starts=2)
    assert few["cv"] == "loo" and few["loo_rmse"] == few["heldout_rmse"]
    assert few["extrapolation_rmse"] is None
    assert heldout_errors(N, D, L, extrapolate_by=np.ones(N.size), starts=2)["extrapolation_rmse"] is None
    assert heldout_errors(N, D, L, groups=np.arange(N.size) // 7, starts=2)["cv"] == "group-kfold-6"


def test_bootstrap_intervals_contain_the_estimate():
    N, D, L = _planted_grid()
    fit = fit_chinchilla(N, D, L, starts=8)
    intervals = bootstrap_intervals(N, D, L, samples=20, seed=3, starts=1)
    assert set(intervals) == set(PARAM_NAMES)
    for name, (low, high) in intervals.items():
        assert low <= fit[name] <= high, name
    assert intervals == bootstrap_intervals(N, D, L, samples=20, seed=3, starts=1)


def test_fit_predictors_ranks_avg_params_first():
    cells = _pruned_cells()
    cells += [dict(cells[0], status="failed"), dict(cells[1], val_loss=float("nan")), dict(cells[2], val_loss=None)]
    payload = fit_predictors(cells, bootstrap_samples=5, starts=4)
    assert payload["n_cells"] == 36
    assert payload["best"] == "avg_params" == payload["ranking"][0]
    assert sorted(payload["ranking"]) == sorted(PREDICTORS) == sorted(payload["predictors"])
    best = payload["predictors"]["avg_params"]
    assert best["heldout_rmse"] < 0.5 * min(payload["predictors"][name]["heldout_rmse"] for name in PREDICTORS[1:])
    assert best["extrapolation_rmse"] is not None and best["extrapolation_rmse"] < 0.1
    assert set(best["intervals"]) == set(PARAM_NAMES)
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


def test_fit_predictors_needs_five_finished_cells():
    cells = _pruned_cells()[:4] + [dict(cell, status="failed") for cell in _pruned_cells()[4:8]]
    with pytest.raises(ValueError, match="need at least 5 finished cells"):
        fit_predictors(cells)
