"""Faults a long study meets: a killed driver, a full disk while saving, two sweeps over one store. Each must leave
the store readable, lose nothing finished, and let the same command finish the job. A cell's Ray actor (or a rank of a 2-worker cell's gang)
SIGKILLed mid-cell is retried on a new actor (gang) and resumes; a cell's spawned worker SIGKILLed mid-cell is in test_ray_sweep.py."""
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY, build

from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog
from orchestrator.store.lock import cell_lock
from orchestrator.store.reader import load_cells

BIN = Path(sys.executable).parent
ENV = os.environ | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
RAY = ["hydra.launcher.include_dashboard=false", "hydra.launcher.num_cpus=2"]


def train_command(*overrides) -> list[str]:
    return [str(BIN / "orchestrator-train"), "-m", *overrides]


def cells(store: Path) -> dict[str, Path]:
    return {d.name: d for d in store.glob("*/*") if (d / "plan.json").exists()}


def assert_nothing_torn(store: Path) -> None:
    """Every JSON file parses, every metrics log has each step once and in order, no temp file is left over."""
    for cell in cells(store).values():
        for name in ("plan.json", "result.json"):
            if (cell / name).exists():
                json.loads((cell / name).read_text())
        steps = [r["step"] for r in MetricsLog(cell / "metrics.jsonl").read()]
        assert steps == sorted(set(steps)), f"{cell.name}: metrics steps repeated or out of order"
        assert not list(cell.glob(".*.tmp")), f"{cell.name}: a temp file was left behind"


def test_a_second_holder_of_a_cell_lock_waits_for_the_first(tmp_path):
    events, waited = [], []

    def second():
        with cell_lock(tmp_path / "cell", on_wait=lambda: waited.append(True)):
            events.append("second")

    with cell_lock(tmp_path / "cell"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        events.append("first done")
    thread.join(timeout=10)
    assert events == ["first done", "second"] and waited == [True]


@pytest.mark.slow
def test_two_sweeps_writing_one_store_at_once_train_each_cell_once(tmp_path):
    overrides = [*TINY, "hydra/launcher=basic", "budget.dense_steps=60", "pruning=geometric",
                 "pruning.sparsity=0.5", "seed=0,1", f"results_dir={tmp_path}", "wandb.mode=offline"]
    sweeps = [subprocess.Popen(train_command(*overrides), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [sweep.communicate(timeout=600)[0] for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    both = "".join(outputs)
    assert both.count(": done") == 2 and both.count(": skipped") == 2, both[-3000:]
    assert len(cells(tmp_path)) == 2
    for cell in cells(tmp_path).values():
        assert json.loads((cell / "result.json").read_text())["status"] == "done"
        assert len(list((cell / "wandb").glob("offline-run-*"))) == 1, "one W&B run per cell"
    assert_nothing_torn(tmp_path)


def _fail_saves_matching(monkeypatch, fragment: str) -> list[str]:
    """torch.save raises ENOSPC (after writing a few bytes) for files whose name contains `fragment`."""
    real_save, failed = torch.save, []

    def save(obj, f, *args, **kwargs):
        name = getattr(f, "name", f)
        if isinstance(name, int):  # a file object from os.fdopen: its name is the descriptor
            name = os.readlink(f"/proc/self/fd/{name}")
        name = str(name)
        if fragment in name:
            failed.append(name)
            if hasattr(f, "write"):
                f.write(b"torn")
            else:
                Path(f).write_bytes(b"torn")
            raise OSError(errno.ENOSPC, "No space left on device", name)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return failed


@pytest.mark.parametrize("failing_file", ["step000000024", "final_model.pt"])
def test_a_write_error_while_saving_fails_the_cell_with_the_reason_and_the_store_stays_readable(
        tiny, tmp_path, monkeypatch, failing_file):
    overrides = tiny + ["budget.dense_steps=40", "pruning=geometric", "pruning.sparsity=0.5"]
    config, resolved = build(overrides)
    failed = _fail_saves_matching(monkeypatch, failing_file)
    with pytest.raises(OSError, match="No space left on device"):
        run_cell(config, resolved)
    assert failed, "the fault was never injected"
    store = tmp_path / "results"
    (cell,) = cells(store).values()
    result = json.loads((cell / "result.json").read_text())
    assert result["status"] == "failed" and "No space left on device" in result["error"]
    assert not (cell / "final_model.pt").exists()
    assert_nothing_torn(store)
    loaded, problems = load_cells(str(store))
    assert [c["status"] for c in loaded] == ["failed"] and not problems

    last_good = int((cell / "checkpoints" / "latest").read_text().removeprefix("step"))
    assert last_good < 24 if "step" in failing_file else last_good >= 24

    monkeypatch.undo()  # the disk has room again: the same cell runs again, from its last good checkpoint
    outcome = run_cell(*build(overrides))
    assert outcome.status == "done" and outcome.result["resumed_from_steps"] == [last_good]
    assert torch.load(outcome.paths.final_model, weights_only=True)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_killing_the_driver_mid_sweep_then_rerunning_finishes_the_sweep(tmp_path):
    # a short cell and a long one run at once (2 CPUs); the driver dies once the short one is done and the long
    # one has a checkpoint. The long one must outlast the seconds its actor may live on after the kill (at 160 dense
    # steps it once finished there, and the rerun had nothing left to resume)
    overrides = [*TINY, *RAY, "budget.dense_steps=40,400", "train.checkpoint_every=10", "pruning=geometric",
                 "pruning.sparsity=0.5", f"results_dir={tmp_path}", "wandb.mode=offline"]
    driver = subprocess.Popen(train_command(*overrides), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    finished = lambda: {n for n, d in cells(tmp_path).items() if (d / "result.json").exists()}  # noqa: E731
    partial = lambda: {n for n, d in cells(tmp_path).items()  # noqa: E731
                       if (d / "checkpoints" / "latest").exists()} - finished()
    try:
        assert _wait_for(lambda: finished() and partial(), timeout=300), "the sweep never got going"
        done_before, partial_before = finished(), partial()
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        stamps = {n: os.stat(cells(tmp_path)[n] / "result.json").st_mtime_ns for n in done_before}
    finally:
        try:  # Ray's agents outlive a SIGKILLed driver: end what is left of its session
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(2)
    assert_nothing_torn(tmp_path)

    again = subprocess.run(train_command(*overrides), cwd=REPO, env=ENV, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "total: 1 done, 1 skipped" in again.stderr, again.stderr[-3000:]
    results = {n: json.loads((d / "result.json").read_text()) for n, d in cells(tmp_path).items()}
    assert {r["status"] for r in results.values()} == {"done"} and len(results) == 2
    assert {n: os.stat(cells(tmp_path)[n] / "result.json").st_mtime_ns for n in done_before} == stamps
    (resumed,) = partial_before
    assert results[resumed]["resumed_from_steps"], "the partial cell started over instead of resuming"
    assert_nothing_torn(tmp_path)


def _ray_task_running_a_job(driver_pid: int, title: str):
    """The Ray actor process running a job, or a rank of it (its title is `ray::JobWorker.run` while it runs one: the
    launcher's pool, orchestrator/sweep/pool.py; `ray::RankWorker.call` for ranks 1.. of a gang,
    orchestrator/sweep/gang.py), among the driver's descendants (a local Ray's raylet and its workers)."""
    import psutil

    for process in psutil.Process(driver_pid).children(recursive=True):
        try:
            if " ".join(process.cmdline()).startswith(title):
                return process
        except psutil.Error:  # gone, or a zombie
            continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize("workers, title", [(1, "ray::JobWorker.run"), (2, "ray::RankWorker.call")],
                         ids=["the cell's actor", "rank 1 of a 2-worker cell's gang"])
def test_a_ray_task_killed_mid_cell_is_retried_and_the_cell_resumes_from_its_checkpoint(tmp_path, workers, title):
    """The process Ray runs a cell in dies (SIGKILL: the OOM killer, a preempted node) after the cell's first
    checkpoint: the pool retries the job (hydra.launcher.max_retries) on a new actor, and the cell resumes there.
    A 2-worker cell's rank 1 (a process of its gang) dying takes the gang with it, and the cell resumes on a new
    one (that a gang trains as a spawned group does, and a resume as the uninterrupted run, is tested apart:
    tests/sweep/test_gang_cell.py, tests/cell/test_cell.py)."""
    store, output = tmp_path / "store", tmp_path / "output.txt"
    overrides = [*TINY, *RAY, "budget.dense_steps=200", "train.checkpoint_every=20", "pruning=geometric",
                 "pruning.sparsity=0.5", f"train.workers={workers}", f"results_dir={store}"]
    with output.open("w") as sink:
        driver = subprocess.Popen(train_command(*overrides), cwd=REPO, env=ENV, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        checkpointed = lambda: any(c.joinpath("checkpoints", "latest").exists()  # noqa: E731
                                   for c in cells(store).values())
        assert _wait_for(checkpointed, timeout=300), "the cell never checkpointed:\n" + output.read_text()[-3000:]
        task = _ray_task_running_a_job(driver.pid, title)
        assert task is not None, "no Ray task runs the cell"
        assert not any(c.joinpath("result.json").exists() for c in cells(store).values()), "killed too late"
        task.kill()
        driver.wait(timeout=300)
    finally:
        try:  # the driver ends its local Ray when it exits; a driver that did not is ended here
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    said = output.read_text()
    assert driver.returncode == 0, said[-3000:]
    assert "total: 1 done" in said, said[-3000:]
    (cell,) = cells(store).values()
    result = json.loads((cell / "result.json").read_text())
    assert result["status"] == "done"
    assert result["resumed_from_steps"] and result["resumed_from_steps"][0] % 20 == 0, result["resumed_from_steps"]
    assert_nothing_torn(store)
