"""Issue 19: the report states which learning-rate schedule its cells used and never mixes cosine and wsd cells in
one comparison: window groups, seed noise per budget, the best-window table and heatmaps are per schedule; the law
(and finding 3's dense reference, read off the law's cells) is fitted on one schedule, the others named as left out."""
from __future__ import annotations

import pytest
from store_records import result_record

from orchestrator.study.dense_equivalence import dense_equivalence_finding
from orchestrator.study.figures import duration_label, duration_order, predict_loss, split_duration
from orchestrator.study.findings import window_finding
from orchestrator.study.markdown import study_section
from orchestrator.study.scaling_law import fittable_cells, law_lr_schedules

WINDOWS = ((0.0, 0.25), (0.25, 0.75), (0.5, 1.0))
LAW = {"E": 1.5, "A": 30.0, "B": 100.0, "alpha": 0.4, "beta": 0.35}


def _wsd(cell: dict) -> dict:
    return {**cell, "cell": {**cell["cell"], "lr_schedule": "wsd"}, "cell_id": cell["cell_id"] + "-wsd"}


def _window_cells(paper_offset: float, *, seeds=(0, 1)) -> list[dict]:
    """Two sparsities × three windows × seeds at 5 tokens/param; 0–0.25 best, the paper window `paper_offset` worse."""
    return [result_record(val_loss=2.0 + s + offset + 0.01 * (seed - 0.5), sparsity=s, window=w, seed=seed,
                          tokens_per_param=5.0, dense_steps=520, cell_id=f"s{s}-{w}-{seed}")
            for s in (0.5, 0.8) for w, offset in zip(WINDOWS, (0.0, paper_offset, 0.1)) for seed in seeds]


def test_a_wsd_cells_duration_names_its_schedule_and_sorts_after_cosine():
    cosine = result_record(val_loss=2.0, sparsity=0.5, tokens_per_param=20.0, dense_steps=2080)
    assert duration_label(cosine) == "tpp20" and duration_label(_wsd(cosine)) == "tpp20-wsd"
    steps = result_record(val_loss=2.0, sparsity=0.5, dense_steps=300)
    assert duration_label(_wsd(steps)) == "steps300-wsd" and split_duration("steps300-wsd") == ("steps", 300.0, "wsd")
    assert split_duration("tpp5") == ("tpp", 5.0, "cosine")
    labels = ["tpp20-wsd", "tpp40", "tpp5-wsd", "tpp5"]
    assert sorted(labels, key=duration_order) == ["tpp5", "tpp40", "tpp5-wsd", "tpp20-wsd"]


def test_window_groups_and_their_seed_noise_never_mix_cosine_and_wsd():
    # cosine: the paper window is near-optimal (0.005 worse); wsd: it is 0.2 worse, with far larger seed noise
    cosine = _window_cells(0.005)
    wsd = [_wsd(c) | {"val_loss": c["val_loss"] + 0.2 * (c["cell"]["start"] == 0.25)
                      + 0.05 * (c["cell"]["seed"] - 0.5)} for c in _window_cells(0.0)]
    found = window_finding(cosine + wsd)
    by_budget = {b["duration"]: b for b in found["by_budget"]}
    assert set(by_budget) == {"tpp5", "tpp5-wsd"}
    assert by_budget["tpp5"]["noise"] == pytest.approx(0.01 / 2 ** 0.5)  # its own seeds only
    assert by_budget["tpp5-wsd"]["noise"] == pytest.approx(0.06 / 2 ** 0.5)
    assert by_budget["tpp5"]["verdict"] == "holds" and by_budget["tpp5-wsd"]["verdict"] == "does not hold"
    groups = [(g["duration"], g["sparsity"], g["paper_rank"]) for g in found["groups"]]
    assert groups == [("tpp5", 0.5, 2), ("tpp5", 0.8, 2), ("tpp5-wsd", 0.5, 3), ("tpp5-wsd", 0.8, 3)]
    assert cosine and window_finding(cosine)["by_budget"][0] == by_budget["tpp5"]  # wsd cells change nothing


def _dense_grid(lr_schedule: str, shift: float) -> list[dict]:
    grid = [result_record(val_loss=predict_loss(LAW, n, d) + shift, initial=n, tokens=d, model=f"n{n:g}",
                          cell_id=f"dense-{n:g}-{d:g}") for n in (5e4, 1e5, 2e5, 4e5) for d in (1e6, 4e6, 1.6e7)]
    return grid if lr_schedule == "cosine" else [_wsd(c) for c in grid]


def test_the_law_and_the_dense_reference_take_one_schedule_and_say_which():
    pruned = [result_record(val_loss=predict_loss(LAW, 1.4e5, 6e6) + 0.01 * (seed - 0.5), sparsity=s, seed=seed,
                            initial=2e5, avg=1.4e5, tokens=6e6, model="n200000", cell_id=f"p{s}-{seed}")
              for s in (0.4, 0.6) for seed in (0, 1)]
    cosine = _dense_grid("cosine", 0.0) + pruned
    wsd = _dense_grid("wsd", -0.3) + [_wsd(c) | {"val_loss": c["val_loss"] - 0.3} for c in pruned]
    assert law_lr_schedules(cosine + wsd) == ("cosine", {"wsd": len(wsd)})
    assert fittable_cells(cosine + wsd) == fittable_cells(cosine)
    assert law_lr_schedules(wsd) == ("wsd", {}) and len(fittable_cells(wsd)) == len(wsd)
    # wsd cells 0.3 better than cosine dense cells would make finding 3 read a planted equality as a 0.3 gap
    mixed = dense_equivalence_finding(cosine + wsd)
    assert mixed == dense_equivalence_finding(cosine) and mixed["holds"] is True
    assert dense_equivalence_finding(wsd)["holds"] is True
    study = "\n".join(study_section(cosine + wsd, {"n_cells": len(cosine), "lr_schedule": "cosine",
                                                   "lr_schedules_left_out": {"wsd": len(wsd)}}))
    assert f"- Learning-rate schedules: cosine ({len(cosine)}), wsd ({len(wsd)})." in study
    assert f"- Cells in the size-law fit: {len(cosine)} (all cosine; {len(wsd)} wsd cells left out" in study
    assert "- Cells in the size-law fit: 16." in "\n".join(study_section(cosine, {"n_cells": 16}))
