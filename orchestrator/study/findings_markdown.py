"""The "Findings of the paper" section of report.md, from the findings.json payload (findings.py)."""
from __future__ import annotations

from orchestrator.study.findings import NOISE_FLAG


def _f(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _verdict(found: dict) -> str:
    return f"**{found['verdict']}**"


def _window_text(window: list[float]) -> str:
    return "–".join(f"{x:g}" for x in window)


def _to_test(found: dict) -> list[str]:
    return [f"- Not testable here: {found['to_test']}."] if found.get("to_test") else []


def _budget_lines(by_budget: list[dict]) -> list[str]:
    lines = ["| model | duration | groups | testable | near-optimal | best in | seed noise (dof) | mean gap | "
             "largest gap | verdict |", "|---" * 10 + "|"]
    for b in by_budget:
        noise = "n/a" if b["noise"] is None else f"{b['noise']:.4f} ({b['noise_dof']})"
        near = "n/a" if b["n_near_optimal"] is None else str(b["n_near_optimal"])
        lines.append(f"| {b['model']} | {b['duration']} | {b['n_groups']} | {b['n_testable']} | {near} | "
                     f"{b['n_best']} | {noise} | {b['mean_gap']:.4f} | {b['max_gap']:.4f} | {b['verdict']} |")
    return lines + [""] + [f"- {b['model']}, {b['duration']}: {b['to_test']}." for b in by_budget if b.get("to_test")]


def _group_line(r: dict, window: str) -> str:
    flag = "n/a" if r["near_optimal"] is None else ("yes" if r["near_optimal"] else "no")
    interval = "n/a" if r["gap_interval"] is None else f"[{r['gap_interval'][0]:.4f}, {r['gap_interval'][1]:.4f}]"
    p_value = "n/a" if r["p_value"] is None else f"{r['p_value']:.3g}"
    compute = r.get("true_compute") or {}
    best = _window_text(r["best_window"])
    return (f"| {r['model']} ({r['schedule']}) | {r['duration']} | {r['sparsity']:g} | {r['paper_mean']:.4f} | "
            f"{r['paper_rank']}/{r['n_windows']} | {best} | {r['best_mean']:.4f} | {r['gap']:.4f} | {interval} | "
            f"{p_value} | {_f(r['tokens_ratio'], 3)} | {_f(compute.get(window), 3)} | {_f(compute.get(best), 3)} | "
            f"{flag} |")


def _windows_lines(found: dict) -> list[str]:
    window = _window_text(found["window"])
    lines = [f"### 1. Pruning over {window} of compute is near-optimal: {_verdict(found)}", ""]
    if not found["groups"]:
        return lines + [f"No (model, duration, sparsity) group ran the {window} window beside another.", ""]
    near = "n/a" if found["n_near_optimal"] is None else f"{found['n_near_optimal']} of {found['n_testable']}"
    lines += [f"- Test: {found['test']}; α = {found['alpha']:g}. \"Holds\" means no group's gap is larger than "
              "seed noise explains (a tied study is called \"holds\" with probability ≥ 1 − α); \"does not hold\" "
              "means one group's gap is.",
              f"- The {window} window is near-optimal in {near} testable groups (of {found['n_groups']}), the best "
              f"in {found['n_best']}; its mean rank is {_f(found['mean_rank'], 3)}, its mean gap to the best window "
              f"{_f(found['mean_gap'])} and its largest {_f(found['max_gap'])}.", *_to_test(found), "",
              "Per budget (the seed noise of each is measured at that budget only):", ""]
    lines += _budget_lines(found["by_budget"])
    lines += ["", f"Per group: the gap's 95 % interval is a parametric bootstrap with the best window re-chosen on "
              f"each resample; p is the test's; \"true FLOPs ÷ C\" is the cell's FLOPs with attention scores over "
              f"those of a dense run of C steps (the planner counts linear weights only).", "",
              f"| model | duration | sparsity | {window} loss | rank | best window | best loss | gap | gap 95 % | "
              f"p | tokens, best ÷ {window} | true FLOPs ÷ C, {window} | true FLOPs ÷ C, best | near-optimal |",
              "|---" * 14 + "|"]
    lines += [_group_line(r, window) for r in found["groups"]]
    return lines + [""]


def _interval_text(intervals: dict | None) -> str:
    return ", ".join(f"`{name}` [{low:+.4f}, {high:+.4f}]" for name, (low, high) in (intervals or {}).items())


def _predictor_lines(found: dict) -> list[str]:
    lines = ["### 2. The law on N_avg has the lowest held-out error: " + _verdict(found), ""]
    rmse = found["heldout_rmse"]
    if "ratio_to_avg" not in found:
        return lines + _to_test(found) + [""]
    ratios = ", ".join(f"`{name}` {_f(rmse[name])} ({_f(ratio, 3)}×)"
                       for name, ratio in found["ratio_to_avg"].items())
    lines += [f"- Held-out RMSE over {found['n_cells']} dense and pruned cells: `avg_params` "
              f"{_f(rmse['avg_params'])}; {ratios}."]
    if found.get("difference_ci"):
        lines.append("- RMSE of each other predictor minus that of `avg_params`, 95 % paired bootstrap over cells: "
                     f"{_interval_text(found['difference_ci'])}. \"Holds\" needs both above 0.")
    lines += _to_test(found)
    pruned = found["pruned_only"]
    if pruned.get("difference_ci"):
        lines.append(f"- Pruned cells only ({pruned['n_cells']}, {pruned['n_model_sizes']} model sizes): "
                     f"{_interval_text(pruned['difference_ci'])}: **{pruned['verdict']}**.")
    else:
        lines.append(f"- Pruned cells only: **{pruned['verdict']}** — {pruned.get('to_test', 'no fit')}.")
    if found.get("heldout_over_noise") and found["heldout_over_noise"] > NOISE_FLAG:
        lines.append(f"- Caution: the law on `avg_params` misses held-out cells by {found['heldout_over_noise']:.1f}× "
                     "the seed noise: the three laws are compared as approximations, none fits to noise.")
    bounds = {name: names for name, names in found["at_bound"].items() if names}
    if bounds:
        lines.append("- Caution: constants at a bound of the fit's search box (not identified by these cells): "
                     + "; ".join(f"`{name}` {', '.join(names)}" for name, names in bounds.items()) + ".")
    return lines + [""]


def _dense_lines(found: dict) -> list[str]:
    lines = ["### 3. At equal N_avg, pruned loss is close to dense loss: " + _verdict(found), ""] + _to_test(found)
    if "gap" not in found:
        return lines + [f"- A pruned cell's N_avg and tokens must lie within the dense cells' sizes and token counts "
                        f"(here {found['n_dense']} dense, {found['n_pruned']} pruned).", ""]
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
