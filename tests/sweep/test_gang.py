"""Issue 18 item 1: jobs that run on k processes (a cell with train.workers = k) get a gang of k warm actors in one
placement group (orchestrator/sweep/gang.py), on a local Ray with 2 CPUs and plain functions as the jobs. The
gang's processes warm up once and serve job after job; a rank that dies has the job retried on a new gang; a job
that fails in its lead breaks the gang up, and the next job gets a new one."""
import os
import sys
from pathlib import Path

import pytest

from orchestrator.cell.peers import peer_ranks
from orchestrator.sweep.pool import JobPool

GANG = {"num_cpus": 1, "ranks": 2}


def warm_up() -> None:
    (Path(os.environ["GANG_TEST_DIR"]) / f"warm-{os.getpid()}").touch()


def rank_pid(rank: int, index: int, how: str) -> tuple[int, int]:
    if how == "die" and rank == 1:
        marker = Path(os.environ["GANG_TEST_DIR"]) / f"died-{index}"
        if not marker.exists():
            marker.touch()
            os._exit(1)
    if how == "raise" and rank == 1:
        raise ValueError("rank 1 cannot go on")
    return rank, os.getpid()


def lead_job(index: int, how: str) -> dict:
    """What a cell does on its gang (orchestrator/cell/run.py: _run_on_peers): rank 0 here, the rest on the peers."""
    peers = peer_ranks(2)
    assert peers is not None, "a lead of a 2-rank gang has its peers installed"
    (Path(os.environ["GANG_TEST_DIR"]) / f"lead-{index}-{os.getpid()}").touch()
    try:
        running = peers.start(rank_pid, (index, how))
        running.wait()
    except BaseException:
        peers.break_up()
        raise
    from ray.util.placement_group import get_current_placement_group, placement_group_table

    return {"lead": os.getpid(), "address": (peers.master_addr, peers.master_port),
            "strategy": placement_group_table(get_current_placement_group())["strategy"]}


def run_all(pool: JobPool) -> dict:
    pool.start()
    ended = {}
    while pool.pending:
        for index, value, error in pool.poll(timeout=5.0):
            ended[index] = value if error is None else error
    return ended


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    folder = tmp_path_factory.mktemp("gang")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"GANG_TEST_DIR": str(folder)}})
    yield folder
    ray.shutdown()


def test_a_gang_warms_up_once_and_runs_job_after_job_on_the_same_processes(local_ray):
    pool = JobPool(options={i: GANG for i in range(3)}, order=[0, 1, 2], job_args=lambda i: (i, "ok"),
                   warm_up=warm_up, reuse=True, max_retries=0, work=lead_job)
    ended = run_all(pool)
    pool.close()
    assert {ended[i]["lead"] for i in range(3)} == {ended[0]["lead"]}, "one lead process for every job"
    assert len({ended[i]["address"] for i in range(3)}) == 1, "one process group address: never re-created"
    assert len(list(local_ray.glob("warm-*"))) == 2, "the lead and rank 1 warmed up once each"
    assert ended[0]["strategy"] == "PACK", "ranks spread over nodes only when one node is too small"


def test_a_rank_that_dies_has_its_job_retried_on_a_new_gang(local_ray):
    pool = JobPool(options={7: GANG | {"placement": "STRICT_PACK"}}, order=[7], job_args=lambda i: (i, "die"),
                   warm_up=None, reuse=True, max_retries=1, work=lead_job)
    ended = run_all(pool)
    pool.close()
    assert isinstance(ended[7], dict), ended  # the first gang's rank 1 died; the second gang finished the job
    assert ended[7]["strategy"] == "STRICT_PACK", "a job's placement reaches its gang's placement group"
    assert (local_ray / "died-7").exists()


def test_a_job_that_fails_breaks_its_gang_up_and_the_next_job_gets_a_new_one(local_ray):
    import ray

    pool = JobPool(options={20: GANG, 21: GANG}, order=[20, 21], job_args=lambda i: (i, "raise" if i == 20 else "ok"),
                   warm_up=None, reuse=True, max_retries=0, work=lead_job)
    ended = run_all(pool)
    pool.close()
    assert isinstance(ended[20], ray.exceptions.RayTaskError) and "rank 1 cannot go on" in str(ended[20])
    assert isinstance(ended[21], dict), "the next job ran"
    (failed_lead,) = [int(p.name.split("-")[2]) for p in local_ray.glob("lead-20-*")]
    assert ended[21]["lead"] != failed_lead, "on a new gang: the failed job's gang was let go"
