"""Finding 3: at equal N_avg and tokens, a pruned model's loss is close to a dense model's. Each pruned cell's gap
to the dense loss at its tokens and N_avg, read off the dense cells by interpolation (no law, so no fit error
enters), and for contrast at N_final and N_initial, against the seed noise and the interpolation's own error."""
from __future__ import annotations

import math

import numpy as np

from orchestrator.study.evidence import DENSE_LADDER_HINT, INCONCLUSIVE, seed_noise, verdict_of
from orchestrator.study.figures import is_dense
from orchestrator.study.scaling_law import PREDICTORS, fittable_cells

NOISE_MULTIPLE = 2.0  # "within noise": a difference at most this many seed standard deviations


def _interpolate_log(x: float, points: dict[float, float]) -> float | None:
    """points {x_k: y_k} interpolated linearly in log x at x; None outside [min x_k, max x_k]."""
    xs = sorted(points)
    if not xs or not xs[0] <= x <= xs[-1]:
        return None
    if len(xs) == 1:
        return points[xs[0]]
    return float(np.interp(math.log(x), [math.log(k) for k in xs], [points[k] for k in xs]))


def dense_loss_at(dense: list[dict], n: float, d: float) -> float | None:
    """The val loss of a dense model of n parameters trained on d tokens, read off the dense cells without a law:
    along each dense size, interpolated in log tokens; then between the two sizes that bracket n, in log N.
    None where n is outside the dense sizes or d outside the token counts of a bracketing size."""
    by_size: dict[float, dict[float, list[float]]] = {}
    for cell in dense:
        by_size.setdefault(float(cell["avg_params"]), {}).setdefault(float(cell["tokens"]), []).append(cell["val_loss"])
    sizes = sorted(by_size)
    if not sizes or not sizes[0] <= n <= sizes[-1]:
        return None
    bracket = {max(k for k in sizes if k <= n), min(k for k in sizes if k >= n)}
    along = {size: _interpolate_log(d, {t: float(np.mean(v)) for t, v in by_size[size].items()}) for size in bracket}
    if any(value is None for value in along.values()):
        return None
    return _interpolate_log(n, along)


def interpolation_error(dense: list[dict]) -> dict | None:
    """How well dense_loss_at reads the dense grid: RMSE of each dense cell's loss against the interpolation of the
    others (leave one out; conservative, as leaving a cell out doubles the spacing around it). None below 3 cells."""
    errors = []
    for k, cell in enumerate(dense):
        reference = dense_loss_at(dense[:k] + dense[k + 1:], cell["avg_params"], cell["tokens"])
        if reference is not None:
            errors.append(cell["val_loss"] - reference)
    if len(errors) < 3:
        return None
    return {"rmse": float(np.sqrt(np.mean(np.square(errors)))), "n": len(errors)}


def _dense_verdict(mean_gap: float, noise: float | None, reference_error: dict | None) -> dict:
    """Holds within NOISE_MULTIPLE × seed noise; does not hold beyond NOISE_MULTIPLE × the combined uncertainty of
    the seed noise and the dense reference's interpolation error; inconclusive in between."""
    if noise is None:
        return verdict_of(None)
    if abs(mean_gap) <= NOISE_MULTIPLE * noise:
        return verdict_of(True)
    uncertainty = math.hypot(noise, reference_error["rmse"] if reference_error else 0.0)
    if abs(mean_gap) > NOISE_MULTIPLE * uncertainty:
        return verdict_of(False)
    return {"holds": None, "verdict": INCONCLUSIVE}


def _gap_summary(gaps: list[float]) -> dict:
    if not gaps:
        return {"n": 0}
    return {"n": len(gaps), "mean": float(np.mean(gaps)), "mean_abs": float(np.mean(np.abs(gaps))),
            "min": float(min(gaps)), "max": float(max(gaps))}


def dense_references(cells: list[dict]) -> tuple[list[dict], list[dict], list[dict[str, float | None]]]:
    """(dense cells, pruned cells, per pruned cell {predictor: the dense loss at its tokens and that size, or None})
    of the fittable cells: the numbers finding 3 and its figure (dense_equivalence_figure.py) are made of."""
    usable = fittable_cells(cells)
    dense = [c for c in usable if is_dense(c)]
    pruned = [c for c in usable if not is_dense(c)]
    return dense, pruned, [{name: dense_loss_at(dense, c[name], c["tokens"]) for name in PREDICTORS} for c in pruned]


def dense_equivalence_finding(cells: list[dict]) -> dict:
    """Finding 3: pruned val loss minus the dense loss at the same tokens and N = N_avg (for contrast N_final and
    N_initial, on the cells where all three have a dense reference), against the seed noise and the dense
    reference's interpolation error (see _dense_verdict)."""
    dense, pruned, refs = dense_references(cells)
    noise, _ = seed_noise(cells)
    at_avg = [(c, c["val_loss"] - r["avg_params"]) for c, r in zip(pruned, refs) if r["avg_params"] is not None]
    if not at_avg:
        return {"n_dense": len(dense), "n_pruned": len(pruned), **verdict_of(None),
                "to_test": "no pruned cell has a dense reference at its N_avg and tokens; dense cells of sizes and "
                           f"token counts around the pruned cells' would test it, e.g. `{DENSE_LADDER_HINT}`"}
    common = [(c, r) for c, r in zip(pruned, refs) if all(v is not None for v in r.values())]
    by_sparsity: dict[float, list[float]] = {}
    for cell, gap in at_avg:
        by_sparsity.setdefault(float(cell["cell"]["sparsity"]), []).append(gap)
    gap = _gap_summary([g for _, g in at_avg])
    reference_error = interpolation_error(dense)
    return {
        "n_dense": len(dense), "n_pruned": len(pruned), "noise": noise, "noise_multiple": NOISE_MULTIPLE,
        "dense_sizes": sorted({float(c["avg_params"]) for c in dense}), "gap": gap,
        "mean_pct": float(np.mean([100 * g / (c["val_loss"] - g) for c, g in at_avg])),
        "no_reference": len(pruned) - len(at_avg),
        "by_sparsity": {f"{s:g}": _gap_summary(v) for s, v in sorted(by_sparsity.items())},
        "contrast": {name: _gap_summary([c["val_loss"] - r[name] for c, r in common]) for name in PREDICTORS},
        "reference_error": reference_error, **_dense_verdict(gap["mean"], noise, reference_error),
    } | ({} if noise is not None else {"to_test": "no config was run with several seeds, so the seed noise is "
                                                  "unknown; seeds 1 and 2 of a few pruned cells would test it"})
