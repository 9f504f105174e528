"""The markdown report of a finished sweep: conclusions computed from the cells and the size-law fit.

`conclusions` returns the numbers; `render_report` turns them, the fit constants and the figures into
markdown (the caller writes it). Every sentence is built from data; nothing is written by hand.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np

from orchestrator.study.figures import (duration_label, duration_order, is_dense, is_post_training, lr_schedule_of,
                                        predict_loss, val_loss, window_label)
from orchestrator.study.cells_table import cells_section
from orchestrator.study.dense_equivalence import dense_equivalence_finding
from orchestrator.study.evidence import seed_noise
from orchestrator.study.findings import findings, window_groups
from orchestrator.study.findings_markdown import findings_section
from orchestrator.study.p2_report import p2_fits, p2_section
from orchestrator.study.provenance_section import provenance_section
from orchestrator.study.spdf_report import spdf_section

FIT_COLUMNS = ("E", "A", "B", "alpha", "beta")


def _fmt(value: float | None, digits: int = 4) -> str:
    """A number with `digits` significant digits, "n/a" for None."""
    return "n/a" if value is None else f"{value:.{digits}g}"


def _window_group(cells: list[dict]) -> dict:
    """Best window of one (model, duration, sparsity) group of pruned cells with a val loss."""
    windows: dict[str, list[float]] = {}
    for cell in sorted(cells, key=lambda c: c["cell_id"]):
        windows.setdefault(f"{window_label(cell)} ({cell['cell']['schedule']})", []).append(val_loss(cell))
    means = sorted((float(np.mean(v)), k) for k, v in windows.items())
    noise, _ = seed_noise(cells)
    best_mean, best = means[0]
    runner_mean, runner = means[1] if len(means) > 1 else (None, None)
    margin = None if runner_mean is None else runner_mean - best_mean
    return {
        "best_window": best, "best_mean": best_mean, "n_windows": len(means), "n_seeds": len(windows[best]),
        "runner_up": runner, "runner_up_mean": runner_mean, "margin": margin, "noise": noise,
        "noise_label": "n/a — one seed" if noise is None else _fmt(noise),
        "significant": None if margin is None or noise is None else bool(margin > 2 * noise),
    }


def best_windows(cells: list[dict]) -> list[dict]:
    """Per (model, duration, sparsity) among pruned geometric/cubic cells: the lowest mean val loss window."""
    return [{"model": m, "duration": d, "sparsity": s, **_window_group(group)}
            for (m, d, s), group in window_groups(cells, by_schedule=False).items()]


def predictor_comparison(fit: dict) -> dict | None:
    """The best predictor on held-out cells and its lead over the runner-up (ratio and difference of RMSE)."""
    predictors = fit.get("predictors") or {}
    ranked = [p for p in fit.get("ranking") or [] if predictors.get(p, {}).get("heldout_rmse") is not None]
    if not ranked:
        return None
    best = fit.get("best") if fit.get("best") in ranked else ranked[0]
    others = [p for p in ranked if p != best]
    rmse = {p: float(predictors[p]["heldout_rmse"]) for p in ranked}
    runner = others[0] if others else None
    return {
        "best": best, "best_rmse": rmse[best], "runner_up": runner,
        "runner_up_rmse": rmse[runner] if runner else None,
        "ratio": rmse[best] / rmse[runner] if runner and rmse[runner] > 0 else None,
        "difference": rmse[runner] - rmse[best] if runner else None, "cautions": fit_cautions(fit),
    }


def conclusions(cells: list[dict], fit: dict | None) -> dict:
    """The headline numbers: best windows, best size predictor, and the pruned-vs-dense loss gap (finding 3's: read
    off the dense cells without a law, so the headline and the finding are one number)."""
    fit = fit or {}
    return {"windows": best_windows(cells), "predictor": predictor_comparison(fit),
            "dense_gap": dense_equivalence_finding(cells)}


def _counts(values: list[str]) -> str:
    """"a (2), b (1)" sorted by name."""
    return ", ".join(f"{k} ({v})" for k, v in sorted(Counter(values).items()))


def study_section(cells: list[dict], fit: dict) -> list[str]:
    """Counts by status, models, schedules and durations."""
    durations = Counter(duration_label(c) for c in cells)
    return [
        "## Study", "",
        f"- Cells: {len(cells)} — {_counts([c['status'] for c in cells]) or 'none'}.",
        f"- Models: {_counts([c['cell']['model'] for c in cells]) or 'none'}.",
        f"- Schedules: {_counts([c['cell']['schedule'] for c in cells]) or 'none'}.",
        "- Durations: " + (", ".join(f"{d} ({durations[d]})" for d in sorted(durations, key=duration_order))
                           or "none") + ".",
        f"- Learning-rate schedules: {_counts([lr_schedule_of(c) for c in cells])}.",
        f"- Cells in the size-law fit: {fit.get('n_cells', 0)}{_law_schedule_note(fit)}.", "",
    ]


def _law_schedule_note(fit: dict) -> str:
    """Which learning-rate schedule the law was fitted on, when the store has cells of another (left out)."""
    left_out = fit.get("lr_schedules_left_out") or {}
    if not left_out:
        return ""
    others = ", ".join(f"{n} {name}" for name, n in left_out.items())
    return (f" (all {fit['lr_schedule']}; {others} cells left out: one law, and finding 3's dense reference, never "
            "mix learning-rate schedules)")


def _predictor_bullet(comp: dict | None) -> str:
    """Headline sentence on the size predictors."""
    if comp is None:
        return "- No size predictor has a held-out RMSE."
    if comp["runner_up"] is None:
        return f"- Only `{comp['best']}` was fitted: held-out RMSE {_fmt(comp['best_rmse'])}."
    caution = " (caution: " + "; ".join(comp["cautions"]) + ")" if comp.get("cautions") else ""
    return (f"- `{comp['best']}` has the lowest held-out RMSE: {_fmt(comp['best_rmse'])} vs "
            f"{_fmt(comp['runner_up_rmse'])} for `{comp['runner_up']}` (ratio {_fmt(comp['ratio'], 3)}, "
            f"difference {_fmt(comp['difference'])}; finding 2 below says whether that is more than chance){caution}.")


def _windows_bullet(rows: list[dict]) -> str:
    """Headline sentence on the pruning windows."""
    compared = [r for r in rows if r["margin"] is not None]
    if not compared:
        return f"- Pruning windows: {len(rows)} (sparsity, duration) groups, none with two windows to compare."
    tested = [r for r in compared if r["significant"] is not None]
    top = max(compared, key=lambda r: r["margin"])
    return (f"- Pruning windows: in {len(compared)} (sparsity, duration) groups with two or more windows, the best "
            f"window beats the runner-up by more than 2× seed noise in {sum(r['significant'] for r in tested)} of "
            f"{len(tested)} groups with repeated seeds; the largest margin is {_fmt(top['margin'])} for "
            f"{top['best_window']} at sparsity {top['sparsity']:g}, {top['duration']} ({top['model']}).")


def _gap_bullet(found: dict) -> str:
    """Headline sentence on pruned vs dense models of equal N_avg (finding 3)."""
    if "gap" not in found:
        return (f"- Pruned vs dense of equal N_avg and tokens: not testable — no dense reference for any pruned cell "
                f"({found['n_dense']} dense, {found['n_pruned']} pruned cells; finding 3 below).")
    gap = found["gap"]
    return (f"- Pruned vs dense of equal N_avg and tokens (dense loss read off the dense cells, no law; finding 3): "
            f"{gap['n']} pruned cells, val loss gap mean {gap['mean']:+.4f} ({found['mean_pct']:+.2f} %), range "
            f"{gap['min']:+.4f} to {gap['max']:+.4f}: **{found['verdict']}**.")


def _with_interval(entry: dict, name: str) -> str:
    """A fit constant with its interval when known."""
    interval = (entry.get("intervals") or {}).get(name)
    value = _fmt(entry.get(name))
    return f"{value} [{_fmt(interval[0])}, {_fmt(interval[1])}]" if interval else value


def fit_table(fit: dict) -> list[str]:
    """Markdown table of the fit constants per predictor, in ranking order."""
    predictors = fit.get("predictors") or {}
    names = [p for p in fit.get("ranking") or [] if p in predictors]
    names += sorted(p for p in predictors if p not in names)
    if not names:
        return ["No size-law fit.", ""]
    lines = ["| predictor | " + " | ".join(FIT_COLUMNS) + " | held-out RMSE | extrapolation RMSE | at a bound |",
             "|---" * (len(FIT_COLUMNS) + 4) + "|"]
    for name in names:
        entry = predictors[name]
        cols = [_with_interval(entry, c) for c in FIT_COLUMNS]
        lines.append(f"| `{name}` | " + " | ".join(cols) + f" | {_fmt(entry.get('heldout_rmse'))} | "
                     f"{_fmt(entry.get('extrapolation_rmse'))} | {', '.join(entry.get('at_bound') or []) or 'none'} |")
    return lines + [""] + [f"- Caution: {line}" for line in fit_cautions(fit)] + [""]


def fit_cautions(fit: dict) -> list[str]:
    """What the fit cannot identify: constants at a bound of the search box, or N from one model size."""
    cautions = []
    if fit.get("n_model_sizes") == 1:
        cautions.append("every fitted cell has the same dense size: A and alpha are not identified (N varies only "
                        "through pruning); fit dense cells of several sizes (experiment=dense_ladder)")
    bounds = {name: entry.get("at_bound") for name, entry in (fit.get("predictors") or {}).items()
              if entry.get("at_bound")}
    if bounds:
        cautions.append("constants at a bound of the fit's search box (the cells do not pin them): "
                        + "; ".join(f"`{name}` {', '.join(names)}" for name, names in bounds.items()))
    return cautions


def windows_table(rows: list[dict]) -> list[str]:
    """Markdown table of the best window per (model, duration, sparsity)."""
    if not rows:
        return ["No pruned geometric or cubic cell with a val loss.", ""]
    lines = ["| model | duration | sparsity | best window | mean val loss | seeds | runner-up | margin | "
             "seed noise | margin > 2× noise |", "|---" * 10 + "|"]
    for r in rows:
        flag = "n/a" if r["significant"] is None else ("yes" if r["significant"] else "no")
        lines.append(f"| {r['model']} | {r['duration']} | {r['sparsity']:g} | {r['best_window']} | "
                     f"{r['best_mean']:.4f} | {r['n_seeds']} | {r['runner_up'] or 'n/a'} | {_fmt(r['margin'])} | "
                     f"{r['noise_label']} | {flag} |")
    return lines + [""]


def figures_section(figures: dict[str, Path], out_dir: Path, only: Collection[str] | None = None) -> list[str]:
    """Each figure embedded with its path relative to the report folder; `only`: the figures asked for
    (`--figures`), None for all."""
    lines = ["## Figures", ""]
    if only is not None:
        lines += [f"Only the figures asked for were drawn (`--figures {','.join(sorted(only)) or 'none'}`).", ""]
    for name, path in figures.items():
        rel = Path(os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())).as_posix()
        lines += [f"### {name}", "", f"![{name}]({rel})", ""]
    return lines if figures or (only is not None and not only) else lines + ["No figure had data.", ""]


def pretraining_cells(cells: list[dict]) -> list[dict]:
    """The pruning-journey sections (and the paper's findings) read pre-training cells only."""
    return [cell for cell in cells if not is_post_training(cell)]


def render_report(cells: list[dict], fit: dict | None, figures: dict[str, Path], out_dir: Path, *,
                  skipped: list[tuple[str, str]] = (), paper_findings: dict | None = None,
                  commands: list[str] = (), figures_asked: Collection[str] | None = None) -> str:
    """The full markdown report; deterministic for the same inputs. `paper_findings`: findings() of the
    pre-training cells when the caller already has them; `figures_asked`: the names given to --figures (None: all)."""
    fit = fit or {}
    p2 = p2_section(cells, p2_fits(cells))
    cells = pretraining_cells(cells)
    found = conclusions(cells, fit)
    lines = ["# Sweep report", ""] + study_section(cells, fit)
    lines += ["## Conclusions", "", _predictor_bullet(found["predictor"]), _windows_bullet(found["windows"]),
              _gap_bullet(found["dense_gap"]), ""]
    lines += findings_section(paper_findings if paper_findings is not None else findings(cells, fit))
    lines += ["## Size-law fit", ""] + fit_table(fit)
    lines += ["## Best pruning windows", ""] + windows_table(found["windows"])
    lines += spdf_section(cells) + p2
    lines += figures_section(figures, out_dir, figures_asked)
    lines += cells_section(cells) + provenance_section(cells, list(commands))
    if skipped:
        lines += ["## Skipped files", "", "| path | reason |", "|---|---|"]
        lines += [f"| `{path}` | {reason} |" for path, reason in sorted(skipped)] + [""]
    return "\n".join(lines)
