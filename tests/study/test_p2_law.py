"""The P² law fitter (Chen et al. 2024): recovers planted constants, predicts held-out points, splits them right."""
import math

import numpy as np
import pytest

from orchestrator.study.p2_law import PARAM_NAMES, fit_p2, heldout_split, p2_heldout_error, predict_p2

# Two planted laws in different units: small CPU-scale models, and paper-scale models and token counts.
PLANTED = {
    "cpu-scale": ({"N_C": 1e3, "D_C": 2e3, "E": 5.0, "alpha": 0.3, "beta": 0.3, "gamma": -0.8, "delta": 0.2},
                  [1e6, 2e6, 4e6, 8e6], (1e6, 1e8)),
    "paper-scale": ({"N_C": 5e6, "D_C": 1e5, "E": 500.0, "alpha": 0.5, "beta": 0.25, "gamma": -1.2, "delta": 0.35},
                    [5e7, 1e8, 2e8, 4e8], (1e8, 1e10)),
}
RATIOS = [0.15, 0.2, 0.25, 0.3, 0.35]


def _synthetic(name: str, noise: float = 0.0, seed: int = 0):
    """A grid N0 × ρ × D (8 log-spaced points per curve) with the planted law and Gaussian noise on the loss."""
    params, sizes, (d_low, d_high) = PLANTED[name]
    n0, rho, d = (a.ravel() for a in np.meshgrid(sizes, RATIOS, np.geomspace(d_low, d_high, 8), indexing="ij"))
    l0 = 2.0 + 300.0 / n0 ** 0.3  # the unpruned models' losses
    loss = predict_p2(params, rho, n0, d, l0) + np.random.default_rng(seed).normal(0.0, noise, n0.size)
    return params, rho, n0, d, loss, l0


def test_predict_is_the_p2_formula():
    params = PLANTED["cpu-scale"][0]
    rho, n0, d, l0 = 0.25, 2e6, 3e7, 2.5
    expected = l0 + (1 / rho) ** params["gamma"] * (1 / n0) ** params["delta"] * (
        params["N_C"] / n0 ** params["alpha"] + params["D_C"] / d ** params["beta"] + params["E"])
    assert predict_p2(params, rho, n0, d, l0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_recovers_planted_constants_exactly_without_noise(name):
    params, rho, n0, d, loss, l0 = _synthetic(name)
    fit = fit_p2(rho, n0, d, loss, l0)
    for key in PARAM_NAMES:
        assert fit[key] == pytest.approx(params[key], rel=1e-6), key
    assert fit["rmse"] < 1e-9 and fit["converged"] and fit["n_points"] == loss.size


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_recovers_planted_constants_with_small_noise(name):
    params, rho, n0, d, loss, l0 = _synthetic(name, noise=1e-3)
    fit = fit_p2(rho, n0, d, loss, l0)
    for key in ("alpha", "beta", "gamma", "delta"):
        assert fit[key] == pytest.approx(params[key], abs=0.03), key
    for key in ("N_C", "D_C", "E"):
        assert fit[key] == pytest.approx(params[key], rel=0.25), key
    assert 0.7e-3 < fit["rmse"] < 1.2e-3  # the residual is the noise, not misfit


def test_heldout_split_puts_each_point_on_the_right_side():
    rho = np.array([0.2, 0.2, 0.2, 0.3, 0.2, 0.3, 0.2, 0.3])
    n0 = np.array([1e6, 1e6, 4e6, 1e6, 4e6, 4e6, 1e6, 4e6])
    d = np.array([10, 40, 10, 10, 100, 10, 100, 100], dtype=float)
    split = heldout_split(rho, n0, d, early_fraction=0.5)  # early: d <= 50
    assert split["train"].tolist() == [True, True, False, False, False, False, False, False]
    assert np.flatnonzero(split["larger_model"]).tolist() == [2]
    assert np.flatnonzero(split["higher_rho"]).tolist() == [3]
    assert np.flatnonzero(split["later_tokens"]).tolist() == [6]
    assert np.flatnonzero(split["heldout"]).tolist() == [2, 3, 4, 5, 6, 7]  # 4, 5, 7 are beyond on two axes or more
    single_model = heldout_split(rho, np.full(8, 1e6), d)
    assert not single_model["larger_model"].any() and single_model["train"][2]


def test_heldout_error_fits_early_small_low_ratio_and_predicts_the_rest():
    params, rho, n0, d, loss, l0 = _synthetic("cpu-scale", noise=1e-3, seed=1)
    result = p2_heldout_error(rho, n0, d, loss, l0, early_fraction=0.5)
    split = heldout_split(rho, n0, d, early_fraction=0.5)
    assert result["n_train"] == split["train"].sum() == 3 * 4 * 6  # 3 smaller models, 4 lower ratios, 6 early D
    assert result["fit"]["n_points"] == result["n_train"]
    assert result["d_cutoff"] == pytest.approx(0.5e8)
    for part in ("later_tokens", "larger_model", "higher_rho", "heldout"):
        assert result[f"n_{part}"] > 0
        assert result[f"{part}_rmse"] < 3e-3, part  # extrapolation error of the order of the noise
    # A law without the pruning-ratio term predicts the higher ratio badly: the check has teeth.
    wrong = {**result["fit"], "gamma": 0.0}
    higher = split["higher_rho"]
    wrong_rmse = math.sqrt(np.mean((predict_p2(wrong, rho[higher], n0[higher], d[higher], l0[higher])
                                    - loss[higher]) ** 2))
    assert wrong_rmse > 30 * result["higher_rho_rmse"]


def test_l0_may_be_one_value_and_bad_input_is_named():
    params, rho, n0, d, _, _ = _synthetic("cpu-scale")
    loss = predict_p2(params, rho, n0, d, 2.5)
    fit = fit_p2(rho, n0, d, loss, 2.5)  # one L0 for every point
    assert fit["delta"] == pytest.approx(params["delta"], rel=1e-6)
    with pytest.raises(ValueError, match="at least 8 points"):
        fit_p2(rho[:7], n0[:7], d[:7], loss[:7], 2.0)
    with pytest.raises(ValueError, match="equal lengths"):
        fit_p2(rho, n0[:-1], d, loss, 2.0)
    with pytest.raises(ValueError, match="rho"):
        fit_p2(rho * 10, n0, d, loss, 2.0)
    with pytest.raises(ValueError, match="early_fraction"):
        heldout_split(rho, n0, d, early_fraction=1.0)
