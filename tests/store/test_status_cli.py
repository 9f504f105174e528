"""`orchestrator-status`: each cell's state read from the store and its sweep manifest, the last error line of a
failed cell, and the commands that rerun exactly the unfinished cells."""
from __future__ import annotations

import json

from orchestrator.store.lock import cell_lock
from orchestrator.store.manifest import MANIFEST, read_manifest, record_run
from orchestrator.store.status_cli import main

CELLS = ("c-done", "c-failed", "c-diverged", "c-interrupted", "c-running", "c-missing")


def _store(root):
    record_run(str(root), "grid", [{"cell_id": c, "overrides": [f"seed={k}", "pruning.sparsity=0.5"]}
                                   for k, c in enumerate(CELLS)], command="orchestrator-train -m seed=0,1,2,3,4,5")
    sweep = root / "grid"
    for name, status, extra in (("c-done", "done", {}), ("c-diverged", "diverged", {}),
                                ("c-failed", "failed", {"error": "RuntimeError: boom\nat step 12\nValueError: bad"})):
        (sweep / name).mkdir()
        (sweep / name / "result.json").write_text(json.dumps({"status": status, "cell_id": name, **extra}))
    (sweep / "c-interrupted").mkdir()
    (sweep / "c-interrupted" / "plan.json").write_text("{}")
    return sweep


def test_every_cell_state_and_the_rerun_commands(tmp_path, capsys):
    sweep = _store(tmp_path)
    with cell_lock(sweep / "c-running"):  # a process holds the lock: the cell is running
        assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    states = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  c-")}
    assert states == {"c-done": "done", "c-failed": "failed", "c-diverged": "diverged",
                      "c-interrupted": "interrupted", "c-running": "running", "c-missing": "missing"}
    [failed] = [line for line in out.splitlines() if line.startswith("  c-failed")]
    assert failed.endswith(" ValueError: bad")  # the last line of its error
    assert "6 cells — 1 diverged, 1 done, 1 failed, 1 interrupted, 1 missing, 1 running" in out
    assert "  orchestrator-train -m seed=0,1,2,3,4,5" in out
    reruns = [line for line in out.splitlines() if line.startswith("  orchestrator-train -m seed=")]
    assert reruns[1:] == [f"  orchestrator-train -m seed={k} pruning.sparsity=0.5" for k in (1, 3, 5)]


def test_a_manifest_keeps_every_run_and_status_writes_nothing(tmp_path, capsys):
    sweep = _store(tmp_path)
    record_run(str(tmp_path), "grid", [{"cell_id": "c-new", "overrides": ["seed=9"]}], command="again")
    runs = read_manifest(sweep)["runs"]
    assert [run["command"] for run in runs] == ["orchestrator-train -m seed=0,1,2,3,4,5", "again"]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    assert main([str(tmp_path), "--sweep", "grid"]) == 0
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert "c-new" in capsys.readouterr().out and (sweep / MANIFEST).is_file()


def test_bad_locations_are_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert main([str(tmp_path), "--sweep", "nope"]) == 2
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / MANIFEST).write_text("[1, 2]")
    assert main([str(tmp_path / "grid")]) == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err and "no sweep 'nope'" in err and "not a sweep manifest" in err


def test_a_sweep_that_shares_trunks_lists_them_with_their_forks(tmp_path, capsys):
    from orchestrator.store.files import SHARING_FILE, TRUNKS_FOLDER

    sweep = _store(tmp_path)
    (sweep / SHARING_FILE).write_text(json.dumps({"trunks": [
        {"trunk_id": "t-done", "steps": 12, "forks": [6, 12], "children": {"c-done": 6, "c-diverged": 12}},
        {"trunk_id": "t-running", "steps": 6, "forks": [6], "children": {"c-running": 6}},
        {"trunk_id": "t-never", "steps": 6, "forks": [6], "children": {"c-missing": 6}}]}))
    trunks = sweep / TRUNKS_FOLDER
    (trunks / "t-done").mkdir(parents=True)
    (trunks / "t-done" / "result.json").write_text(json.dumps({"status": "done", "cell_id": "t-done"}))
    (trunks / "t-stale").mkdir()  # a trunk an earlier plan made
    (trunks / "t-stale" / "result.json").write_text(json.dumps({"status": "failed", "error": "OSError: disk"}))
    with cell_lock(trunks / "t-running"):
        assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "shared dense trunks (.trunks/, planned in sharing.json): 4 — 1 done, 1 failed, 1 missing, 1 running" in out
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in out if line.startswith("  t-")}
    assert rows == {"t-done": ["done", "forks at steps 6, 12 for 2 cells"],
                    "t-never": ["missing", "forks at steps 6 for 1 cells"],
                    "t-running": ["running", "forks at steps 6 for 1 cells"],
                    "t-stale": ["failed", "not in sharing.json; OSError: disk"]}
    assert "6 cells — 1 diverged, 1 done, 1 failed, 1 interrupted, 2 missing" in out[0]  # trunks are not cells
