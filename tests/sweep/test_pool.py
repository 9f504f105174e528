"""The launcher's pool of warm actors (orchestrator/sweep/pool.py) on a local Ray with 2 CPUs, with plain functions
as the jobs: each actor warms up once and runs job after job; a shape whose jobs are done lets its actors go so that
another shape's actors can start (no deadlock); a job whose actor dies is retried on a new one, up to max_retries;
reuse=False gives each job a fresh process.

Gangs (issue 18 item 1): jobs that run on k processes (a cell with train.workers = k) get a gang of k warm actors in
one placement group (orchestrator/sweep/gang.py). The gang's processes warm up once and serve job after job; a rank
that dies has the job retried on a new gang; a job that fails in its lead breaks the gang up, and the next job gets
a new one."""
import os
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cell.peers import peer_ranks
from orchestrator.sweep.pool import JobPool, fits, why_unschedulable


def test_fits_counts_the_actors_of_a_shape_the_cluster_holds_at_once():
    assert fits({"num_cpus": 1}, {"CPU": 2.0}) == 2
    assert fits({"num_cpus": 2}, {"CPU": 2.0}) == 1
    assert fits({"num_cpus": 1, "num_gpus": 0.25}, {"CPU": 16.0, "GPU": 1.0}) == 4
    assert fits({"num_cpus": 1, "resources": {"big_node": 1}}, {"CPU": 8.0, "big_node": 3.0}) == 3
    assert fits({"num_cpus": 4}, {"CPU": 2.0}) == 1  # more than the cluster: an autoscaler's case (allowed to wait)


def test_a_job_ray_could_never_place_is_named_with_the_reason():
    two_nodes, cluster = [{"CPU": 2.0}, {"CPU": 2.0}], {"CPU": 4.0}
    assert why_unschedulable({"num_cpus": 2}, cluster, two_nodes) is None
    assert "more than the whole cluster has ({'CPU': 4.0})" in why_unschedulable({"num_cpus": 5}, cluster, two_nodes)
    assert "the job needs {'CPU': 3} on one node" in why_unschedulable({"num_cpus": 3}, cluster, two_nodes)
    # a gang of 2 ranks of 2 CPUs spans the two nodes; kept on one node (STRICT_PACK) it fits nowhere
    assert why_unschedulable({"num_cpus": 2, "ranks": 2}, cluster, two_nodes) is None
    assert "its gang needs {'CPU': 4} on one node" in why_unschedulable(
        {"num_cpus": 2, "ranks": 2, "placement": "STRICT_PACK"}, cluster, two_nodes)
    assert "each of its ranks needs {'CPU': 3}" in why_unschedulable({"num_cpus": 3, "ranks": 2},
                                                                      {"CPU": 8.0}, [{"CPU": 2.0}] * 4)
    gpus = [{"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0}]
    assert why_unschedulable({"num_cpus": 1, "num_gpus": 1, "ranks": 2}, {"CPU": 16.0, "GPU": 2.0}, gpus) is None


def warm_up() -> None:
    marker = Path(os.environ["POOL_TEST_DIR"]) / f"warm-{os.getpid()}"
    assert not marker.exists(), "an actor warmed up twice"
    marker.touch()


def wind_down() -> None:
    marker = Path(os.environ["POOL_TEST_DIR"]) / f"down-{os.getpid()}"
    assert not marker.exists(), "an actor wound down twice"
    marker.touch()


def wound_down(folder: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in folder.glob("down-*")}


def job(index: int, die_once: bool) -> tuple[int, int]:
    """(index, pid); with die_once the process dies the first time it runs this job (a SIGKILLed actor)."""
    if die_once:
        marker = Path(os.environ["POOL_TEST_DIR"]) / f"died-{index}"
        if not marker.exists():
            marker.touch()
            os._exit(1)
    time.sleep(0.05)
    return index, os.getpid()


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
    folder = tmp_path_factory.mktemp("pool")
    os.environ["POOL_TEST_DIR"] = str(folder)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"POOL_TEST_DIR": str(folder)}})
    yield folder
    ray.shutdown()


def test_actors_warm_up_once_run_job_after_job_and_make_way_for_another_shape(local_ray):
    small, big = range(6), range(6, 8)  # 1-CPU jobs, then 2-CPU jobs: the 2-CPU actor needs both CPUs
    options = {i: {"num_cpus": 1} for i in small} | {i: {"num_cpus": 2} for i in big}
    pool = JobPool(options=options, order=list(options), job_args=lambda i: (i, False), warm_up=warm_up,
                   reuse=True, max_retries=0, work=job, wind_down=wind_down)
    ended = run_all(pool)
    assert sorted(ended) == list(range(8)) and all(ended[i][0] == i for i in ended)
    small_pids = {ended[i][1] for i in small}
    big_pids = {ended[i][1] for i in big}
    assert len(small_pids) <= 2 and len(big_pids) == 1 and not small_pids & big_pids
    warmed = {int(p.name.split("-")[1]) for p in local_ray.glob("warm-*")}
    assert small_pids | big_pids <= warmed and len(warmed) <= 3, "one warm-up per actor, three actors at most"
    assert small_pids <= wound_down(local_ray), "the 1-CPU actors wind down before they make way for the 2-CPU one"
    pool.close()
    assert small_pids | big_pids <= wound_down(local_ray), "the last actor winds down as the pool closes"


def test_a_job_whose_actor_dies_is_retried_on_a_new_one_until_max_retries(local_ray):
    pool = JobPool(options={0: {"num_cpus": 1}, 1: {"num_cpus": 1}}, order=[0, 1],
                   job_args=lambda i: (i, True), warm_up=None, reuse=True, max_retries=1, work=job)
    ended = run_all(pool)
    assert [ended[i][0] for i in (0, 1)] == [0, 1], ended  # each died once, then finished on a new actor
    (local_ray / "died-5").unlink(missing_ok=True)
    pool = JobPool(options={5: {"num_cpus": 1}}, order=[5], job_args=lambda i: (i, True), warm_up=None,
                   reuse=True, max_retries=0, work=job)
    import ray

    assert isinstance(run_all(pool)[5], ray.exceptions.RayActorError)


def test_without_reuse_every_job_gets_a_fresh_process(local_ray):
    options = {i: {"num_cpus": 1} for i in range(4)}
    pool = JobPool(options=options, order=list(options), job_args=lambda i: (i, False), warm_up=None,
                   reuse=False, max_retries=0, work=job, wind_down=wind_down)
    ended = run_all(pool)
    pids = {pid for _, pid in ended.values()}
    assert len(pids) == 4 and pids <= wound_down(local_ray), "each process wound down after its one job"


GANG = {"num_cpus": 1, "ranks": 2}


def gang_warm_up() -> None:
    (Path(os.environ["POOL_TEST_DIR"]) / f"gang-warm-{os.getpid()}").touch()


def rank_pid(rank: int, index: int, how: str) -> tuple[int, int]:
    if how == "die" and rank == 1:
        marker = Path(os.environ["POOL_TEST_DIR"]) / f"died-{index}"
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
    (Path(os.environ["POOL_TEST_DIR"]) / f"lead-{index}-{os.getpid()}").touch()
    try:
        running = peers.start(rank_pid, (index, how))
        running.wait()
    except BaseException:
        peers.break_up()
        raise
    from ray.util.placement_group import get_current_placement_group, placement_group_table

    return {"lead": os.getpid(), "address": (peers.master_addr, peers.master_port),
            "strategy": placement_group_table(get_current_placement_group())["strategy"]}


def test_a_gang_warms_up_once_and_runs_job_after_job_on_the_same_processes(local_ray):
    pool = JobPool(options={i: GANG for i in range(3)}, order=[0, 1, 2], job_args=lambda i: (i, "ok"),
                   warm_up=gang_warm_up, reuse=True, max_retries=0, work=lead_job)
    ended = run_all(pool)
    pool.close()
    assert {ended[i]["lead"] for i in range(3)} == {ended[0]["lead"]}, "one lead process for every job"
    assert len({ended[i]["address"] for i in range(3)}) == 1, "one process group address: never re-created"
    assert len(list(local_ray.glob("gang-warm-*"))) == 2, "the lead and rank 1 warmed up once each"
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
