"""The P² section of the report: the post-training law L = L0 + (1/ρ)^γ (1/N0)^δ (N_C/N0^α + D_C/D^β + E), per
pruning method, fitted on every post-training curve and validated held out (fit on the early part of the curves,
the smaller models and the lower ρ; predict the later part, the largest model and the highest ρ).

Points come from each finished P² cell's metrics: every evaluation (`val_loss`) at D post-training tokens, with
the cell's achieved ρ, its base's N0 (blocks' linear weights) and L0 (the base's validation loss).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.study.figures import pyplot, save_figure
from orchestrator.study.p2_law import fit_p2, p2_heldout_error, predict_p2

MIN_POINTS = 8  # the law has 7 constants
LAW_KEYS = ("N_C", "D_C", "E", "alpha", "beta", "gamma", "delta")


def p2_points(cells: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """method → arrays rho, n0, d, loss, l0 over every evaluation of every finished P² cell."""
    points: dict[str, dict[str, list]] = {}
    for cell in cells:
        record = cell.get("structured")
        if cell.get("status") != "done" or not isinstance(record, dict):
            continue
        into = points.setdefault(record["method"], {k: [] for k in ("rho", "n0", "d", "loss", "l0", "cell")})
        for row in cell.get("metrics", []):
            if row.get("val_loss") is not None and row.get("tokens"):
                for key, value in (("rho", record["ratio"]), ("n0", record["n0"]), ("d", row["tokens"]),
                                   ("loss", row["val_loss"]), ("l0", record["l0"]), ("cell", cell["cell_id"])):
                    into[key].append(value)
    return {method: {k: np.asarray(v, dtype=object if k == "cell" else float) for k, v in p.items()}
            for method, p in points.items()}


def p2_fits(cells: list[dict]) -> dict[str, dict]:
    """method → {"fit": all points, "heldout": p2_heldout_error, "n_points"}, or {"error": why} per method."""
    fits = {}
    for method, p in sorted(p2_points(cells).items()):
        args = (p["rho"], p["n0"], p["d"], p["loss"], p["l0"])
        if p["loss"].size < MIN_POINTS:
            fits[method] = {"error": f"{p['loss'].size} points, the law needs at least {MIN_POINTS}"}
            continue
        entry: dict = {"fit": fit_p2(*args), "n_points": int(p["loss"].size),
                       "below_l0": int((p["loss"] < p["l0"]).sum())}
        try:
            entry["heldout"] = p2_heldout_error(*args)
        except ValueError as error:  # too few training points once the held-out parts are set aside
            entry["heldout"] = {"error": str(error)}
        fits[method] = entry
    return fits


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def p2_section(cells: list[dict], fits: dict[str, dict]) -> list[str]:
    if not fits:
        return []
    lines = ["## P²: post-training after structured pruning", "",
             "L = L0 + (1/ρ)^γ (1/N0)^δ (N_C/N0^α + D_C/D^β + E), fitted by Levenberg–Marquardt; ρ = share of the "
             "blocks' linear weights removed, N0 = the base's, D = post-training tokens, L0 = the base's validation "
             "loss. Held out: the fit uses the early half of each curve, the smaller models and the lower ρ only.", ""]
    for method, entry in fits.items():
        lines.append(f"### {method}")
        if "error" in entry:
            lines += ["", f"Not fitted: {entry['error']}.", ""]
            continue
        fit, held = entry["fit"], entry["heldout"]
        if entry["below_l0"]:
            lines += ["", f"**{entry['below_l0']} of {entry['n_points']} points are below their base's L0**: "
                      "post-training improved on the unpruned model, so its base was not trained to convergence; "
                      "the law (every term ≥ 0) cannot describe those points and its constants are not meaningful "
                      "here. Train the bases longer (budget.dense_steps) or post-train at a lower structured.lr."]
        lines += ["", "| " + " | ".join(LAW_KEYS) + " | RMSE (all points) | points |",
                  "|" + "---|" * (len(LAW_KEYS) + 2),
                  "| " + " | ".join(_fmt(fit[k]) for k in LAW_KEYS) + f" | {_fmt(fit['rmse'])} | {fit['n_points']} |",
                  ""]
        if "error" in held:
            lines += [f"Held-out validation not possible: {held['error']}.", ""]
            continue
        lines += ["| held-out part | points | RMSE |", "|---|---|---|"]
        for part in ("train", "later_tokens", "larger_model", "higher_rho", "heldout"):
            lines.append(f"| {part} | {held[f'n_{part}']} | {_fmt(held[f'{part}_rmse'])} |")
        lines.append("")
    return lines


def p2_figure(cells: list[dict], fits: dict[str, dict], path: Path) -> Path | None:
    """Loss against post-training tokens for each cell (points) and the law fitted on all points (lines)."""
    points = {m: p for m, p in p2_points(cells).items() if "fit" in fits.get(m, {})}
    if not points:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(points), figsize=(6 * len(points), 4), squeeze=False)
    for ax, (method, p) in zip(axes[0], sorted(points.items())):
        for cell in dict.fromkeys(p["cell"]):
            on = p["cell"] == cell
            d, rho, n0, l0 = p["d"][on], p["rho"][on][0], p["n0"][on][0], p["l0"][on][0]
            line = ax.plot(d, p["loss"][on], "o", markersize=3, label=f"N0={n0:.3g}, ρ={rho:.2f}")[0]
            grid = np.geomspace(d.min(), d.max(), 50)
            ax.plot(grid, predict_p2(fits[method]["fit"], rho, n0, grid, l0), "-", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("post-training tokens D")
        ax.set_ylabel("validation loss")
        ax.set_title(f"P² law, {method} pruning")
        ax.legend(fontsize=6)
    return save_figure(fig, path)
