"""Cells forked from a shared dense trunk (share_trunks=true, orchestrator/cell/trunk.py) end bit-identical to the
same cells trained alone: the final model, every logged record but its timing, N_avg, the final and validation loss.

TINY under wsd: C = 24, every 2; the window [0.25, 0.75] forks at step 6, [0.5, 1] at 12, so the trunk trains 12
steps. log_every=5 and eval_every=10 put both forks inside a logging window, and the trunk's last step (12) is
neither logged nor evaluated by a cell of its prefix: the trunk must not log or evaluate it either.
"""
import json

import pytest
import torch
from conftest import build

from orchestrator.cell.run import run_cell, run_trunk
from orchestrator.cell.trunk import find_trunk, trunk_paths
from orchestrator.store.files import MetricsLog

WSD = ["optim.schedule=wsd", "train.log_every=5", "train.eval_every=10"]
CHILDREN = [["pruning=geometric", "pruning.sparsity=0.75", "pruning.start=0.25", "pruning.end=0.75"],
            ["pruning=geometric", "pruning.sparsity=0.5", "pruning.start=0.5", "pruning.end=1.0"]]


def configs(tiny, store, share: bool, *extra: str) -> list:
    return [build(tiny + WSD + [f"results_dir={store}", f"share_trunks={str(share).lower()}", *child, *extra])
            for child in CHILDREN]


def plan_sweep(cells) -> None:
    """What the sweep does when it starts: sharing.json from its cells' configs."""
    from orchestrator.sweep.trunks import write_sharing

    write_sharing([config for config, _ in cells])


def records(outcome) -> list:
    return [{k: v for k, v in r.items() if k != "step_time"} for r in MetricsLog(outcome.paths.metrics).read()]


def assert_same_cell(alone, forked) -> None:
    assert (alone.status, forked.status) == ("done", "done")
    assert records(alone) == records(forked)
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (alone, forked))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for key in ("avg_params", "final_params", "initial_params", "final_loss", "val_loss", "steps", "tokens"):
        assert alone.result[key] == forked.result[key], key


def run_plan(config) -> int:
    """The cell's first prune event, t_start: where its plan forks it."""
    from orchestrator.cell.run import plan_cell

    return plan_cell(config).t_start


@pytest.fixture
def alone(tiny, tmp_path):
    return [run_cell(*cell) for cell in configs(tiny, tmp_path / "alone", False)]


def test_children_of_a_shared_trunk_end_bit_identical_to_the_cells_trained_alone(tiny, tmp_path, alone, monkeypatch):
    from orchestrator.cell.tracking import Tracker

    tracked = {}  # cell folder → the records its W&B run was given
    monkeypatch.setattr(Tracker, "log", lambda self, record: tracked.setdefault(self.log_file.parent.name,
                                                                                []).append(record))
    cells = configs(tiny, tmp_path / "shared", True)
    plan_sweep(cells)
    (trunk, fork), (_, fork_b) = (find_trunk(config, run_plan(config)) for config, _ in cells)
    assert (fork, fork_b, trunk.forks, trunk.steps) == (6, 12, (6, 12), 12)
    forked = [run_cell(*cell) for cell in cells]
    for one, other, step in zip(alone, forked, (6, 12)):
        assert_same_cell(one, other)
        assert other.result["trunk"] == {"cell_id": trunk.trunk_id, "fork_step": step}
        assert other.result["resumed_from_steps"] == [] and "trunk" not in one.result
        assert tracked[other.paths.root.name] == MetricsLog(other.paths.metrics).read()  # the trunk's prefix too
    done = json.loads(trunk_paths(cells[0][0], trunk).result.read_text())
    assert done["status"] == "done" and done["steps"] == 12 and done["forks"] == [6, 12]
    assert done["cell"]["schedule"] == "none" and done["avg_params"] == done["initial_params"]
    logged = [r["step"] for r in MetricsLog(trunk_paths(cells[0][0], trunk).metrics).read()]
    assert logged == [5, 10]  # its last step (12) is not forced into a log or an evaluation
    assert sorted(p.name for p in (trunk_paths(cells[0][0], trunk).root / "forks").glob("step*")) == [
        "step000000006", "step000000012"]  # every fork's checkpoint kept


def test_a_killed_trunk_resumes_and_a_rerun_skips_it_once_done(tiny, tmp_path, alone):
    cells = configs(tiny, tmp_path / "shared", True, "train.checkpoint_every=4")
    plan_sweep(cells)
    trunk, _ = find_trunk(cells[0][0], run_plan(cells[0][0]))
    assert run_trunk(*cells[0], trunk, stop_after_step=9).status == "interrupted"  # checkpoints at 4, 8; fork at 6
    first = run_cell(*cells[0])  # trains the rest of the trunk, from step 8, then itself
    where = trunk_paths(cells[0][0], trunk)
    trunk_result = json.loads(where.result.read_text())
    assert trunk_result["status"] == "done" and trunk_result["resumed_from_steps"] == [8]
    second = run_cell(*cells[1])  # the trunk is done: reused, not retrained
    assert json.loads(where.result.read_text()) == trunk_result
    assert run_trunk(*cells[1], trunk).status == "skipped"
    for one, other in zip(alone, (first, second)):
        assert_same_cell(one, other)
    assert first.result["resumed_from_steps"] == [] and first.result["trunk"]["fork_step"] == 6


def test_a_failed_trunk_fails_its_child_naming_it_and_a_rerun_retries_it(tiny, tmp_path, monkeypatch):
    import orchestrator.cell.run as run

    cells = configs(tiny, tmp_path / "shared", True)
    plan_sweep(cells)
    trunk, _ = find_trunk(cells[0][0], run_plan(cells[0][0]))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run, "run_trunk", broken)
    with pytest.raises(RuntimeError, match=trunk.trunk_id):
        run_cell(*cells[0])
    failed = json.loads(run.CellPaths.of(tmp_path / "shared", cells[0][0].sweep,
                                         run.cell_id(cells[0][0])).result.read_text())
    assert failed["status"] == "failed" and trunk.trunk_id in failed["error"] and "disk full" in failed["error"]
    monkeypatch.undo()
    assert run_cell(*cells[0]).status == "done"


def test_a_plan_whose_trunk_is_not_the_cell_s_prefix_is_refused(tiny, tmp_path):
    cells = configs(tiny, tmp_path / "shared", True)
    plan_sweep(cells)
    where = tmp_path / "shared" / cells[0][0].sweep / "sharing.json"
    sharing = json.loads(where.read_text())
    sharing["trunks"][0]["trunk_id"] = "micro-trunk-W2-to12-seed0-00000000"
    where.write_text(json.dumps(sharing))
    with pytest.raises(RuntimeError, match="prefix identity"):
        find_trunk(cells[0][0], run_plan(cells[0][0]))


@pytest.mark.slow
def test_two_gloo_workers_fork_bit_identical_to_the_cell_trained_alone(tiny, tmp_path):
    """World size 2: the trunk's fork checkpoint holds each rank's ZeRO shards; the child resumes them. The fork at
    step 6 is inside a logging window: the checkpoint keeps the window's sum as its mean over ranks, which is exact
    in float64 (float32 losses, a few per window), so the window's logged mean is the same as the lone cell's."""
    two = ["train.workers=2"]
    alone = run_cell(*configs(tiny, tmp_path / "alone", False, *two)[0])
    cells = configs(tiny, tmp_path / "shared", True, *two)
    plan_sweep(cells)
    forked = run_cell(*cells[0])
    assert_same_cell(alone, forked)
    assert forked.result["trunk"]["fork_step"] == 6


def test_a_cell_that_asked_to_share_but_trains_alone_says_why(tiny, tmp_path, capsys):
    """share_trunks=true is never silently off: a cell run without the Ray sweep's plan (the basic launcher, a single
    cell), on a URI store, or left alone by the plan, says it trains alone and why."""
    from dataclasses import replace

    from orchestrator.cell.trunk import why_alone

    store = tmp_path / "store"
    (config, resolved), _ = configs(tiny, store, True)
    outcome = run_cell(config, resolved)  # no sharing.json: no sweep planned it
    assert outcome.status == "done" and outcome.result.get("trunk") is None
    out = capsys.readouterr().out
    assert f"cell {outcome.paths.root.name}: share_trunks=true, but it trains alone: there is no " in out
    assert "planned when a sweep starts on the Ray launcher" in out
    assert "local store only, not on s3://bucket/x" in why_alone(replace(config, results_dir="s3://bucket/x"))
    plan_sweep(configs(tiny, store, True)[:1])  # a plan of one cell: no company, no trunk
    assert "plans no fork for it" in why_alone(config)
    (unshared, unshared_resolved), _ = configs(tiny, tmp_path / "off", False)
    run_cell(unshared, unshared_resolved)
    assert "trains alone" not in capsys.readouterr().out  # sharing off: nothing to say
