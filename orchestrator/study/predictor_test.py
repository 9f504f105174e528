"""Finding 2's statistics: does the law on N_avg predict held-out cells better than the laws on N_final and
N_initial, by more than chance?

Every law is scored on the same cross-validation folds (fit.json `cv_predictions`), so the three held-out residuals
of a cell are paired. The interval of RMSE(other) − RMSE(N_avg) is a paired bootstrap over cells: resample cells with
replacement, recompute both RMSEs on the same resample, take the 2.5–97.5 % percentiles. "holds" needs every
interval above 0; "does not hold" when one lies below 0 (another size predicts better); otherwise
"inconclusive".
"""
from __future__ import annotations

import numpy as np

BOOTSTRAP = 2000
_SEED = 20252
AVG = "avg_params"


def rmse_difference_intervals(actual: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """{other: [low, high]}: the 95 % paired-bootstrap interval of RMSE(other) − RMSE(avg_params)."""
    rng = np.random.default_rng(_SEED)
    index = rng.integers(0, actual.size, size=(BOOTSTRAP, actual.size))

    def resampled_rmse(name: str) -> np.ndarray:
        return np.sqrt(np.mean(np.square(actual - predictions[name])[index], axis=1))

    base = resampled_rmse(AVG)
    intervals = {}
    for name in predictions:
        if name != AVG:
            low, high = np.percentile(resampled_rmse(name) - base, [2.5, 97.5])
            intervals[name] = [float(low), float(high)]
    return intervals


def comparison_verdict(intervals: dict[str, list[float]]) -> bool | None:
    """True when every interval lies above 0, False when one lies below 0, None (inconclusive) otherwise."""
    if all(low > 0 for low, _ in intervals.values()):
        return True
    if any(high < 0 for _, high in intervals.values()):
        return False
    return None


def heldout_rmse(actual: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.sqrt(np.mean(np.square(actual - predicted)))) for name, predicted in predictions.items()}
