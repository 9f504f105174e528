"""Issue 18 item 5: the end-of-sweep report is not rebuilt when nothing it reads changed (a rerun that skipped every
cell, even one that adds the same command to the manifest again), and is rebuilt when a cell's files change."""
import json
import os

from omegaconf import OmegaConf
from test_report_cli import write_synthetic_store

from orchestrator.store.manifest import record_run
from orchestrator.study.report_cli import report_after_sweep


def test_a_rerun_that_changed_nothing_keeps_the_report_and_a_changed_cell_rebuilds_it(tmp_path, capsys):
    write_synthetic_store(tmp_path / "sweep")
    record_run(str(tmp_path), "sweep", [], command="orchestrator-train -m experiment=x")
    base = OmegaConf.create({"results_dir": str(tmp_path), "sweep": "sweep", "dry_run": False,
                             "wandb": {"mode": "disabled", "project": "p", "entity": None}})
    report = tmp_path / "sweep" / "report" / "report.md"

    report_after_sweep(base, [])
    assert report.is_file() and "[report] report:" in capsys.readouterr().err
    built = report.stat().st_mtime_ns

    record_run(str(tmp_path), "sweep", [], command="orchestrator-train -m experiment=x")  # the same command again
    report_after_sweep(base, [])
    assert "[report] unchanged" in capsys.readouterr().err and report.stat().st_mtime_ns == built

    result = next((tmp_path / "sweep").glob("*/result.json"))
    record = json.loads(result.read_text())
    record["val_loss"] += 0.5  # a cell trained again (a failed one rerun, a deleted one)
    result.write_text(json.dumps(record))
    os.utime(result, ns=(built + 10**9, built + 10**9))  # a later time, on file systems with coarse clocks too
    report_after_sweep(base, [])
    assert "[report] report:" in capsys.readouterr().err and report.stat().st_mtime_ns != built
