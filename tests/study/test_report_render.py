"""Report figures and markdown on a synthetic sweep: files written, planted conclusions found, graceful gaps."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from orchestrator.study.figure_set import write_figures
from orchestrator.study.markdown import conclusions, render_report

PNG = b"\x89PNG\r\n\x1a\n"
WINDOWS = ((0.1, 0.5), (0.3, 0.8))  # the second is planted as best
SPARSITIES = (0.5, 0.8)
DURATIONS = (100, 200)


def _metrics(initial: float, final: float, tokens: int, loss: float) -> list[dict]:
    """Five logged rows: loss falling to `loss`, params going from initial to final."""
    rows = []
    for k in range(1, 6):
        frac = k / 5
        current = initial + (final - initial) * frac
        rows.append({"step": k * 10, "tokens": int(tokens * frac), "loss": loss + 2 * (1 - frac),
                     "params_current": current, "params_avg": (initial + current) / 2, "val_loss": loss + 1 - frac})
    return rows


def _cell(cell_id: str, schedule: str, sparsity: float, window: tuple[float, float], steps: int, seed: int,
          initial: float, val: float) -> dict:
    final = initial * (1 - sparsity)
    avg = (initial + final) / 2
    tokens = steps * 1000
    return {
        "cell_id": cell_id, "status": "done", "val_loss": val, "final_loss": val - 0.01,
        "avg_params": avg, "initial_params": initial, "final_params": final, "tokens": tokens,
        "cell": {"model": "micro", "schedule": schedule, "sparsity": sparsity, "start": window[0], "end": window[1],
                 "dense_steps": steps, "seed": seed, "tokens_per_param": None},
        "metrics": _metrics(initial, final, tokens, val),
    }


def make_cells() -> list[dict]:
    """2 windows x 2 sparsities x 2 durations x 2 seeds of pruned cells, plus 3 dense cells at 100 steps."""
    cells = []
    for w, window in enumerate(WINDOWS):
        for sparsity in SPARSITIES:
            for steps in DURATIONS:
                for seed in (0, 1):
                    val = 3.0 + sparsity - steps / 1000 - 0.1 * w + 0.005 * (-1) ** seed
                    cells.append(_cell(f"p-w{w}-s{sparsity}-d{steps}-{seed}", "geometric" if w == 0 else "cubic",
                                       sparsity, window, steps, seed, 1e6, val))
    for k, initial in enumerate((2e5, 6e5, 1.2e6)):
        cells.append(_cell(f"dense-{k}", "none", 0.0, (0.0, 0.0), 100, 0, initial, 3.2 - 0.1 * k))
    cells.append({**_cell("diverged-0", "geometric", 0.8, WINDOWS[0], 100, 2, 1e6, 9.0),
                  "status": "diverged", "val_loss": None})
    return cells


def _law(e: float, rmse: float, extrapolation: float | None) -> dict:
    return {"E": e, "A": 400.0, "B": 300.0, "alpha": 0.35, "beta": 0.3, "heldout_rmse": rmse,
            "extrapolation_rmse": extrapolation, "intervals": {"E": [e - 0.1, e + 0.1], "alpha": [0.3, 0.4]}}


def make_fit() -> dict:
    fitted = [c for c in make_cells() if c["status"] == "done"]
    fit = {"n_cells": 19, "predictors": {"avg_params": _law(1.5, 0.02, 0.05), "final_params": _law(1.6, 0.05, None),
                                         "initial_params": _law(1.4, 0.08, 0.1)},
           "ranking": ["avg_params", "final_params", "initial_params"], "best": "avg_params",
           "cell_ids": [c["cell_id"] for c in fitted]}
    for k, (name, entry) in enumerate(fit["predictors"].items()):  # held-out predictions off by ±0.02·(k + 1)
        entry["cv_predictions"] = [c["val_loss"] + 0.02 * (k + 1) * (-1) ** i for i, c in enumerate(fitted)]
    return fit


def test_every_figure_is_written(tmp_path: Path) -> None:
    figures = write_figures(make_cells(), make_fit(), tmp_path)
    assert list(figures) == ["loss_curves", "journey", "heatmap_steps100", "heatmap_steps200",
                             "predicted_vs_measured", "law_curves", "frontier", "dense_equivalence"]
    for name, path in figures.items():
        assert path == tmp_path / f"{name}.png"
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def test_conclusions_find_planted_window_predictor_and_gap() -> None:
    found = conclusions(make_cells(), make_fit())
    assert len(found["windows"]) == len(SPARSITIES) * len(DURATIONS)
    for row in found["windows"]:
        assert row["best_window"] == "0.3–0.8 (cubic)" and row["runner_up"] == "0.1–0.5 (geometric)"
        assert abs(row["margin"] - 0.1) < 1e-9 and abs(row["noise"] - 0.0070710678) < 1e-6
        assert row["significant"] is True and row["n_seeds"] == 2
    comp = found["predictor"]
    assert comp["best"] == "avg_params" and comp["runner_up"] == "final_params"
    assert abs(comp["ratio"] - 0.4) < 1e-9 and abs(comp["difference"] - 0.03) < 1e-9
    gap = found["dense_gap"]  # finding 3's: the pruned cells at 100 steps lie inside the dense sizes there
    assert gap["gap"]["n"] == 8 and gap["gap"]["max"] >= gap["gap"]["mean"] and gap["no_reference"] == 8


def test_markdown_embeds_figures_and_states_numbers(tmp_path: Path) -> None:
    cells, fit = make_cells(), make_fit()
    figures = write_figures(cells, fit, tmp_path)
    skipped = [("runs/x/result.json", "unreadable JSON")]
    text = render_report(cells, fit, figures, tmp_path, skipped=skipped)
    assert text == render_report(copy.deepcopy(cells), fit, figures, tmp_path, skipped=skipped)
    for name in figures:
        assert f"![{name}]({name}.png)" in text
    assert "`avg_params` has the lowest held-out RMSE: 0.02 vs 0.05 for `final_params`" in text
    assert "(ratio 0.4, difference 0.03; finding 2 below says whether that is more than chance)" in text
    assert "1.5 [1.4, 1.6]" in text and "| 0.3–0.8 (cubic) |" in text
    assert "## Skipped files" in text and "`runs/x/result.json` | unreadable JSON" in text
    assert "Cells: 20 — diverged (1), done (19)." in text
    assert "TODO" not in text and "TBD" not in text


def test_the_headline_gap_is_finding_3s_number() -> None:
    cells = make_cells()
    text = render_report(cells, make_fit(), {}, Path("."))
    gap = conclusions(cells, make_fit())["dense_gap"]["gap"]
    headline = next(line for line in text.splitlines() if line.startswith("- Pruned vs dense"))
    assert f"mean {gap['mean']:+.4f}" in headline and "no law; finding 3" in headline
    assert f"mean {gap['mean']:+.4f}" in text.split("### 3.")[1]


def test_missing_data_degrades_gracefully(tmp_path: Path) -> None:
    cells = [c for c in make_cells() if c["cell"]["seed"] == 0 and c["cell"]["schedule"] != "none"]
    found = conclusions(cells, None)
    assert all(r["noise"] is None and r["noise_label"] == "n/a — one seed" for r in found["windows"])
    assert all(r["significant"] is None for r in found["windows"])
    assert found["predictor"] is None and found["dense_gap"]["verdict"] == "not testable"
    cells.append({**cells[0], "cell_id": "failed-0", "status": "failed", "val_loss": None, "avg_params": None,
                  "tokens": 0, "metrics": []})
    figures = write_figures(cells, None, tmp_path)
    assert "predicted_vs_measured" not in figures and "law_curves" not in figures and "journey" in figures
    text = render_report(cells, None, figures, tmp_path)
    assert "n/a — one seed" in text and "no dense reference" in text and "No size-law fit." in text
    assert "## Skipped files" not in text


def test_no_pruned_cells_skips_pruning_figures(tmp_path: Path) -> None:
    cells = [c for c in make_cells() if c["cell"]["schedule"] == "none"]
    figures = write_figures(cells, make_fit(), tmp_path)
    assert "journey" not in figures and not any(n.startswith("heatmap_") for n in figures)
    assert "loss_curves" in figures and "law_curves" in figures
    text = render_report(cells, make_fit(), figures, tmp_path)
    assert "No pruned geometric or cubic cell with a val loss." in text and "no dense reference" in text


def _finetuned(sparsity: float, seed: int, before: float, after: float) -> dict:
    cell = _cell(f"spdf-{sparsity}-{seed}", "static" if sparsity else "none", sparsity, (0.0, 0.0), 600, seed,
                 1000.0, before)
    cell["avg_params"] = cell["final_params"] = 1000.0 * (1 - sparsity)
    return cell | {"pretrain_flops": 6.0 * cell["avg_params"] * cell["tokens"],
                   "finetune": {"steps": 200, "tokens": 200_000, "final_loss": after, "val_loss": after}}


def test_the_spdf_section_sets_compute_saved_against_the_fine_tuned_loss(tmp_path):
    from orchestrator.study.spdf_report import spdf_rows

    cells = [_finetuned(s, seed, 2.60 + s / 10, 2.55 + s / 20 + seed / 1000) for s in (0.0, 0.5, 0.75)
             for seed in (0, 1)]
    rows = {row["sparsity"]: row for row in spdf_rows(cells)}
    assert rows[0.0]["compute_saved"] == 0.0 and abs(rows[0.75]["compute_saved"] - 0.75) < 1e-9
    assert abs(rows[0.5]["finetuned_gap"] - 0.025) < 1e-9 and rows[0.5]["cells"] == 2
    figures = write_figures(cells, None, tmp_path)
    assert figures["spdf"].read_bytes().startswith(PNG)
    markdown = render_report(cells, None, figures, tmp_path)
    assert "## SPDF: sparse pre-training, dense fine-tuning" in markdown
    assert "| 0.75 | 2 | " in markdown and "75.0 %" in markdown and "+0.0375" in markdown


def test_a_study_without_fine_tuning_has_no_spdf_section(tmp_path):
    cells = [_cell("c", "geometric", 0.5, (0.1, 0.5), 100, 0, 1000.0, 3.0)]
    assert "SPDF" not in render_report(cells, None, write_figures(cells, None, tmp_path), tmp_path)


def _p2_cell(n0: float, rho: float, law: dict, l0: float) -> dict:
    from orchestrator.study.p2_law import predict_p2

    tokens = [1000 * k for k in (1, 2, 4, 8, 16, 32)]
    losses = predict_p2(law, rho, n0, tokens, l0)
    cell = _cell(f"p2-{n0:g}-{rho:g}", "none", 0.0, (0.0, 0.0), 32, 0, n0 * (1 - rho), float(losses[-1]))
    cell["metrics"] = [{"step": k, "tokens": t, "val_loss": float(v)} for k, (t, v) in
                       enumerate(zip(tokens, losses), 1)]
    return cell | {"structured": {"method": "width", "ratio": rho, "n0": n0, "l0": l0, "n_pruned": n0 * (1 - rho)}}


def test_the_p2_section_fits_the_post_training_law_and_keeps_p2_cells_out_of_the_journey(tmp_path):
    law = {"N_C": 3.0, "D_C": 40.0, "E": 0.05, "alpha": 0.3, "beta": 0.4, "gamma": 0.5, "delta": 0.1}
    p2 = [_p2_cell(n0, rho, law, 3.0) for n0 in (2e5, 4e5, 8e5) for rho in (0.15, 0.25, 0.35)]
    journey = [_cell("dense", "none", 0.0, (0.0, 0.0), 100, 0, 1000.0, 3.1)]
    figures = write_figures(journey + p2, None, tmp_path)
    assert figures["p2"].read_bytes().startswith(PNG)
    markdown = render_report(journey + p2, None, figures, tmp_path)
    assert "## P²: post-training after structured pruning" in markdown and "### width" in markdown
    all_points = next(line for line in markdown.splitlines() if line.startswith("| 3 | 40 |") or "| 36 |" in line)
    assert float(all_points.split("|")[-3]) < 1e-4, "points drawn from the law are fitted exactly"
    heldout = next(line for line in markdown.splitlines() if line.startswith("| heldout |"))
    assert float(heldout.split("|")[3]) < 0.02, "12 early points of small models still predict the rest"
    assert "p2-" not in markdown.split("## P²")[0], "P² cells stay out of the pruning-journey sections"


def test_heatmap_rows_run_by_window_start_then_end_as_numbers() -> None:
    from orchestrator.study.figures import heatmap_table

    windows = [(0.5, 1.0), (0.0, 1.0), (0.25, 0.5), (0.0, 0.25), (0.75, 1.0)]
    cells = [_cell(f"w{k}", "geometric", 0.5, w, 100, 0, 1e6, 3.0 + k) for k, w in enumerate(windows)]
    rows, cols, grid = heatmap_table(cells)["steps100"]
    assert rows == ["0–0.25", "0–1", "0.25–0.5", "0.5–1", "0.75–1"]  # as strings "0.25–0.5" would come first
    assert cols == [0.5] and list(grid[:, 0]) == [6.0, 4.0, 5.0, 3.0, 7.0]


def test_heatmap_numbers_are_black_on_light_cells_and_white_on_dark_ones() -> None:
    from orchestrator.study.figures import text_colour

    assert text_colour((1.0, 1.0, 0.9, 1.0)) == "black" and text_colour((0.1, 0.0, 0.2, 1.0)) == "white"


def test_predicted_vs_measured_plots_the_cross_validated_predictions() -> None:
    from orchestrator.study.figures import heldout_points

    cells, fit = make_cells(), make_fit()
    points = heldout_points(cells, fit, "final_params")
    measured = {c["cell_id"]: c["val_loss"] for c in cells}
    assert len(points) == 19
    assert list(points[:, 0]) == fit["predictors"]["final_params"]["cv_predictions"]
    assert list(points[:, 1]) == [measured[i] for i in fit["cell_ids"]]
    rmse = float(np.sqrt(np.mean((points[:, 0] - points[:, 1]) ** 2)))
    assert abs(rmse - 0.04) < 1e-9  # the RMSE those points give: ±0.02·2
    assert len(heldout_points(cells, {"predictors": {"final_params": {}}}, "final_params")) == 0


def test_provenance_names_the_code_the_dates_and_the_commands() -> None:
    from orchestrator.study.provenance_section import provenance_section

    cells = [{"code": {"commit": "abc123", "version": "0.1.0"}, "timing": {"result_written_at": 1_800_000_000.0}},
             {"code": {"commit": None, "version": "0.1.0"}, "timing": {"result_written_at": 1_800_003_600.0}},
             {"status": "failed"}]
    text = "\n".join(provenance_section(cells, ["orchestrator-train -m seed=0,1", "orchestrator-train -m seed=0,1"]))
    assert "`0.1.0` (1 cells); `abc123` (1 cells); `not recorded` (1 cells)" in text
    assert "from 2027-01-15 08:00 UTC to 2027-01-15 09:00 UTC" in text
    assert text.count("orchestrator-train -m seed=0,1") == 1
    assert "not recorded (no sweep manifest" in "\n".join(provenance_section(cells, []))
