"""results_dir as a pyarrow filesystem URI (file:// here; s3://, gs:// take the same code path): cells write the
store through it, skip what it says is finished, and resume from the checkpoints it holds — from any machine."""
import json
import re
import shutil

import torch
from conftest import build

from orchestrator.cell.run import run_cell
from orchestrator.store.remote import staging_root

GEOMETRIC = ["pruning=geometric", "pruning.sparsity=0.5"]


def uri_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the local stage
    store = tmp_path / "bucket" / "results"
    return store, f"file://{store}"


def test_a_cell_writes_a_uri_store_and_a_fresh_machine_skips_it(tiny, tmp_path, monkeypatch):
    store, uri = uri_store(tmp_path, monkeypatch)
    outcome = run_cell(*build(tiny + GEOMETRIC + [f"results_dir={uri}"]))
    assert outcome.status == "done" and outcome.where.startswith(uri)
    (cell,) = (store / "default").iterdir()
    assert {"config.yaml", "plan.json", "metrics.jsonl", "result.json", "final_model.pt"} <= {
        p.name for p in cell.iterdir()}
    assert json.loads((cell / "result.json").read_text()) == outcome.result
    assert not (cell / ".lock").exists()
    shutil.rmtree(staging_root(uri))  # another machine: nothing staged locally
    again = run_cell(*build(tiny + GEOMETRIC + [f"results_dir={uri}"]))
    assert again.status == "skipped" and again.result == outcome.result


def test_an_interrupted_cell_resumes_on_another_machine_from_the_stores_checkpoint(tiny, tmp_path, monkeypatch):
    whole = run_cell(*build(tiny + GEOMETRIC + [f"results_dir={tmp_path / 'local'}"]))
    store, uri = uri_store(tmp_path, monkeypatch)
    overrides = tiny + GEOMETRIC + [f"results_dir={uri}"]
    assert run_cell(*build(overrides), stop_after_step=13).status == "interrupted"
    (cell,) = (store / "default").iterdir()
    assert (cell / "checkpoints" / "latest").exists() and not (cell / "result.json").exists()
    shutil.rmtree(staging_root(uri))
    resumed = run_cell(*build(overrides))
    assert resumed.status == "done" and resumed.result["resumed_from_steps"] == [12]
    a = torch.load(whole.paths.final_model, weights_only=True)
    b = torch.load(cell / "final_model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in (cell / "checkpoints").iterdir() if p.is_dir()) == \
        sorted(p.name for p in (resumed.paths.checkpoints).iterdir() if p.is_dir())


def test_the_report_reads_the_uri_store(tiny, tmp_path, monkeypatch):
    from orchestrator.study.report_cli import build_report

    store, uri = uri_store(tmp_path, monkeypatch)
    run_cell(*build(tiny + GEOMETRIC + [f"results_dir={uri}"]))
    outcome = build_report(f"{uri}/default", tmp_path / "report")
    assert outcome.report.exists() and not outcome.skipped


def test_a_p2_cell_prunes_a_base_that_only_the_uri_store_holds(tiny, tmp_path, monkeypatch):
    store, uri = uri_store(tmp_path, monkeypatch)
    base = run_cell(*build(tiny + ["pruning=none", f"results_dir={uri}"]))
    shutil.rmtree(staging_root(uri))  # another machine
    p2 = run_cell(*build(tiny + ["pruning=none", "structured.method=width", "structured.post_steps=12",
                                 f"results_dir={uri}"]))
    assert p2.status == "done" and p2.result["structured"]["base_cell_id"] == base.paths.root.name
    assert p2.result["structured"]["l0"] == base.result["val_loss"]


def test_a_result_moved_away_in_the_store_reruns_the_cell_even_with_a_stale_stage(tiny, tmp_path, monkeypatch):
    store, uri = uri_store(tmp_path, monkeypatch)
    overrides = tiny + GEOMETRIC + [f"results_dir={uri}", "train.checkpoint_every=6"]
    first = run_cell(*build(overrides))
    (cell,) = (store / "default").iterdir()
    (cell / "result.json").rename(tmp_path / "moved-away.json")  # what CorruptStoreFile's message asks for
    again = run_cell(*build(overrides))  # the stage still holds the old result.json: it must not count
    assert again.status == "done" and again.result["resumed_from_steps"]
    assert json.loads((cell / "result.json").read_text())["final_loss"] == first.result["final_loss"]


def test_latest_goes_up_after_the_checkpoint_it_names(tiny, tmp_path, monkeypatch):
    from pyarrow import fs

    store, uri = uri_store(tmp_path, monkeypatch)
    copied, real_copy = [], fs.copy_files
    monkeypatch.setattr(fs, "copy_files", lambda src, dst, **kw: (copied.append(dst), real_copy(src, dst, **kw)))
    run_cell(*build(tiny + GEOMETRIC + [f"results_dir={uri}"]), stop_after_step=13)
    # each upload (after the checkpoint, then at the end): the checkpoint's files, then `latest`
    order = "".join("l" if target.endswith("/checkpoints/latest") else "s" for target in copied
                    if "/checkpoints/" in target)
    assert re.fullmatch(r"(s+l)+", order), order
