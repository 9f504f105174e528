"""The P² law: loss after post-training a pruned model (Chen et al. 2024, "Scaling Law for Post-training after
Model Pruning", arXiv 2411.10272, ACL 2025):

    L(N0, D, ρ, L0) = L0 + (1/ρ)^γ (1/N0)^δ (N_C / N0^α + D_C / D^β + E)

N0: parameters of the model before pruning; D: post-training tokens; ρ: pruning ratio (pruning.structured); L0: the
loss of the model before pruning. As in the paper, L0 is measured (an input per point), not fitted; the fitted
constants are N_C, D_C, E, alpha, beta, gamma, delta.

Fit: Levenberg–Marquardt (scipy.optimize.least_squares, method="lm") on residuals in loss units. Parametrisation:
the three constants as logs (they stay positive), α and β as softplus of free parameters (they stay positive:
more parameters or tokens never raise the loss; γ and δ are free), and log ρ, log N0, log D centred on their means
over the fitted points, so that every term is O(1) whatever the units; the centring is folded back into N_C, D_C, E afterwards
(an exact change of variables). Starts: a grid of exponents (alpha, beta, gamma, delta), each with the constants
solved by non-negative least squares (the law is linear in N_C, D_C, E for fixed exponents); LM runs from the
`starts` best and the lowest residual wins. Held-out validation (`p2_heldout_error`): fit on the early part of the
curves of the smaller models at the lower ratios, report the RMSE on the later part, the largest model and the
highest ratio, each separately, and on everything held out.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import least_squares, nnls

PARAM_NAMES = ("N_C", "D_C", "E", "alpha", "beta", "gamma", "delta")
HELDOUT_PARTS = ("later_tokens", "larger_model", "higher_rho")
DEFAULT_STARTS = 8
_EXPONENT_GRID = np.array(list(itertools.product(
    (0.1, 0.3, 0.6, 1.0), (0.1, 0.3, 0.6, 1.0), (-1.5, -0.5, 0.0, 0.5), (-0.3, 0.0, 0.3, 1.0))))  # α, β, γ, δ
_MAX_EXPONENT = 600.0  # exp() arguments are clipped here, so a wild LM step gives a large residual, not inf


def _validate(rho, n0, d, loss, l0) -> tuple[np.ndarray, ...]:
    """Float arrays of equal length (l0 may be one value); ValueError naming the argument otherwise."""
    arrays = {}
    for name, values in (("rho", rho), ("n0", n0), ("d", d), ("loss", loss), ("l0", l0)):
        try:
            array = np.asarray(values, dtype=float).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be numeric: {error}") from None
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite")
        arrays[name] = array
    size = arrays["loss"].size
    if arrays["l0"].size == 1:
        arrays["l0"] = np.full(size, arrays["l0"][0])
    sizes = {name: array.size for name, array in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"rho, n0, d, loss, l0 must have equal lengths (l0 may be one value), got {sizes}")
    if not np.all((arrays["rho"] > 0) & (arrays["rho"] <= 1)):
        raise ValueError("rho must be in (0, 1]")
    for name in ("n0", "d"):
        if not np.all(arrays[name] > 0):
            raise ValueError(f"{name} must be positive")
    return arrays["rho"], arrays["n0"], arrays["d"], arrays["loss"], arrays["l0"]


def _softplus(x):
    """log(1 + e^x): α and β are softplus of free parameters, so they stay > 0 (more parameters or more tokens
    never raise the loss); γ and δ are free."""
    return np.logaddexp(0.0, x)


def _inverse_softplus(y: float) -> float:
    return float(y + np.log(-np.expm1(-y)))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _increments(theta: np.ndarray, w: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The three terms of L − L0 in centred coordinates, shape (n, 3); theta = (nc, dc, e, a, b, γ, δ) with
    α = softplus(a), β = softplus(b)."""
    nc, dc, e, a, b, gamma, delta = theta
    alpha, beta = _softplus(a), _softplus(b)
    scale = -gamma * w - delta * u
    exponents = np.stack([scale + nc - alpha * u, scale + dc - beta * v, scale + e], axis=1)
    return np.exp(np.clip(exponents, -_MAX_EXPONENT, _MAX_EXPONENT))


def _residuals(theta, w, u, v, excess) -> np.ndarray:
    return _increments(theta, w, u, v).sum(axis=1) - excess


def _jacobian(theta, w, u, v, excess) -> np.ndarray:
    """d residual / d (nc, dc, e, α, β, γ, δ)."""
    terms = _increments(theta, w, u, v)  # (n, 3)
    total = terms.sum(axis=1)
    d_alpha, d_beta = _sigmoid(theta[3]), _sigmoid(theta[4])  # d softplus / d raw
    return np.stack([terms[:, 0], terms[:, 1], terms[:, 2], -u * terms[:, 0] * d_alpha, -v * terms[:, 1] * d_beta,
                     -w * total, -u * total], axis=1)


def _grid_starts(w, u, v, excess, starts: int) -> list[np.ndarray]:
    """The `starts` exponent-grid points of lowest residual, each with its constants by non-negative least squares."""
    scored = []
    for alpha, beta, gamma, delta in _EXPONENT_GRID:
        scale = np.exp(-gamma * w - delta * u)
        features = scale[:, None] * np.stack([np.exp(-alpha * u), np.exp(-beta * v), np.ones_like(u)], axis=1)
        constants, residual_norm = nnls(features, excess)
        floor = max(constants.max(), 1e-12) * 1e-3  # a zero constant becomes small but finite in log space
        logs = np.log(np.maximum(constants, floor))
        scored.append((residual_norm, np.array([*logs, _inverse_softplus(alpha), _inverse_softplus(beta), gamma,
                                                delta])))
    scored.sort(key=lambda item: item[0])
    return [theta for _, theta in scored[:max(1, starts)]]


def fit_p2(rho, n0, d, loss, l0, *, starts: int = DEFAULT_STARTS) -> dict:
    """Fit the P² law to points (ρ_i, N0_i, D_i, L_i) with measured pre-pruning losses L0_i (one value for all is
    allowed). Needs at least 8 points (7 constants are fitted).

    Returns N_C, D_C, E, alpha, beta, gamma, delta; rmse (root mean squared residual, loss units); objective
    (½ Σ residual²); converged (LM success of the best start); n_points.
    """
    rho, n0, d, loss, l0 = _validate(rho, n0, d, loss, l0)
    if loss.size < len(PARAM_NAMES) + 1:
        raise ValueError(f"fit_p2 needs at least {len(PARAM_NAMES) + 1} points, got {loss.size}")
    centres = np.log(rho).mean(), np.log(n0).mean(), np.log(d).mean()
    w, u, v = np.log(rho) - centres[0], np.log(n0) - centres[1], np.log(d) - centres[2]
    excess = loss - l0
    best = None
    for x0 in _grid_starts(w, u, v, excess, starts):
        result = least_squares(_residuals, x0, jac=_jacobian, args=(w, u, v, excess), method="lm",
                               xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
        if np.all(np.isfinite(result.x)) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise ValueError("fit_p2: no start converged to finite constants")
    fit = _uncentred(best.x, centres)
    fit.update(rmse=math.sqrt(2 * best.cost / loss.size), objective=float(best.cost),
               converged=bool(best.success), n_points=int(loss.size))
    return fit


def _uncentred(theta: np.ndarray, centres: tuple[float, float, float]) -> dict:
    """Fold the centring back: (1/ρ)^γ (1/N0)^δ with raw ρ, N0 differs from the centred form by exp(γ c_ρ + δ c_N),
    and N0^−α, D^−β by exp(α c_N), exp(β c_D)."""
    nc, dc, e, a, b, gamma, delta = (float(value) for value in theta)
    alpha, beta = float(_softplus(a)), float(_softplus(b))
    c_rho, c_n, c_d = centres
    shared = gamma * c_rho + delta * c_n
    return {"N_C": math.exp(nc + alpha * c_n + shared), "D_C": math.exp(dc + beta * c_d + shared),
            "E": math.exp(e + shared), "alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}


def predict_p2(params: dict, rho, n0, d, l0) -> np.ndarray:
    """L = L0 + (1/ρ)^γ (1/N0)^δ (N_C/N0^α + D_C/D^β + E), computed in log space."""
    rho, n0, d, l0 = (np.asarray(values, dtype=float) for values in (rho, n0, d, l0))
    log_n0 = np.log(n0)
    log_scale = -params["gamma"] * np.log(rho) - params["delta"] * log_n0
    terms = (np.exp(log_scale + _log(params["N_C"]) - params["alpha"] * log_n0)
             + np.exp(log_scale + _log(params["D_C"]) - params["beta"] * np.log(d))
             + np.exp(log_scale + _log(params["E"])))
    return l0 + terms


def _log(constant: float) -> float:
    """log of a fitted constant; one that underflowed to 0 when the fit drove it to nothing contributes 0."""
    return math.log(constant) if constant > 0 else -math.inf


def heldout_split(rho, n0, d, *, early_fraction: float = 0.5) -> dict[str, np.ndarray]:
    """Boolean masks over the points: `train` = early (D ≤ early_fraction · max D), not the largest N0, not the
    highest ρ. Each held-out part goes beyond the training range along exactly one axis: `later_tokens` (D past the
    cutoff), `larger_model` (the largest N0), `higher_rho` (the highest ρ); `heldout` = everything not in train
    (parts plus points beyond on several axes). With a single distinct N0 (or ρ), that axis holds nothing out.
    """
    if not 0.0 < early_fraction < 1.0:
        raise ValueError(f"early_fraction must be in (0, 1), got {early_fraction}")
    rho, n0, d = (np.asarray(values, dtype=float).reshape(-1) for values in (rho, n0, d))
    if not rho.size == n0.size == d.size:
        raise ValueError(f"rho, n0, d must have equal lengths, got {rho.size}, {n0.size}, {d.size}")
    later = d > early_fraction * d.max()
    larger = (n0 == n0.max()) if np.unique(n0).size > 1 else np.zeros_like(later)
    higher = (rho == rho.max()) if np.unique(rho).size > 1 else np.zeros_like(later)
    train = ~later & ~larger & ~higher
    return {"train": train, "later_tokens": later & ~larger & ~higher, "larger_model": larger & ~later & ~higher,
            "higher_rho": higher & ~later & ~larger, "heldout": ~train}


def _rmse(predicted: np.ndarray, actual: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean((predicted - actual) ** 2))) if actual.size else None


def p2_heldout_error(rho, n0, d, loss, l0, *, early_fraction: float = 0.5, starts: int = DEFAULT_STARTS) -> dict:
    """Fit on `heldout_split`'s train points, predict the rest.

    Returns `fit` (fit_p2 on the train points), `train_rmse`, `<part>_rmse` for each of later_tokens, larger_model,
    higher_rho, and `heldout_rmse` over every held-out point (None where a part is empty), `n_<part>` counts and
    the token cutoff `d_cutoff`.
    """
    rho, n0, d, loss, l0 = _validate(rho, n0, d, loss, l0)
    split = heldout_split(rho, n0, d, early_fraction=early_fraction)
    train = split["train"]
    fit = fit_p2(rho[train], n0[train], d[train], loss[train], l0[train], starts=starts)
    predicted = predict_p2(fit, rho, n0, d, l0)
    result = {"fit": fit, "early_fraction": early_fraction, "d_cutoff": float(early_fraction * d.max())}
    for part in ("train", *HELDOUT_PARTS, "heldout"):
        mask = split[part]
        result[f"{part}_rmse"] = _rmse(predicted[mask], loss[mask])
        result[f"n_{part}"] = int(mask.sum())
    return result
