"""The paper's three findings on synthetic stores where the answer is planted: each verdict and its numbers."""
from __future__ import annotations

import numpy as np
import pytest
from store_records import result_record

from orchestrator.study.figures import predict_loss
from orchestrator.study.dense_equivalence import (_dense_verdict, dense_equivalence_finding, dense_loss_at,
                                                  interpolation_error)
from orchestrator.study.findings import findings, predictor_finding, window_finding
from orchestrator.study.scaling_law import fit_predictors
from orchestrator.study.findings_markdown import findings_section

LAW = {"E": 1.5, "A": 30.0, "B": 100.0, "alpha": 0.4, "beta": 0.35}  # losses near 2.4, as at micro scale
WINDOWS = ((0.0, 0.25), (0.25, 0.75), (0.5, 1.0))


def _cell(cell_id: str, *, sparsity: float, window: tuple[float, float], seed: int, val: float,
          initial: float = 2e5, tokens: float = 4e6, avg_share: float = 0.7, tpp: float | None = 5.0) -> dict:
    return result_record(val_loss=val, sparsity=sparsity, window=window, seed=seed, model=f"n{initial:g}",
                         initial=initial, avg=initial * avg_share, tokens=tokens, tokens_per_param=tpp,
                         dense_steps=520 if tpp else None, cell_id=cell_id)


def _window_cells(paper_offset: float, seed_spread: float = 0.01) -> list[dict]:
    """Three windows at two sparsities, two seeds each; the 0–0.25 window is best, the paper's is `paper_offset`
    worse, the third 0.1 worse; seeds differ by ±seed_spread/2."""
    cells = []
    for sparsity in (0.5, 0.8):
        for window, offset in zip(WINDOWS, (0.0, paper_offset, 0.1)):
            for seed in (0, 1):
                val = 2.0 + sparsity + offset + seed_spread * (seed - 0.5)
                cells.append(_cell(f"s{sparsity}-{window}-{seed}", sparsity=sparsity, window=window, seed=seed,
                                   val=val))
    return cells


def test_paper_window_within_noise_is_near_optimal() -> None:
    found = window_finding(_window_cells(paper_offset=0.005))
    assert found["noise"] == pytest.approx(0.01 / 2 ** 0.5)
    assert found["n_groups"] == 2 and found["n_near_optimal"] == 2 and found["holds"] is True
    row = found["groups"][0]
    assert row["paper_rank"] == 2 and row["best_window"] == [0.0, 0.25] and row["gap"] == pytest.approx(0.005)
    assert row["spread"] == pytest.approx(0.1) and found["n_best"] == 0 and row["tokens_ratio"] == 1.0


def test_paper_window_beyond_noise_is_not_near_optimal() -> None:
    found = window_finding(_window_cells(paper_offset=0.05))
    assert found["n_near_optimal"] == 0 and found["holds"] is False and found["max_gap"] == pytest.approx(0.05)


def test_schedules_are_compared_apart() -> None:
    cubic = [{**c, "cell": {**c["cell"], "schedule": "cubic"}, "val_loss": c["val_loss"] - 1.0}
             for c in _window_cells(paper_offset=0.05) if c["cell"]["start"] != 0.0]  # cubic: the paper window best
    found = window_finding(_window_cells(paper_offset=0.005) + cubic)
    assert [(r["sparsity"], r["schedule"], r["paper_rank"]) for r in found["groups"]] == [
        (0.5, "cubic", 1), (0.5, "geometric", 2), (0.8, "cubic", 1), (0.8, "geometric", 2)]


def test_window_finding_without_seeds_has_no_verdict() -> None:
    cells = [c for c in _window_cells(paper_offset=0.0) if c["cell"]["seed"] == 0]
    found = window_finding(cells)
    assert found["noise"] is None and found["holds"] is None and found["n_groups"] == 2


def _law_store(size_key: str, *, sizes=(5e4, 1.5e5, 4.5e5), pruned_sizes=None, noise=0.002) -> list[dict]:
    """Dense and pruned cells (sparsity 0.5 over 0.25–0.75, 0.8 over 0–0.5) at 3 sizes and 4 token counts; the loss
    follows LAW in the cell's `size_key` with multiplicative noise."""
    rng = np.random.default_rng(4)
    cells = []
    for initial in sizes:
        for sparsity, window, avg_share in ((0.0, (0.25, 0.75), 1.0), (0.5, (0.25, 0.75), 0.75), (0.8, (0.0, 0.5)
                                                                                                   , 0.45)):
            if sparsity and pruned_sizes is not None and initial not in pruned_sizes:
                continue
            for tokens in (1e6, 2e6, 4e6, 8e6):
                cell = result_record(val_loss=1.0, sparsity=sparsity, window=window, model=f"n{initial:g}",
                                     initial=initial, avg=initial * avg_share, tokens=tokens)
                cell["val_loss"] = predict_loss(LAW, cell[size_key], tokens) * (1 + noise * rng.standard_normal())
                cells.append(cell)
    return cells


def _predictors(cells: list[dict]) -> dict:
    return predictor_finding(fit_predictors(cells, bootstrap_samples=0, starts=4), cells)


def test_the_law_on_n_avg_wins_with_intervals_above_zero_on_all_and_on_pruned_cells() -> None:
    found = _predictors(_law_store("avg_params"))
    assert found["verdict"] == "holds" and set(found["difference_ci"]) == {"final_params", "initial_params"}
    assert all(low > 0 for low, _ in found["difference_ci"].values())
    assert found["pruned_only"]["verdict"] == "holds" and found["pruned_only"]["n_cells"] == 24
    assert found["ratio_to_avg"]["final_params"] > 1 and found["n_model_sizes"] == 3


def test_a_law_on_n_final_makes_the_finding_fail() -> None:
    found = _predictors(_law_store("final_params"))
    assert found["verdict"] == "does not hold" and found["difference_ci"]["final_params"][1] < 0


def test_one_model_size_is_not_testable_and_names_the_sweep_that_tests_it() -> None:
    found = _predictors(_law_store("avg_params", sizes=(1.5e5,)))
    assert found["verdict"] == "not testable" and "experiment=dense_ladder" in found["to_test"]
    mixed = _predictors(_law_store("avg_params", pruned_sizes=(1.5e5,)))
    assert mixed["pruned_only"]["verdict"] == "not testable" and mixed["pruned_only"]["n_model_sizes"] == 1


def test_a_fit_without_predictions_per_cell_is_not_testable() -> None:
    fit = {"n_cells": 30, "predictors": {"avg_params": {"heldout_rmse": 0.01}, "final_params": {"heldout_rmse": 0.03},
                                         "initial_params": {"heldout_rmse": 0.02}}}
    assert predictor_finding(fit)["verdict"] == "not testable"
    assert predictor_finding(None)["holds"] is None


def _dense_grid() -> list[dict]:
    """Dense cells on the law LAW, on a grid of 7 sizes × 5 token counts."""
    return [_cell(f"dense-{n:g}-{d:g}", sparsity=0.0, window=(0.0, 0.0), seed=0, initial=n, tokens=d,
                  val=predict_loss(LAW, n, d), tpp=None)
            for n in (5e4, 7e4, 1e5, 1.4e5, 2e5, 2.8e5, 4e5) for d in (1e6, 2e6, 4e6, 8e6, 1.6e7)]


def _pruned(size_key: str, seed_spread: float = 0.01) -> list[dict]:
    """Pruned cells (N_initial 2e5, N_avg 1.4e5) at two sparsities and two seeds, their loss that of a dense model of
    `size_key` ± seed_spread / 2."""
    cells = []
    for sparsity in (0.4, 0.6):
        for seed in (0, 1):
            cell = _cell(f"pruned-{sparsity}-{seed}", sparsity=sparsity, window=(0.25, 0.75), seed=seed, val=0.0,
                         tokens=6e6)
            cell["val_loss"] = predict_loss(LAW, cell[size_key], cell["tokens"]) + seed_spread * (seed - 0.5)
            cells.append(cell)
    return cells


def test_dense_loss_is_read_off_the_grid_without_a_law() -> None:
    grid = _dense_grid()
    assert dense_loss_at(grid, 1e5, 4e6) == pytest.approx(predict_loss(LAW, 1e5, 4e6))
    # between grid points, linear in log N and log D: within 0.3 % of the law here
    assert dense_loss_at(grid, 1.2e5, 3e6) == pytest.approx(predict_loss(LAW, 1.2e5, 3e6), rel=3e-3)
    assert dense_loss_at(grid, 4e4, 4e6) is None and dense_loss_at(grid, 1e5, 2e7) is None


def test_pruned_like_dense_of_its_average_size_holds() -> None:
    found = dense_equivalence_finding(_dense_grid() + _pruned("avg_params"))
    assert found["n_dense"] == 35 and found["n_pruned"] == 4 and found["no_reference"] == 0
    assert abs(found["gap"]["mean"]) < 5e-3 and found["holds"] is True
    contrast = found["contrast"]
    assert contrast["final_params"]["mean"] < -0.01 < 0.01 < contrast["initial_params"]["mean"]
    assert sorted(found["by_sparsity"]) == ["0.4", "0.6"]


def test_pruned_like_dense_of_its_initial_size_does_not_hold() -> None:
    found = dense_equivalence_finding(_dense_grid() + _pruned("initial_params"))
    assert found["holds"] is False and found["gap"]["mean"] < -0.01 and found["mean_pct"] < 0
    assert abs(found["contrast"]["initial_params"]["mean"]) < 5e-3


def test_the_dense_references_own_error_is_measured_and_can_make_a_gap_inconclusive() -> None:
    grid = _dense_grid()
    assert interpolation_error(grid)["rmse"] < 0.02  # leaving a cell out doubles the spacing: conservative
    bumpy = [{**cell, "val_loss": cell["val_loss"] + 0.05 * (-1) ** k} for k, cell in enumerate(grid)]
    assert interpolation_error(bumpy)["rmse"] > 0.05
    noise = 0.01
    assert _dense_verdict(0.015, noise, {"rmse": 0.05})["verdict"] == "holds"
    assert _dense_verdict(0.05, noise, {"rmse": 0.05})["verdict"] == "inconclusive"
    assert _dense_verdict(0.05, noise, {"rmse": 0.001})["verdict"] == "does not hold"
    assert _dense_verdict(0.05, noise, None)["verdict"] == "does not hold"
    assert _dense_verdict(0.05, None, None)["verdict"] == "not testable"


def test_no_dense_reference_is_not_testable() -> None:
    found = dense_equivalence_finding([c for c in _dense_grid() if c["initial_params"] > 3e5] + _pruned("avg_params"))
    assert found["holds"] is None and found["n_pruned"] == 4 and "gap" not in found


def test_section_states_each_verdict() -> None:
    law = _law_store("avg_params")
    fit = fit_predictors(law, bootstrap_samples=0, starts=4)
    cells = _window_cells(paper_offset=0.005) + _dense_grid() + _pruned("avg_params")
    text = "\n".join(findings_section(findings(cells + law, fit)))
    assert "### 1. Pruning over 0.25–0.75 of compute is near-optimal: **holds**" in text
    assert "### 2. The law on N_avg has the lowest held-out error: **holds**" in text
    # the window cells are 0.5–1.4 worse than a dense model of their N_avg: far beyond the seed noise
    assert "### 3. At equal N_avg, pruned loss is close to dense loss: **does not hold**" in text
    assert "95 % paired bootstrap over cells" in text and "Pruned cells only (24, 3 model sizes)" in text
