"""Beyond the paper: which pruning window and sparsity to use for a compute budget and a target final size,
by the fitted law on N_avg.

For a target final size N and each candidate sparsity s, the dense model has N0 = N / (1 − s). A compute budget of
C parameter-tokens (≈ FLOPs / 6 of the prunable weights) gives it C / N0 dense-equivalent tokens; the iso-compute
planner turns that into a schedule for each window, whose N_avg = avg_density · N0 and tokens D = T · tokens per step
go into L = E + A / N_avg^alpha + B / D^beta. The lowest predicted loss wins.
"""
from __future__ import annotations

from orchestrator.study.scaling_law import predict
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
            "candidates": candidates}
