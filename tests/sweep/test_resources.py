"""What a cell asks Ray for, per worker (a cell with train.workers > 1 runs on a gang of that many actors): CPUs
per thread, or a fraction of a GPU so that small cells share one; hydra.launcher.default_resources applies over
that (it was silently ignored)."""
from __future__ import annotations

import pytest
from conftest import TINY, build, compose

from orchestrator.config import ConfigError
from orchestrator.sweep.cells import cell_resources
from orchestrator.sweep.launcher import job_options
from orchestrator.sweep.pool import ray_resources


def test_a_fraction_of_a_gpu_per_worker_packs_cells_on_one_gpu():
    assert cell_resources(compose(TINY + ["train.device=cuda", "train.workers=2", "train.batch_size=16",
                                          "train.gpus_per_worker=0.25"])) == {"num_cpus": 1, "num_gpus": 0.25,
                                                                              "ranks": 2}
    assert cell_resources(compose(TINY + ["train.device=cuda"])) == {"num_cpus": 1, "num_gpus": 1.0}
    two_workers = cell_resources(compose(TINY + ["train.device=cpu", "train.workers=2", "train.threads=3",
                                                 "train.batch_size=16"]))
    assert two_workers == {"num_cpus": 3, "ranks": 2}  # per worker: a gang of 2 actors (orchestrator/sweep/gang.py)
    assert ray_resources(two_workers) == {"CPU": 6} and ray_resources(two_workers, per_rank=True) == {"CPU": 3}
    # a URI store stages the cell on rank 0's node, where every rank writes: the gang stays on one node
    assert cell_resources(compose(TINY + ["train.device=cpu", "train.workers=2", "train.batch_size=16",
                                          "results_dir=s3://bucket/store"]))["placement"] == "STRICT_PACK"


@pytest.mark.parametrize("value", ["0", "1.5", "-0.5"])
def test_a_gpu_share_that_is_neither_a_fraction_nor_whole_is_refused(value):
    with pytest.raises(ConfigError, match=r"train\.gpus_per_worker must be a fraction in \(0, 1\]"):
        build(TINY + [f"train.gpus_per_worker={value}"])
    build(TINY + ["train.gpus_per_worker=2"])  # two whole GPUs per worker


def test_default_resources_apply_over_the_apps_sizing():
    sizing = lambda config: {"num_cpus": 2, "num_gpus": 1}  # noqa: E731
    assert job_options(sizing, None, {}) == {"num_cpus": 2, "num_gpus": 1}
    assert job_options(sizing, None, {"memory": 4e9, "num_gpus": 0.5}) == {"num_cpus": 2, "num_gpus": 0.5,
                                                                         "memory": 4e9}
    assert job_options(None, None, {"resources": {"big_node": 1}}) == {"num_cpus": 1, "resources": {"big_node": 1}}
