"""The paper's findings 1 and 2 tested on a store's cells, and the findings.json payload of all three.

(1) Pruning from 25 % to 75 % of compute is near-optimal: per (model, duration, sparsity, schedule) group of
    windowed cells, the 0.25–0.75 window's mean val loss, its rank among the windows and its gap to the best one,
    tested against the seed noise of its budget (window_test: selection-aware, calibrated).
(2) The law on N_avg predicts held-out cells better than the laws on N_final or N_initial: the held-out RMSE of each
    (fit.json, which fits dense and pruned cells together) and paired-bootstrap intervals of their differences
    (predictor_test), on all fitted cells and on the pruned ones only.
(3) is in dense_equivalence.py; the markdown of all three in findings_markdown.py.
"""
from __future__ import annotations

import numpy as np

from orchestrator.study.dense_equivalence import dense_equivalence_finding
from orchestrator.study.evidence import (DENSE_LADDER_HINT, INCONCLUSIVE, noise_by_budget, seed_noise,
                                         verdict_of)
from orchestrator.study.figures import duration_label, duration_order, is_dense, split_duration, val_loss
from orchestrator.study.flops import true_compute_ratio
from orchestrator.study.predictor_test import comparison_verdict, heldout_rmse, rmse_difference_intervals
from orchestrator.study.scaling_law import PREDICTORS
from orchestrator.study.window_test import ALPHA, family_verdict, gap_interval, gap_p_value

PAPER_WINDOW = (0.25, 0.75)
WINDOW_SCHEDULES = ("geometric", "cubic")
TEST_NAME = ("studentised gap to the best other window against its simulated null (all windows tied), seed noise "
             "per budget, Bonferroni over groups")
NOISE_FLAG = 3.0  # a law whose held-out RMSE exceeds this many seed standard deviations misses more than noise


def _window(cell: dict) -> tuple[float, float]:
    return float(cell["cell"]["start"]), float(cell["cell"]["end"])


def _window_row(cells: list[dict], noise: dict | None) -> dict | None:
    """The paper window's standing in one (model, duration, sparsity, schedule) group, with the test of
    window_test when its budget has a seed-noise estimate; None if it was not run there beside another window."""
    by_window: dict[tuple[float, float], list[float]] = {}
    tokens: dict[tuple[float, float], float] = {}
    compute: dict[tuple[float, float], list[float]] = {}
    for cell in cells:
        by_window.setdefault(_window(cell), []).append(val_loss(cell))
        tokens[_window(cell)] = float(cell.get("tokens") or 0.0)
        ratio = true_compute_ratio(cell)
        if ratio is not None:
            compute.setdefault(_window(cell), []).append(ratio)
    if PAPER_WINDOW not in by_window or len(by_window) < 2:
        return None
    means = {w: float(np.mean(v)) for w, v in by_window.items()}
    seeds = {w: len(v) for w, v in by_window.items()}
    ranked = sorted(means, key=means.get)
    best, paper = ranked[0], means[PAPER_WINDOW]
    row = {
        "n_windows": len(means), "paper_mean": paper, "paper_seeds": seeds[PAPER_WINDOW],
        "paper_rank": ranked.index(PAPER_WINDOW) + 1, "best_window": list(best), "best_mean": means[best],
        "worst_mean": means[ranked[-1]], "gap": paper - means[best], "spread": means[ranked[-1]] - means[best],
        "tokens_ratio": tokens[best] / tokens[PAPER_WINDOW] if tokens[PAPER_WINDOW] > 0 else None,
        "true_compute": {"–".join(f"{x:g}" for x in w): float(np.mean(v)) for w, v in sorted(compute.items())},
        "noise": None, "noise_dof": None, "p_value": None, "gap_interval": None, "near_optimal": None,
    }
    if noise is not None and noise["noise"] > 0:
        row.update(noise=noise["noise"], noise_dof=noise["dof"],
                   p_value=gap_p_value(means, seeds, PAPER_WINDOW, noise["noise"], noise["dof"]),
                   gap_interval=gap_interval(means, seeds, PAPER_WINDOW, noise["noise"]))
    return row


def window_groups(cells: list[dict], *, by_schedule: bool) -> dict[tuple, list[dict]]:
    """Pruned geometric/cubic cells with a val loss, grouped by (model, duration, sparsity), and schedule if
    `by_schedule`; in report order (model, duration, sparsity, schedule)."""
    groups: dict[tuple, list[dict]] = {}
    for cell in cells:
        if not is_dense(cell) and cell["cell"]["schedule"] in WINDOW_SCHEDULES and val_loss(cell) is not None:
            key = (cell["cell"]["model"], duration_label(cell), float(cell["cell"]["sparsity"]))
            groups.setdefault(key + ((cell["cell"]["schedule"],) if by_schedule else ()), []).append(cell)
    return {key: groups[key] for key in sorted(groups, key=lambda k: (k[0], duration_order(k[1]), *k[2:]))}


def _window_override(window) -> str:
    return f"a{round(100 * window[0])}_b{round(100 * window[1])}"


def _seed_sweep_hint(model: str, duration: str, rows: list[dict]) -> str:
    """The sweep that measures this budget's seed noise: seeds 1 and 2 of the paper window and each group's best."""
    kind, number, schedule = split_duration(duration)
    budget = (f"budget.tokens_per_param={number:g}" if kind == "tpp"
              else f"budget.tokens_per_param=null budget.dense_steps={number:g}")
    if schedule != "cosine":
        budget += f" optim.schedule={schedule}"
    windows = sorted({_window_override(PAPER_WINDOW)} | {_window_override(r["best_window"]) for r in rows})
    sparsities = ",".join(sorted({f"{r['sparsity']:g}" for r in rows}))
    return (f"orchestrator-train -m experiment={rows[0]['sweep']} model={model} {budget} window={','.join(windows)} "
            f"pruning.sparsity={sparsities} seed=1,2")


def _duration_summary(model: str, duration: str, rows: list[dict]) -> dict:
    """One budget's verdict: Bonferroni over its testable groups; the near-optimal flag of each of them."""
    testable = [r for r in rows if r["p_value"] is not None]
    holds = family_verdict([r["p_value"] for r in testable])
    for r in testable:
        r["near_optimal"] = bool(r["p_value"] >= ALPHA / len(testable))
    summary = {"model": model, "duration": duration, "n_groups": len(rows), "n_testable": len(testable),
               "n_near_optimal": sum(r["near_optimal"] for r in testable) if testable else None,
               "n_best": sum(r["paper_rank"] == 1 for r in rows),
               "noise": rows[0]["noise"], "noise_dof": rows[0]["noise_dof"],
               "mean_gap": float(np.mean([r["gap"] for r in rows])), "max_gap": max(r["gap"] for r in rows),
               **verdict_of(holds)}
    if holds is None:
        summary["to_test"] = (f"no config at this budget was run with several seeds, so its seed noise is unknown; "
                              f"this sweep would test it: `{_seed_sweep_hint(model, duration, rows)}`")
    return summary


def window_finding(cells: list[dict]) -> dict:
    """Finding 1, per (model, duration, sparsity, schedule) group, per budget, and overall (window_test)."""
    noise = noise_by_budget(cells)
    rows = []
    for (model, duration, sparsity, schedule), group in window_groups(cells, by_schedule=True).items():
        row = _window_row(group, noise.get((model, duration)))
        if row is not None:
            rows.append({"model": model, "duration": duration, "sparsity": sparsity, "schedule": schedule,
                         "sweep": group[0].get("sweep") or "journey80", **row})
    budgets: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        budgets.setdefault((r["model"], r["duration"]), []).append(r)
    by_budget = [_duration_summary(model, duration, group) for (model, duration), group in budgets.items()]
    p_values = [r["p_value"] for r in rows if r["p_value"] is not None]
    pooled, n_repeated = seed_noise(cells)
    found = {
        "window": list(PAPER_WINDOW), "alpha": ALPHA, "test": TEST_NAME,
        "noise": pooled, "noise_configs": n_repeated, "groups": rows, "by_budget": by_budget,
        "n_groups": len(rows), "n_testable": len(p_values),
        "n_near_optimal": sum(bool(r["near_optimal"]) for r in rows) if p_values else None,
        "n_best": sum(r["paper_rank"] == 1 for r in rows),
        "mean_rank": float(np.mean([r["paper_rank"] for r in rows])) if rows else None,
        "mean_gap": float(np.mean([r["gap"] for r in rows])) if rows else None,
        "max_gap": max((r["gap"] for r in rows), default=None),
    } | verdict_of(family_verdict(p_values))
    if rows and not p_values:
        found["to_test"] = by_budget[0]["to_test"]
    return found


def _fit_arrays(fit: dict, cells: list[dict], keep) -> tuple[np.ndarray, dict[str, np.ndarray], list[dict]] | None:
    """(measured losses, {predictor: cross-validated predictions}, fitted cells) over the fit's cells for which
    keep(cell) is true; None when fit.json has no per-cell predictions (an older report)."""
    predictors = fit.get("predictors") or {}
    by_id = {cell.get("cell_id"): cell for cell in cells}
    ids = fit.get("cell_ids")
    if not ids or any("cv_predictions" not in predictors.get(name, {}) for name in PREDICTORS) \
            or any(i not in by_id for i in ids):
        return None
    rows = [k for k, i in enumerate(ids) if keep(by_id[i])]
    fitted = [by_id[ids[k]] for k in rows]
    actual = np.array([cell["val_loss"] for cell in fitted], dtype=float)
    predictions = {name: np.array(predictors[name]["cv_predictions"], dtype=float)[rows] for name in PREDICTORS}
    return actual, predictions, fitted


def _comparison(fit: dict, cells: list[dict], keep, what: str) -> dict:
    """Held-out RMSE per predictor and the paired intervals over the fit's cells that `keep` selects."""
    arrays = _fit_arrays(fit, cells, keep)
    if arrays is None:
        return {"to_test": "fit.json has no cross-validated predictions: run orchestrator-report again",
                **verdict_of(None)}
    actual, predictions, fitted = arrays
    sizes = {float(cell["initial_params"]) for cell in fitted}
    found = {"n_cells": len(fitted), "n_model_sizes": len(sizes)}
    if len(sizes) < 2:
        return found | {"to_test": f"the {what} span {len(sizes)} model size: a law of N cannot be told apart from "
                                   f"a law of tokens; the dense ladder would test it: `{DENSE_LADDER_HINT}`",
                        **verdict_of(None)}
    intervals = rmse_difference_intervals(actual, predictions)
    holds = comparison_verdict(intervals)
    return found | {"heldout_rmse": heldout_rmse(actual, predictions), "difference_ci": intervals,
                    **({"holds": None, "verdict": INCONCLUSIVE} if holds is None else verdict_of(holds))}


def predictor_finding(fit: dict | None, cells: list[dict] = ()) -> dict:
    """Finding 2: the held-out RMSE of the law on each size predictor (fit.json) and the paired-bootstrap intervals
    of their differences (predictor_test), on all fitted cells and on the pruned ones only."""
    predictors = (fit or {}).get("predictors") or {}
    rmse = {name: predictors[name].get("heldout_rmse") for name in PREDICTORS if name in predictors}
    if len(rmse) < len(PREDICTORS) or any(v is None for v in rmse.values()):
        return {"heldout_rmse": rmse, "to_test": "no fit of all three predictors (fewer than 5 finished cells)",
                **verdict_of(None)}
    avg = rmse["avg_params"]
    noise, _ = seed_noise(cells)
    overall = _comparison(fit, cells, lambda cell: True, "fitted cells")
    found = {"heldout_rmse": rmse, "n_cells": fit.get("n_cells"),
             "ratio_to_avg": {name: (rmse[name] / avg if avg > 0 else None) for name in PREDICTORS
                              if name != "avg_params"},
             "difference_ci": overall.get("difference_ci"), "n_model_sizes": overall.get("n_model_sizes"),
             "at_bound": {name: predictors[name].get("at_bound", []) for name in PREDICTORS},
             "noise": noise, "heldout_over_noise": avg / noise if noise else None,
             "pruned_only": _comparison(fit, cells, lambda cell: not is_dense(cell), "pruned cells"),
             **{key: overall[key] for key in ("holds", "verdict")}}
    if "to_test" in overall:
        found["to_test"] = overall["to_test"]
    return found


def findings(cells: list[dict], fit: dict | None) -> dict:
    """The findings.json payload."""
    return {"windows": window_finding(cells), "predictors": predictor_finding(fit, cells),
            "dense_equivalence": dense_equivalence_finding(cells)}
