"""The paper's three findings tested on a store's cells: the numbers and a verdict for each (findings.json and the
"Findings of the paper" section of report.md).

(1) Pruning from 25 % to 75 % of compute is near-optimal: per (model, duration, sparsity) group of windowed cells,
    the 0.25–0.75 window's mean val loss, its rank among the windows and its gap to the best one, against the
    seed noise (the pooled standard deviation of val loss over repeated seeds in the whole store).
(2) The law on N_avg predicts held-out cells better than the law on N_final or N_initial: held-out RMSE of each
    (from fit.json, which fits dense and pruned cells together).
(3) At equal N_avg and tokens, a pruned model's loss is close to a dense model's: each pruned cell's gap to the
    dense loss at its tokens and N_avg, read off the dense cells by interpolation (no law, so no fit error enters),
    and for contrast at N_final and N_initial, against the seed noise and the interpolation's own error.
"""
from __future__ import annotations

import json
import math

import numpy as np

from orchestrator.study.figures import duration_label, duration_order, is_dense, val_loss
from orchestrator.study.scaling_law import PREDICTORS, fittable_cells

PAPER_WINDOW = (0.25, 0.75)
WINDOW_SCHEDULES = ("geometric", "cubic")
NOISE_MULTIPLE = 2.0  # "within noise": a difference at most this many seed standard deviations
VERDICTS = {True: "holds", False: "does not hold", None: "not testable"}
INCONCLUSIVE = "inconclusive"


def pooled_std(samples: list[list[float]]) -> float | None:
    """Pooled sample standard deviation over groups of repeats; None without any group of two or more."""
    dof = sum(len(s) - 1 for s in samples if len(s) > 1)
    if dof == 0:
        return None
    ss = sum(float(np.sum((np.array(s) - np.mean(s)) ** 2)) for s in samples if len(s) > 1)
    return math.sqrt(ss / dof)


def config_key(cell: dict) -> str:
    """The cell config without its seed, as a canonical string."""
    return json.dumps({k: v for k, v in cell["cell"].items() if k != "seed"}, sort_keys=True)


def seed_noise(cells: list[dict]) -> tuple[float | None, int]:
    """Pooled std of val loss over configs run with several seeds, and how many such configs there are."""
    repeats: dict[str, list[float]] = {}
    for cell in cells:
        if val_loss(cell) is not None:
            repeats.setdefault(config_key(cell), []).append(val_loss(cell))
    groups = [v for v in repeats.values() if len(v) > 1]
    return pooled_std(groups), len(groups)


def _window(cell: dict) -> tuple[float, float]:
    return float(cell["cell"]["start"]), float(cell["cell"]["end"])


def _window_row(cells: list[dict], noise: float | None) -> dict | None:
    """The paper window's standing in one (model, duration, sparsity, schedule) group; None if it was not run there
    beside another window."""
    by_window: dict[tuple[float, float], list[float]] = {}
    tokens: dict[tuple[float, float], float] = {}
    for cell in cells:
        by_window.setdefault(_window(cell), []).append(val_loss(cell))
        tokens[_window(cell)] = float(cell.get("tokens") or 0.0)
    if PAPER_WINDOW not in by_window or len(by_window) < 2:
        return None
    means = {w: float(np.mean(v)) for w, v in by_window.items()}
    ranked = sorted(means, key=means.get)
    best, paper = ranked[0], means[PAPER_WINDOW]
    gap = paper - means[best]
    return {
        "n_windows": len(means), "paper_mean": paper, "paper_seeds": len(by_window[PAPER_WINDOW]),
        "paper_rank": ranked.index(PAPER_WINDOW) + 1, "best_window": list(best), "best_mean": means[best],
        "worst_mean": means[ranked[-1]], "gap": gap, "spread": means[ranked[-1]] - means[best],
        "tokens_ratio": tokens[best] / tokens[PAPER_WINDOW] if tokens[PAPER_WINDOW] > 0 else None,
        "near_optimal": None if noise is None else bool(gap <= NOISE_MULTIPLE * noise),
    }


def window_groups(cells: list[dict], *, by_schedule: bool) -> dict[tuple, list[dict]]:
    """Pruned geometric/cubic cells with a val loss, grouped by (model, duration, sparsity), and schedule if
    `by_schedule`; in report order (model, duration, sparsity, schedule)."""
    groups: dict[tuple, list[dict]] = {}
    for cell in cells:
        if not is_dense(cell) and cell["cell"]["schedule"] in WINDOW_SCHEDULES and val_loss(cell) is not None:
            key = (cell["cell"]["model"], duration_label(cell), float(cell["cell"]["sparsity"]))
            groups.setdefault(key + ((cell["cell"]["schedule"],) if by_schedule else ()), []).append(cell)
    return {key: groups[key] for key in sorted(groups, key=lambda k: (k[0], duration_order(k[1]), *k[2:]))}


def window_finding(cells: list[dict]) -> dict:
    """Finding 1, per (model, duration, sparsity, schedule) group and overall."""
    noise, n_repeated = seed_noise(cells)
    rows = []
    for (model, duration, sparsity, schedule), group in window_groups(cells, by_schedule=True).items():
        row = _window_row(group, noise)
        if row is not None:
            rows.append({"model": model, "duration": duration, "sparsity": sparsity, "schedule": schedule, **row})
    near = [r for r in rows if r["near_optimal"]]
    return {
        "window": list(PAPER_WINDOW), "noise": noise, "noise_configs": n_repeated, "noise_multiple": NOISE_MULTIPLE,
        "groups": rows, "n_groups": len(rows), "n_near_optimal": len(near) if noise is not None else None,
        "n_best": sum(r["paper_rank"] == 1 for r in rows),
        "mean_rank": float(np.mean([r["paper_rank"] for r in rows])) if rows else None,
        "mean_gap": float(np.mean([r["gap"] for r in rows])) if rows else None,
        "max_gap": max((r["gap"] for r in rows), default=None),
    } | _verdict_of(None if not rows or noise is None else len(near) == len(rows))


def predictor_finding(fit: dict | None) -> dict:
    """Finding 2: held-out RMSE of the law on each size predictor."""
    predictors = (fit or {}).get("predictors") or {}
    rmse = {name: predictors[name].get("heldout_rmse") for name in PREDICTORS if name in predictors}
    if len(rmse) < len(PREDICTORS) or any(v is None for v in rmse.values()):
        return {"heldout_rmse": rmse, **_verdict_of(None)}
    avg = rmse["avg_params"]
    ratios = {name: (rmse[name] / avg if avg > 0 else None) for name in PREDICTORS if name != "avg_params"}
    return {"heldout_rmse": rmse, "n_cells": fit.get("n_cells"), "ratio_to_avg": ratios,
            **_verdict_of(all(avg < rmse[name] for name in ratios))}


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


def _verdict_of(holds: bool | None) -> dict:
    return {"holds": holds, "verdict": VERDICTS[holds]}


def _dense_verdict(mean_gap: float, noise: float | None, reference_error: dict | None) -> dict:
    """Holds within NOISE_MULTIPLE × seed noise; does not hold beyond NOISE_MULTIPLE × the combined uncertainty of
    the seed noise and the dense reference's interpolation error; inconclusive in between."""
    if noise is None:
        return _verdict_of(None)
    if abs(mean_gap) <= NOISE_MULTIPLE * noise:
        return _verdict_of(True)
    uncertainty = math.hypot(noise, reference_error["rmse"] if reference_error else 0.0)
    if abs(mean_gap) > NOISE_MULTIPLE * uncertainty:
        return _verdict_of(False)
    return {"holds": None, "verdict": INCONCLUSIVE}


def _gap_summary(gaps: list[float]) -> dict:
    if not gaps:
        return {"n": 0}
    return {"n": len(gaps), "mean": float(np.mean(gaps)), "mean_abs": float(np.mean(np.abs(gaps))),
            "min": float(min(gaps)), "max": float(max(gaps))}


def dense_equivalence_finding(cells: list[dict]) -> dict:
    """Finding 3: pruned val loss minus the dense loss at the same tokens and N = N_avg (for contrast N_final and
    N_initial, on the cells where all three have a dense reference), against the seed noise and the dense
    reference's interpolation error (see _dense_verdict)."""
    usable = fittable_cells(cells)
    dense = [c for c in usable if is_dense(c)]
    pruned = [c for c in usable if not is_dense(c)]
    noise, _ = seed_noise(cells)
    refs = [{name: dense_loss_at(dense, c[name], c["tokens"]) for name in PREDICTORS} for c in pruned]
    at_avg = [(c, c["val_loss"] - r["avg_params"]) for c, r in zip(pruned, refs) if r["avg_params"] is not None]
    if not at_avg:
        return {"n_dense": len(dense), "n_pruned": len(pruned), **_verdict_of(None)}
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
    }


def findings(cells: list[dict], fit: dict | None) -> dict:
    """The findings.json payload."""
    return {"windows": window_finding(cells), "predictors": predictor_finding(fit),
            "dense_equivalence": dense_equivalence_finding(cells)}


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _verdict(found: dict) -> str:
    return f"**{found['verdict']}**"


def _windows_lines(found: dict) -> list[str]:
    window = "–".join(f"{x:g}" for x in found["window"])
    lines = [f"### 1. Pruning over {window} of compute is near-optimal: {_verdict(found)}", ""]
    if not found["groups"]:
        return lines + [f"No (model, duration, sparsity) group ran the {window} window beside another.", ""]
    near = "n/a" if found["n_near_optimal"] is None else f"{found['n_near_optimal']} of {found['n_groups']}"
    lines += [f"- Seed noise (pooled std of val loss over {found['noise_configs']} configs run with several seeds): "
              f"{_f(found['noise'])}; near-optimal = within {found['noise_multiple']:g}× that of the best window.",
              f"- The {window} window is near-optimal in {near} groups, the best in {found['n_best']}; its mean rank "
              f"is {_f(found['mean_rank'], 3)}, its mean gap to the best window {_f(found['mean_gap'])} and its "
              f"largest {_f(found['max_gap'])}.", "",
              f"| model | duration | sparsity | {window} loss | rank | best window | best loss | gap | spread of "
              f"windows | tokens, best ÷ {window} | near-optimal |", "|---" * 11 + "|"]
    for r in found["groups"]:
        flag = "n/a" if r["near_optimal"] is None else ("yes" if r["near_optimal"] else "no")
        best = "–".join(f"{x:g}" for x in r["best_window"])
        lines.append(f"| {r['model']} ({r['schedule']}) | {r['duration']} | {r['sparsity']:g} | "
                     f"{r['paper_mean']:.4f} | {r['paper_rank']}/{r['n_windows']} | {best} | {r['best_mean']:.4f} | "
                     f"{r['gap']:.4f} | {r['spread']:.4f} | {_f(r['tokens_ratio'], 3)} | {flag} |")
    return lines + [""]


def _predictor_lines(found: dict) -> list[str]:
    lines = ["### 2. The law on N_avg has the lowest held-out error: " + _verdict(found), ""]
    rmse = found["heldout_rmse"]
    if found["holds"] is None:
        return lines + ["No fit of all three predictors (fit.json).", ""]
    ratios = ", ".join(f"`{name}` {_f(rmse[name])} ({_f(ratio, 3)}×)"
                       for name, ratio in found["ratio_to_avg"].items())
    return lines + [f"- Held-out RMSE over {found['n_cells']} dense and pruned cells: `avg_params` "
                    f"{_f(rmse['avg_params'])}; {ratios}.", ""]


def _dense_lines(found: dict) -> list[str]:
    lines = ["### 3. At equal N_avg, pruned loss is close to dense loss: " + _verdict(found), ""]
    if "gap" not in found:
        return lines + [f"No pruned cell has a dense reference: its N_avg and tokens must lie within the dense "
                        f"cells' sizes and token counts (here {found['n_dense']} dense, {found['n_pruned']} "
                        "pruned).", ""]
    gap, contrast = found["gap"], found["contrast"]
    sizes = ", ".join(f"{n:.4g}" for n in found["dense_sizes"])
    lines += [f"- Dense reference: the {found['n_dense']} dense cells (sizes {sizes}), interpolated in log tokens "
              "along each size, then in log N between sizes; no law.",
              f"- {gap['n']} pruned cells (of {found['n_pruned']}; {found['no_reference']} lie outside the dense "
              f"grid): val loss minus dense loss at the same tokens and N = N_avg, mean {gap['mean']:+.4f} "
              f"({found['mean_pct']:+.2f} %), range {gap['min']:+.4f} to {gap['max']:+.4f}; seed noise "
              f"{_f(found['noise'])}."]
    error = found["reference_error"]
    lines.append(f"- The dense reference's own error (each dense cell against the interpolation of the others, "
                 f"{error['n']} cells): RMSE {_f(error['rmse'])}." if error else "- The dense reference's own error: "
                 "n/a (fewer than 3 dense cells can be interpolated from the others).")
    lines.append(f"- Verdict rule: holds if |mean gap| ≤ {found['noise_multiple']:g}× seed noise; does not hold if it "
                 f"exceeds {found['noise_multiple']:g}× the seed noise and the reference error combined "
                 "(root of the sum of squares); inconclusive in between.")
    if contrast["avg_params"]["n"]:
        lines.append(f"- On the {contrast['avg_params']['n']} cells with a dense reference at all three sizes, mean "
                     f"gap at N_avg {contrast['avg_params']['mean']:+.4f}, at N_final "
                     f"{contrast['final_params']['mean']:+.4f}, at N_initial "
                     f"{contrast['initial_params']['mean']:+.4f}.")
    lines += ["", "| sparsity | cells | mean gap at N_avg | min | max |", "|---|---|---|---|---|"]
    for sparsity, row in found["by_sparsity"].items():
        lines.append(f"| {sparsity} | {row['n']} | {row['mean']:+.4f} | {row['min']:+.4f} | {row['max']:+.4f} |")
    return lines + [""]


def findings_section(found: dict) -> list[str]:
    """Markdown for the three findings."""
    return (["## Findings of the paper", ""] + _windows_lines(found["windows"])
            + _predictor_lines(found["predictors"]) + _dense_lines(found["dense_equivalence"]))
