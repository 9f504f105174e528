"""Beyond the paper: which pruning window and sparsity to use for a compute budget and a target final size,
by the fitted law on N_avg.

For a target final size N and each candidate sparsity s, the dense model has N0 = N / (1 − s). A compute budget of
C parameter-tokens (≈ FLOPs / 6 of the prunable weights) gives it C / N0 dense-equivalent tokens; the iso-compute
planner turns that into a schedule for each window, whose N_avg = avg_density · N0 and tokens D = T · tokens per step
go into L = E + A / N_avg^alpha + B / D^beta. The lowest predicted loss wins.
"""
from __future__ import annotations

import numpy as np

from orchestrator.study.scaling_law import PARAM_NAMES, predict
from pruning.plan import plan_iso_compute

WINDOWS = [(a, b) for a in (0.0, 0.25, 0.5, 0.75) for b in (0.25, 0.5, 0.75, 1.0) if a < b]
SPARSITIES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def recommend(fit: dict, *, compute: float, final_params: float, tokens_per_step: int, every: int = 100,
              schedule: str = "geometric") -> dict:
    if "avg_params" not in fit.get("predictors", {}):
        raise ValueError("fit.json has no avg_params predictor")
    if compute <= 0 or final_params <= 0 or tokens_per_step <= 0:
        raise ValueError("--compute, --final-params and --tokens-per-step must be > 0")
    law = fit["predictors"]["avg_params"]
    candidates = []
    for sparsity in SPARSITIES:
        dense_params = final_params / (1.0 - sparsity)
        dense_steps = round(compute / dense_params / tokens_per_step)
        if dense_steps < every:
            continue
        for start, end in (WINDOWS if sparsity > 0 else [(0.25, 0.75)]):
            plan = plan_iso_compute(sparsity=sparsity, dense_steps=dense_steps, start=start, end=end, every=every,
                                    schedule=schedule if sparsity > 0 else "none")
            n_avg, tokens = plan.avg_density * dense_params, plan.total_steps * tokens_per_step
            loss = float(predict(law, [n_avg], [tokens])[0])
            candidates.append({"sparsity": sparsity, "start": start, "end": end, "dense_params": dense_params,
                               "avg_params": n_avg, "tokens": tokens, "total_steps": plan.total_steps,
                               "predicted_loss": loss})
    if not candidates:
        raise ValueError("the compute budget is too small for any candidate (fewer than `every` steps)")
    candidates.sort(key=lambda c: c["predicted_loss"])
    return {"best": candidates[0], "runner_up": candidates[1] if len(candidates) > 1 else None,
            "candidates": candidates, **_uncertainty(law, candidates), "warnings": _outside_the_fit(fit, candidates[0])}


def _uncertainty(law: dict, candidates: list[dict]) -> dict:
    """Over the fit's bootstrap draws (fit.json avg_params.bootstrap_draws): the 95 % interval of the best
    candidate's predicted loss, and how often it is still the best; nothing when the fit kept no draws."""
    draws = np.array(law.get("bootstrap_draws") or [], dtype=float).reshape(-1, len(PARAM_NAMES))
    if not len(draws):
        return {}
    n = np.array([c["avg_params"] for c in candidates])
    d = np.array([c["tokens"] for c in candidates])
    losses = np.stack([predict(dict(zip(PARAM_NAMES, row)), n, d) for row in draws])  # (draws, candidates)
    low, high = np.percentile(losses[:, 0], [2.5, 97.5])
    return {"predicted_loss_interval": [float(low), float(high)],
            "best_in_share_of_draws": float(np.mean(np.argmin(losses, axis=1) == 0)), "n_draws": len(draws)}


def _outside_the_fit(fit: dict, best: dict) -> list[str]:
    """A warning for each of the recommendation's N_avg and tokens that lies outside the cells the law was fitted
    on (fit.json `ranges`): there the law extrapolates."""
    ranges, warnings = fit.get("ranges") or {}, []
    for key, label in (("avg_params", "N_avg"), ("tokens", "tokens")):
        if key in ranges:
            low, high = ranges[key]
            if not low <= best[key] <= high:
                factor = best[key] / high if best[key] > high else low / best[key]
                warnings.append(f"the recommendation's {label} = {best[key]:.3g} lies {factor:.3g}x outside the "
                                f"fitted range [{low:.3g}, {high:.3g}]: the law extrapolates there")
    return warnings
