"""Sweeps through our Ray launcher (`hydra/launcher=ray`), as users run them: `orchestrator-train -m ...`."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY, build

BIN = Path(sys.executable).parent
RAY = ["hydra.launcher.include_dashboard=false", "hydra.launcher.num_cpus=2"]


def multirun(*overrides, timeout=900):
    env = os.environ | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([str(BIN / "orchestrator-train"), "-m", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def results(store: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in store.glob("*/*/result.json")}


@pytest.mark.slow
def test_a_sweep_goes_on_past_failed_and_diverged_cells_and_a_rerun_skips_finished_ones(tmp_path):
    from orchestrator.store.cell_id import cell_id

    common = [*TINY, *RAY, "train.workers=2", "optim.warmup_fraction=0", "optim.grad_clip=0", "pruning=geometric",
              "pruning.sparsity=0.5", f"results_dir={tmp_path}", "wandb.mode=offline"]
    # lr 1e6 diverges; the (seed 1, lr 1e-3) cell finds a corrupt checkpoint to resume from and raises
    broken, _ = build(common + ["seed=1", "optim.lr=1e-3"])
    checkpoints = tmp_path / "default" / cell_id(broken) / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "latest").write_text("step000000012")
    cells = common + ["seed=0,1", "optim.lr=1e-3,1e6"]
    first = multirun(*cells)
    assert first.returncode != 0, "a failed cell makes the sweep exit non-zero"
    statuses = sorted(r["status"] for r in results(tmp_path).values())
    assert statuses == ["diverged", "diverged", "done", "failed"], first.stderr[-3000:]
    assert "total: 1 done, 2 diverged, 1 failed" in first.stderr
    cell_runs = lambda: sorted(p.name for p in tmp_path.glob("*/*/wandb/offline-run-*")  # noqa: E731
                               if p.parent.parent.name != "report")  # report/ holds the sweep's summary run
    runs_before = cell_runs()
    assert len(runs_before) == 3
    assert (tmp_path / "default" / "report" / "report.md").exists(), "the report runs at the end of the sweep"
    manifest = json.loads((tmp_path / "default" / "sweep.json").read_text())
    assert len(manifest["runs"]) == 1 and len(manifest["runs"][0]["cells"]) == 4
    assert manifest["runs"][0]["command"].startswith("orchestrator-train -m ")
    status = subprocess.run([str(BIN / "orchestrator-status"), str(tmp_path)], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0 and "4 cells — 2 diverged, 1 done, 1 failed" in status.stdout, status.stderr
    assert status.stdout.rstrip().endswith("seed=1 optim.lr=0.001")  # the command rerunning exactly the failed cell

    again = multirun(*cells)
    assert "total: 3 skipped, 1 failed" in again.stderr, again.stderr[-3000:]
    assert cell_runs() == runs_before


@pytest.mark.slow
def test_a_cell_the_cluster_can_never_hold_fails_at_once(tmp_path):
    done = multirun(*TINY, *RAY, "train.device=cpu,cuda", f"results_dir={tmp_path}")
    assert done.returncode != 0
    assert "more than the whole cluster has" in done.stderr and "total: 1 done, 1 failed" in done.stderr
    failed = [r for r in results(tmp_path).values() if r["status"] == "failed"]
    assert len(failed) == 1 and "more than the whole cluster has" in failed[0]["error"]  # recorded in the store
    assert failed[0]["cell"]["model"] == "micro"


@pytest.mark.parametrize("how", ["address", "ray job submit"])
def test_a_relative_store_is_refused_when_the_sweep_runs_on_a_cluster(tmp_path, how):
    """Checked before Ray is joined: no cluster is needed to see the refusal, and nothing is written."""
    where = ["hydra.launcher.address=auto"] if how == "address" else []
    env = os.environ | {"RAY_ADDRESS": "127.0.0.1:1"} if how == "ray job submit" else os.environ
    done = subprocess.run([str(BIN / "orchestrator-train"), "-m", *TINY, *where, "pruning.sparsity=0.3,0.6",
                           "results_dir=relative-store"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "results_dir must be an absolute path" in done.stderr and "'relative-store'" in done.stderr
    assert not any(tmp_path.iterdir())


def test_a_cluster_that_does_not_answer_is_one_line_and_exit_2(tmp_path):
    done = multirun(*TINY, "hydra.launcher.address=127.0.0.1:1", "hydra.launcher.connect_timeout_s=2",
                    "pruning.sparsity=0.3,0.6", f"results_dir={tmp_path}", timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: hydra.launcher.address='127.0.0.1:1': no Ray cluster answers there" in done.stderr


@pytest.mark.slow
def test_one_bad_cell_stops_the_sweep_before_any_compute(tmp_path):
    done = multirun(*TINY, *RAY, "pruning.sparsity=0.5,1.5", f"results_dir={tmp_path}")
    assert done.returncode == 2 and "Traceback" not in done.stderr  # one line, as for a single cell
    assert "cell #1" in done.stderr and "pruning.sparsity=1.5" in done.stderr
    assert "pruning.sparsity must be in [0, 1)" in done.stderr
    assert not any(tmp_path.iterdir())


def test_journey80_composes_to_80_distinct_planned_cells(tmp_path):
    done = multirun("experiment=journey80", "dry_run=true", "hydra/launcher=basic", f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    plans = [json.loads(p.read_text()) for p in (tmp_path / "journey80").glob("*/plan.json")]
    assert len(plans) == 80
    grid = {(p["start"], p["end"], p["sparsity"], p["dense_steps"]) for p in plans}
    assert len(grid) == 80
    assert {p["sparsity"] for p in plans} == {0.2, 0.4, 0.6, 0.8}
    assert len({(p["start"], p["end"]) for p in plans}) == 10
    assert len({p["dense_steps"] for p in plans}) == 2
    assert not (REPO / "multirun.yaml").exists(), "Hydra must not write into the working directory"


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_the_cell_ends_as_if_uninterrupted(tmp_path):
    import psutil
    import torch

    from orchestrator.cell.run import run_cell

    overrides = [*TINY, "budget.dense_steps=120", "train.checkpoint_every=20", "train.workers=2",
                 "pruning=geometric", "pruning.sparsity=0.5"]
    whole = run_cell(*build(overrides + [f"results_dir={tmp_path / 'whole'}"]))
    config, resolved = build(overrides + [f"results_dir={tmp_path / 'killed'}"])
    killed = []

    def kill_a_worker_after_the_first_checkpoint():
        deadline = time.time() + 300
        while time.time() < deadline and not list((tmp_path / "killed").glob("*/*/checkpoints/latest")):
            time.sleep(0.05)
        workers = [p for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        if workers:
            os.kill(workers[-1].pid, signal.SIGKILL)
            killed.append(workers[-1].pid)

    killer = threading.Thread(target=kill_a_worker_after_the_first_checkpoint)
    killer.start()
    outcome = run_cell(config, resolved)
    killer.join()
    assert killed, "the test did not get to kill a worker"
    assert outcome.status == "done"
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (whole, outcome))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert whole.result["final_loss"] == outcome.result["final_loss"]
