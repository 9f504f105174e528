"""No host sync per training step: between logged steps the cell's own code never reads a tensor back to the host
(on a GPU each read waits for the GPU to drain). Reads are counted by where they are made; the count of a cell
twice as long, with logging, evaluation and checkpoints only at its end, must not grow. DeepSpeed's own reads are
the business of the GPU check (`-m gpu`: torch.cuda.set_sync_debug_mode), which sees every sync."""
from collections import Counter

import pytest
import torch

from conftest import REPO, build, count_host_reads
from orchestrator.cell.run import run_cell

OWN_CODE = tuple(str(REPO / package) for package in ("orchestrator", "pruning", "model"))
HOST_SIDE = (str(REPO / "orchestrator" / "data"),)  # batches are built on the host from host arrays


@pytest.fixture
def host_reads(monkeypatch):
    """Reads of a tensor's value made directly by the project's code (the data layer's host arrays aside)."""
    return count_host_reads(monkeypatch, lambda frame: frame.f_code.co_filename.startswith(OWN_CODE)
                            and not frame.f_code.co_filename.startswith(HOST_SIDE))


@pytest.mark.parametrize("pruning", [["pruning=none"], ["pruning=static", "pruning.sparsity=0.5"]])
def test_a_longer_cell_makes_no_more_host_reads(tiny, tmp_path, host_reads, pruning):
    quiet = ["train.log_every=1000", "train.eval_every=1000", "train.checkpoint_every=1000"]
    counts = []
    for steps in (24, 48):
        host_reads.clear()
        config, resolved = build(tiny + pruning + quiet + [f"budget.dense_steps={steps}",
                                                            f"results_dir={tmp_path / str(steps)}"])
        assert run_cell(config, resolved).status == "done"
        counts.append(dict(host_reads))
    assert counts[0] == counts[1]


def _syncs_per_cell_on_gpu(_rank: int, tiny: list[str], root: str) -> None:
    import warnings

    counts = []
    for steps in (24, 48):
        config, resolved = build(tiny + ["pruning=static", "pruning.sparsity=0.5", "train.device=cuda",
                                         "train.log_every=1000", "train.eval_every=1000",
                                         "train.checkpoint_every=1000", f"budget.dense_steps={steps}",
                                         f"results_dir={root}/{steps}"])
        where = Counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")  # a warning at the Python line of every synchronizing call
            try:
                assert run_cell(config, resolved).status == "done"
            finally:
                torch.cuda.set_sync_debug_mode("default")
        for warning in caught:
            if "synchronizing CUDA operation" in str(warning.message):
                where[f"{warning.filename}:{warning.lineno}"] += 1
        counts.append(where)
    extra = counts[1] - counts[0]
    assert not extra, f"CUDA syncs that grow with the cell's length (file:line → count): {dict(extra)}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_longer_cell_makes_no_more_cuda_syncs(tiny, tmp_path):
    import torch.multiprocessing as mp

    # a process of its own: a NCCL process group, where this test process may hold a gloo one
    mp.start_processes(_syncs_per_cell_on_gpu, args=(tiny, str(tmp_path)), nprocs=1, join=True,
                       start_method="spawn")
