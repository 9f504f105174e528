"""train.threads=null: the torch threads of a cell's workers. Ray's grant when the cell runs in a sweep, else the
cores idle at the cell's start (a busy core stalls every thread of a torch op: benchmarks/bench_threads.py), split
across the workers, never below one; the count the cell chose is the one its workers use."""
import pytest
from conftest import TINY, build

from orchestrator.cell.threads import idle_cores, usable_cores, worker_threads


@pytest.mark.parametrize("threads, workers, environ, idle, expected", [
    (3, 2, {"OMP_NUM_THREADS": "8"}, 2, 3),  # set by the user: kept
    (None, 2, {"OMP_NUM_THREADS": "4"}, 1, 2),  # Ray's grant, split across the workers
    (None, 4, {"OMP_NUM_THREADS": "2"}, 2, 1),  # never below one
    (None, 1, {}, 1, 1),  # a 2-core box with a core taken: one thread
    (None, 2, {}, 6, 3),  # the idle cores, split
    (None, 2, {"OMP_NUM_THREADS": ""}, 2, 1),  # an empty variable counts as unset
])
def test_the_threads_of_each_worker(threads, workers, environ, idle, expected):
    assert worker_threads(threads, workers, environ=environ, idle=lambda: idle)[0] == expected


def test_the_reason_is_named():
    assert "1 of" in worker_threads(None, 1, environ={}, idle=lambda: 1)[1]
    assert "OMP_NUM_THREADS" in worker_threads(None, 1, environ={"OMP_NUM_THREADS": "2"})[1]


def test_idle_cores_is_between_one_and_the_usable_cores():
    assert 1 <= idle_cores(sample_s=0.05) <= usable_cores()


def test_a_cell_on_its_own_says_what_it_chose_and_its_worker_uses_it(tmp_path, monkeypatch, capsys):
    from orchestrator.cell import threads as threads_module
    from orchestrator.cell.run import run_cell

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads_module, "idle_cores", lambda: 1)  # as on a busy 2-core box
    chosen = []
    monkeypatch.setattr("torch.set_num_threads", chosen.append)
    overrides = [o for o in TINY if not o.startswith("train.threads")] + [f"results_dir={tmp_path}"]
    config, resolved = build(overrides)
    assert config.train.threads is None
    run_cell(config, resolved)
    assert chosen == [1]
    assert "train.threads=null: 1 torch thread(s) per worker, from 1 of" in capsys.readouterr().out
