"""The report's figures, one test each: written, axes labelled, windows in numeric order, and drawn from the numbers
the report computes (finding 3's references, the plans' densities, the law's frontier); and --figures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_report_findings import LAW, _dense_grid, _pruned
from test_report_render import PNG, _cell, make_cells, make_fit

from orchestrator.study.figure_set import parse_figures, write_figures
from orchestrator.study.figures import pyplot

WINDOWS = ((0.5, 1.0), (0.0, 1.0), (0.25, 0.5), (0.0, 0.25))  # as strings "0.25–0.5" would sort before "0–1"
NUMERIC = ["0–0.25", "0–1", "0.25–0.5", "0.5–1"]


def _windowed_cells() -> list[dict]:
    """Pruned cells over WINDOWS at two sparsities, and one dense cell of their model."""
    cells = [_cell(f"w{k}-s{s}", "geometric", s, w, 100, 0, 1e6, 3.0 + k / 10) for k, w in enumerate(WINDOWS)
             for s in (0.5, 0.8)]
    return cells + [_cell("dense", "none", 0.0, (0.0, 0.0), 100, 0, 1e6, 2.9)]


def _labelled(fig) -> list:
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert axes and all(ax.get_xlabel() and ax.get_ylabel() for ax in axes), "every panel names its axes"
    return axes


def _closed(fig) -> None:
    pyplot().close(fig)


def test_loss_curves_are_faceted_by_sparsity_with_the_dense_reference_in_each_panel(tmp_path: Path) -> None:
    from orchestrator.study.loss_figure import draw_loss_curves

    fig = draw_loss_curves(_windowed_cells())
    axes = _labelled(fig)
    assert [ax.get_title() for ax in axes] == ["sparsity 0.5 (4 cells)", "sparsity 0.8 (4 cells)"]
    for ax in axes:  # the dense cell is drawn dashed in every panel, the pruned ones solid
        styles = sorted(line.get_linestyle() for line in ax.get_lines())
        assert styles == ["-", "-", "-", "-", "--"]
    legend = fig.legends[0]
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == [f"window {w}" for w in NUMERIC] + ["dense, same model (reference)"]
    assert "dashed: dense" in legend.get_title().get_text() and "solid: pruned" in legend.get_title().get_text()
    _closed(fig)
    assert write_figures(_windowed_cells(), None, tmp_path, only={"loss_curves"})["loss_curves"].read_bytes()[:8] == PNG


def test_loss_curves_of_cosine_and_wsd_cells_are_panels_of_their_own() -> None:
    """Issue 19: a store holding both learning-rate schedules draws each in its own panels, each with the dense
    reference of its own schedule; a store of one schedule is drawn as before (titles without the schedule)."""
    from orchestrator.study.loss_figure import draw_loss_curves

    cosine = _windowed_cells()
    wsd = [{**c, "cell": {**c["cell"], "lr_schedule": "wsd"}, "cell_id": c["cell_id"] + "-wsd"} for c in cosine]
    fig = draw_loss_curves(cosine + wsd)
    axes = _labelled(fig)
    assert [ax.get_title() for ax in axes] == ["sparsity 0.5, cosine (4 cells)", "sparsity 0.8, cosine (4 cells)",
                                               "sparsity 0.5, wsd (4 cells)", "sparsity 0.8, wsd (4 cells)"]
    for ax in axes:  # four windows of one schedule, and that schedule's one dense cell
        assert sorted(line.get_linestyle() for line in ax.get_lines()) == ["-", "-", "-", "-", "--"]
    _closed(fig)
    fig = draw_loss_curves(wsd)
    assert [ax.get_title() for ax in _labelled(fig)] == ["sparsity 0.5 (4 cells)", "sparsity 0.8 (4 cells)"]
    _closed(fig)


def test_law_curves_colour_each_cell_like_the_curve_of_its_own_token_count() -> None:
    from matplotlib.colors import to_rgba

    from orchestrator.study.law_figure import draw_law_curves

    fig = draw_law_curves(make_cells(), make_fit())  # cells at 1e5 and 2e5 tokens: the first and last curve
    [ax] = _labelled(fig)
    curves = {float(line.get_label().split("= ")[1]): to_rgba(line.get_color()) for line in ax.get_lines()}
    assert min(curves) == 1e5 and max(curves) == 2e5
    points = 0
    for collection in ax.collections:  # pruned circles, dense squares: each point coloured by its own D
        for tokens in np.asarray(collection.get_array(), dtype=float):
            assert np.allclose(collection.to_rgba(tokens), curves[tokens])
            points += 1
    assert points == 19
    _closed(fig)


def test_frontier_is_the_laws_lowest_loss_for_each_compute_and_every_cell_is_plotted() -> None:
    from orchestrator.study.frontier_figure import draw_frontier, frontier

    constants = np.array([[LAW[k] for k in ("E", "A", "B", "alpha", "beta")], [1.5, 300.0, 500.0, 0.0, 0.3],
                          [1.5, 300.0, 500.0, 0.3, 0.0]])
    compute, span = np.geomspace(1e11, 1e15, 9), (3e4, 3e6)
    sizes = np.geomspace(*span, 20001)
    brute = [(c[0] + c[1] / sizes ** c[3] + c[2] / (compute[:, None] / 6 / sizes) ** c[4]).min(axis=1)
             for c in constants]
    assert np.allclose(frontier(constants, compute, span), brute, rtol=1e-6)
    cells, fit = make_cells(), make_fit()
    fit["predictors"]["avg_params"]["bootstrap_draws"] = [[1.4, 400.0, 300.0, 0.35, 0.3], [1.6, 400.0, 300.0, 0.3,
                                                                                            0.3]]
    fig = draw_frontier(cells, fit)
    [ax] = _labelled(fig)
    assert "FLOPs" in ax.get_xlabel() and ax.get_xscale() == "log"
    assert sum(len(c.get_offsets()) for c in ax.collections if c.get_label().endswith("cells")) == 19  # done cells
    _closed(fig)


def test_the_laws_figures_draw_only_the_cells_of_the_laws_learning_rate_schedule(tmp_path, monkeypatch) -> None:
    """Issue 19: the law is fitted on one learning-rate schedule (fit.json `lr_schedule`); its figures (predicted vs
    measured, law curves, frontier) do not draw the other schedule's cells against it."""
    import orchestrator.study.figure_set as figure_set

    drawn = {}
    for name in ("predicted_vs_measured", "law_curves", "frontier_figure"):
        monkeypatch.setattr(figure_set, name, lambda cells, fit, path, name=name: drawn.setdefault(name, cells))
    cosine = make_cells()
    wsd = [{**c, "cell": {**c["cell"], "lr_schedule": "wsd"}, "cell_id": c["cell_id"] + "-wsd"} for c in cosine]
    figure_set.write_figures(cosine + wsd, make_fit() | {"lr_schedule": "cosine"}, tmp_path,
                             only={"predicted_vs_measured", "law_curves", "frontier"})
    assert set(drawn) == {"predicted_vs_measured", "law_curves", "frontier_figure"}
    assert all([c["cell_id"] for c in cells] == [c["cell_id"] for c in cosine] for cells in drawn.values())
    drawn.clear()
    figure_set.write_figures(cosine + wsd, make_fit(), tmp_path, only={"frontier"})  # a fit that names none: all
    assert len(drawn["frontier_figure"]) == 2 * len(cosine)


def test_dense_equivalence_plots_finding_3s_own_numbers() -> None:
    from orchestrator.study.dense_equivalence import dense_equivalence_finding
    from orchestrator.study.dense_equivalence_figure import draw_dense_equivalence, equivalence_points

    cells = _dense_grid() + _pruned("avg_params")
    found, points = dense_equivalence_finding(cells), equivalence_points(cells)
    assert np.mean(points["avg_params"][:, 1] - points["avg_params"][:, 0]) == pytest.approx(found["gap"]["mean"])
    for name in ("final_params", "initial_params"):
        assert np.mean(points[name][:, 1] - points[name][:, 0]) == pytest.approx(found["contrast"][name]["mean"])
    fig = draw_dense_equivalence(cells)
    axes = _labelled(fig)
    assert [ax.get_title().split(":")[0] for ax in axes] == ["at N_avg", "at N_final", "at N_initial"]
    assert f"{found['gap']['mean']:+.4f}" in axes[0].get_title() and found["verdict"] in fig.get_suptitle()
    _closed(fig)
    assert draw_dense_equivalence([c for c in cells if c["cell"]["schedule"] != "none"]) is None


def _planned(window: tuple[float, float], sparsity: float, fixed_cost: float = 0.0) -> dict:
    from pruning.plan import plan_iso_compute

    cell = _cell(f"plan-{window}-{sparsity}", "geometric", sparsity, window, 200, 0, 1e6, 3.0)
    plan = plan_iso_compute(sparsity=sparsity, dense_steps=200, start=window[0], end=window[1], every=10,
                            fixed_cost=fixed_cost).to_dict()
    return cell | {"plan": plan}


def test_schedules_follow_each_plan_in_compute_with_windows_in_numeric_order() -> None:
    from orchestrator.study.schedule_figure import draw_schedules, planned_density

    for fixed_cost in (0.0, 0.15):  # budget.compute=linear, and =total (attention's share never pruned)
        cell = _planned((0.25, 0.75), 0.8, fixed_cost)
        spent, density = planned_density(cell["plan"])
        assert spent[0] == 0.0 and spent[-1] == pytest.approx(cell["plan"]["compute"] / 200)
        assert density[0] == 1.0 and density[-1] == pytest.approx(0.2)
        first_pruned, final = spent[np.argmax(density < 1.0)], spent[np.argmax(density <= 0.2 + 1e-12)]
        assert first_pruned == pytest.approx(0.25, abs=0.03) and final == pytest.approx(0.75, abs=0.03)  # its window
    fig = draw_schedules([_planned(w, s) for w in WINDOWS for s in (0.5, 0.8)])
    axes = _labelled(fig)
    assert [ax.get_title() for ax in axes] == [f"geometric, window {w}" for w in NUMERIC]
    _closed(fig)
    assert draw_schedules(make_cells()) is None  # cells without a plan.json


def test_figures_flag_draws_only_what_was_asked_for(tmp_path: Path) -> None:
    assert parse_figures("all") is None and parse_figures("none") == frozenset()
    assert parse_figures("loss_curves, heatmap") == {"loss_curves", "heatmap"}
    with pytest.raises(ValueError, match="unknown figure bogus"):
        parse_figures("loss_curves,bogus")
    cells, fit = make_cells(), make_fit()
    assert write_figures(cells, fit, tmp_path / "none", only=frozenset()) == {}
    assert list(write_figures(cells, fit, tmp_path / "some", only={"heatmap", "frontier"})) == [
        "heatmap_steps100", "heatmap_steps200", "frontier"]
    assert list(write_figures(cells, fit, tmp_path / "one", only={"heatmap_steps200"})) == ["heatmap_steps200"]
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["heatmap_steps200.png"]
