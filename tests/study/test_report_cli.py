"""`orchestrator-report` on a synthetic store whose losses follow the law in N_avg."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from store_records import result_record

from orchestrator.store.reader import load_cells

BIN = Path(sys.executable).parent
LAW = dict(E=1.5, A=60.0, B=900.0, alpha=0.3, beta=0.25)


def write_synthetic_store(root: Path) -> None:
    """Dense and pruned cells at 3 model sizes and 2 durations, shaped as real result.json files (store_records);
    val loss from the law in avg_params. Plus a torn file and a record without `cell.schedule`."""
    rng = np.random.default_rng(0)
    for model, dense in (("micro", 2e5), ("tiny", 8e5), ("small", 4.8e6)):
        for tokens in (2e7, 4e7):
            for sparsity, (start, end) in [(0.0, (0.25, 0.75)), (0.5, (0.25, 0.75)), (0.8, (0.0, 0.5)),
                                           (0.8, (0.5, 1.0))]:
                avg = dense * (1 - sparsity * (1 - (start + end) / 2))
                loss = LAW["E"] + LAW["A"] / avg ** LAW["alpha"] + LAW["B"] / tokens ** LAW["beta"]
                loss *= 1 + 0.002 * rng.standard_normal()
                result = result_record(val_loss=loss, sparsity=sparsity, window=(start, end), model=model,
                                       initial=dense, avg=avg, tokens=tokens, tokens_per_param=None,
                                       dense_steps=int(tokens // 1e5))
                cell_dir = root / result["cell_id"]
                cell_dir.mkdir(parents=True)
                (cell_dir / "result.json").write_text(json.dumps(result))
                final = result["final_params"]
                metrics = [{"step": s, "tokens": tokens * s / 100, "loss": loss + 1.0 / s,
                            "params_current": dense if s < 50 else final, "params_avg": avg} for s in (10, 50, 100)]
                (cell_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    corrupt = root / "torn-cell"
    corrupt.mkdir()
    (corrupt / "result.json").write_text('{"status": "do')
    no_schedule = result_record(val_loss=2.5, sparsity=0.5, cell_id="no-schedule")
    del no_schedule["cell"]["schedule"]
    (root / "no-schedule").mkdir()
    (root / "no-schedule" / "result.json").write_text(json.dumps(no_schedule))


def test_a_corrupt_result_file_is_named_and_skipped(tmp_path):
    write_synthetic_store(tmp_path / "sweep")
    cells, skipped = load_cells(tmp_path / "sweep")
    assert len(cells) == 24
    assert [(Path(path).parent.name, reason.split(":")[0]) for path, reason in skipped] == [
        ("no-schedule", "unreadable result.json"), ("torn-cell", "unreadable result.json")]
    assert "missing keys ['cell.schedule']" in skipped[0][1]
    through_uri, _ = load_cells(f"file://{tmp_path / 'sweep'}")  # the pyarrow filesystem path, as for s3:// or gs://
    assert [c["cell_id"] for c in through_uri] == [c["cell_id"] for c in cells]


def test_report_writes_fit_figures_and_report_and_ranks_n_avg_first(tmp_path):
    write_synthetic_store(tmp_path / "sweep")
    done = subprocess.run([str(BIN / "orchestrator-report"), str(tmp_path / "sweep"), "--out", str(tmp_path / "out"),
                           "--bootstrap", "10"], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torn-cell" in done.stderr
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert set(fit["predictors"]) == {"avg_params", "final_params", "initial_params"}
    for constants in fit["predictors"].values():
        assert {"E", "A", "B", "alpha", "beta", "heldout_rmse"} <= set(constants)
    assert fit["best"] == "avg_params"
    assert fit["predictors"]["avg_params"]["extrapolation_rmse"] < 0.05  # fitted on micro and tiny, scored on small
    assert "no-schedule" in done.stderr
    assert len((tmp_path / "out" / "cells.csv").read_text().splitlines()) == 1 + 24
    pngs = list((tmp_path / "out").glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 1000 for p in pngs)
    report = (tmp_path / "out" / "report.md").read_text()
    for png in pngs:
        assert f"({png.name})" in report
    assert "report.md" in done.stdout


def test_report_rejects_a_missing_store(tmp_path):
    done = subprocess.run([str(BIN / "orchestrator-report"), str(tmp_path / "nope")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "RESULTS_DIR" in done.stderr


def _run_id(run_dir: Path) -> str:
    """The W&B id of an offline run folder, from its `run-<id>.wandb` file (the folder's name gets a `-1` when a
    resumed run starts within the same second as the run it resumes)."""
    return next(run_dir.glob("run-*.wandb")).stem.removeprefix("run-")


def test_each_sweep_keeps_one_summary_run_whose_id_a_rerun_reuses(tmp_path):
    from orchestrator.store.identity import store_salt
    from orchestrator.store.reader import load_cells
    from orchestrator.study.report_cli import store_root
    from orchestrator.study.wandb_summary import log_summary_runs

    for sweep in ("alpha", "beta"):
        write_synthetic_store(tmp_path / "store" / sweep)
        for path in (tmp_path / "store" / sweep).glob("*/result.json"):
            if path.parent.name not in ("torn-cell", "no-schedule"):
                path.write_text(json.dumps(json.loads(path.read_text()) | {"sweep": sweep}))
    cells, _ = load_cells(tmp_path / "store")
    assert store_root(tmp_path / "store", cells) == tmp_path / "store"
    alpha, _ = load_cells(tmp_path / "store" / "alpha")  # one sweep's folder is read as part of its store
    assert store_root(tmp_path / "store" / "alpha", alpha) == (tmp_path / "store").resolve()
    salt = store_salt(tmp_path / "store")
    for _ in range(2):  # the report and its rerun (no fit: the runs' identity is what is tested)
        log_summary_runs(cells, None, {}, mode="offline", project="p", entity=None, salt=salt, run_dir=tmp_path / "out")
    runs = sorted((tmp_path / "out" / "wandb").glob("offline-run-*"))
    ids = [_run_id(run) for run in runs]
    assert len(runs) == 4 and len(set(ids)) == 2  # two sweeps, each its own run, the rerun resuming it
    log_summary_runs(alpha, None, {}, mode="offline", project="p", entity=None, salt=salt, run_dir=tmp_path / "a")
    [alone] = (tmp_path / "a" / "wandb").glob("offline-run-*")
    assert _run_id(alone) in ids
    assert (tmp_path / "store" / ".store.json").is_file()


def test_each_stage_prints_one_progress_line_and_figures_none_draws_none(tmp_path, capsys):
    import re

    from orchestrator.study.report_cli import main

    write_synthetic_store(tmp_path / "sweep")
    assert main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out"), "--bootstrap", "2",
                 "--figures", "none"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[report] skipped")]
    stages = [re.fullmatch(r"\[report\] (\w+): .+ \((\d+\.\d) s\)", line) for line in lines]
    assert all(stages), lines
    assert [match[1] for match in stages] == ["read", "fit", "findings", "figures", "report"]
    assert lines[0].startswith("[report] read: 24 cells") and "2 files skipped" in lines[0]
    assert not list((tmp_path / "out").glob("*.png")) and (tmp_path / "out" / "fit.json").is_file()
    assert "Only the figures asked for were drawn (`--figures none`)." in (tmp_path / "out" / "report.md").read_text()
    assert main([str(tmp_path / "sweep"), "--out", str(tmp_path / "quiet"), "--bootstrap", "2", "--figures",
                 "none", "--quiet"]) == 0
    assert "[report] read" not in capsys.readouterr().err


def test_an_unknown_figure_is_refused_before_any_work(tmp_path, capsys):
    import pytest

    from orchestrator.study.report_cli import main

    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--figures", "loss_curves,bogus"])
    assert exit_.value.code == 2 and "unknown figure bogus" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()
