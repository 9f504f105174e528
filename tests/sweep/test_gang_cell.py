"""Issue 18 item 2: a 2-worker cell on a gang whose ranks sit on different nodes of Ray's own multi-node test
cluster (`ray.cluster_utils.Cluster`, two nodes of one CPU each) finishes with the same result, bit for bit, as
the same cell trained on one machine by its spawned worker group; then a second cell runs on the same gang, on the
process group the first one made."""
import json
import sys

import pytest
from conftest import TINY, build

from orchestrator.sweep.pool import JobPool

CELL = [*TINY, "train.workers=2", "pruning=geometric", "pruning.sparsity=0.5", "train.device=cpu"]


def train_on_gang(config, resolved) -> dict:
    """In the gang's lead: the cell, and where each rank's bundle of the placement group sat."""
    from ray.util.placement_group import get_current_placement_group, placement_group_table

    from orchestrator.cell.run import run_cell

    outcome = run_cell(config, resolved)
    nodes = placement_group_table(get_current_placement_group())["bundles_to_node_id"]
    return {"status": outcome.status, "result": outcome.result, "nodes": [nodes[i] for i in sorted(nodes)]}


@pytest.fixture
def two_node_cluster(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address=cluster.address, configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def losses(cell_folder) -> list[float]:
    return [json.loads(line).get("loss") for line in (cell_folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_two_worker_cell_spanning_two_nodes_ends_as_on_one_machine(tmp_path, two_node_cluster):
    from orchestrator.cell.run import run_cell

    alone = run_cell(*build(CELL + [f"results_dir={tmp_path / 'one_machine'}"]))
    cells = {0: build(CELL + [f"results_dir={tmp_path / 'gang'}"]),
             1: build(CELL + [f"results_dir={tmp_path / 'gang'}", "seed=1"])}
    pool = JobPool(options={0: {"num_cpus": 1, "ranks": 2}, 1: {"num_cpus": 1, "ranks": 2}}, order=[0, 1],
                   job_args=lambda i: cells[i], warm_up=None, reuse=True, max_retries=0, work=train_on_gang)
    pool.start()
    ended = {}
    while pool.pending:
        for index, value, error in pool.poll(timeout=10.0):
            ended[index] = value if error is None else error
    pool.close()
    spanned = ended[0]
    assert isinstance(spanned, dict) and spanned["status"] == "done", spanned
    assert len(set(spanned["nodes"])) == 2, "rank 0 and rank 1 sat on different nodes"
    for key in ("final_loss", "val_loss", "avg_params", "final_params"):
        assert spanned["result"][key] == alone.result[key], key
    assert losses(tmp_path / "gang" / "default" / alone.paths.root.name) == losses(alone.paths.root)
    assert isinstance(ended[1], dict) and ended[1]["status"] == "done", ended[1]
    assert ended[1]["result"]["final_loss"] != spanned["result"]["final_loss"], "another seed: a cell of its own"
