"""A sweep's driver names its cells as the workers that train them do. The id holds the device `train.device=auto`
resolves to (a CPU fp32 cell and a GPU bf16 cell are different cells), and the driver of a Ray sweep may run on a
CPU-only head node while the cells run on GPU workers: the manifest, the sharing plan and the failed record of a
cell Ray gave up on must then carry the GPU workers' ids, not the head's."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import CONF, TINY, build

import orchestrator.sweep.cells as cells_module
from orchestrator.store.cell_id import cell_id, set_sweep_device
from orchestrator.sweep.composed import forget_composed
from orchestrator.sweep.train import start_sweep, validate_or_exit
from orchestrator.sweep.unrun import record_unrun_cell


def _job_configs(store):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from orchestrator.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return [hydra_compose(config_name="config", return_hydra_config=True,
                              overrides=[*TINY, "pruning=geometric", f"pruning.sparsity={s}", f"results_dir={store}",
                                         "sweep=s"]) for s in (0.3, 0.6)]


def _worker_id(sparsity: float, device: str) -> str:
    """The id a worker whose own hardware is `device` gives the cell (it resolves `auto` by that hardware)."""
    return cell_id(build([*TINY, "pruning=geometric", f"pruning.sparsity={sparsity}", f"train.device={device}"])[0])


@pytest.mark.parametrize("cluster_gpus", [True, False])
def test_a_cpu_head_records_the_cells_under_the_ids_its_workers_write(tmp_path, monkeypatch, cluster_gpus):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the head node: no GPU
    monkeypatch.setattr(cells_module, "_cluster_has_gpus", lambda: cluster_gpus)
    forget_composed()
    configs = _job_configs(tmp_path / "store")
    validate_or_exit(configs)
    start_sweep(configs)  # the launcher's on_sweep_start, once Ray is up and knows the cluster
    device = "cuda" if cluster_gpus else "cpu"
    expected = [_worker_id(0.3, device), _worker_id(0.6, device)]
    assert _worker_id(0.3, "cuda") != _worker_id(0.3, "cpu")  # the device is part of the id
    manifest = json.loads((tmp_path / "store" / "s" / "sweep.json").read_text())
    assert [cell["cell_id"] for cell in manifest["runs"][0]["cells"]] == expected

    record_unrun_cell(configs[0], RuntimeError("the node died"))  # Ray gave up on the cell: recorded where the
    assert (tmp_path / "store" / "s" / expected[0] / "result.json").is_file()  # workers would have written it
    forget_composed()


def test_outside_a_sweep_auto_is_this_machines_hardware(monkeypatch):
    config = build([*TINY, "train.device=auto"])[0]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cell_id(config) == cell_id(build([*TINY, "train.device=cuda"])[0])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cell_id(config) == cell_id(build([*TINY, "train.device=cpu"])[0])
    set_sweep_device("cuda")
    assert cell_id(config) == cell_id(build([*TINY, "train.device=cuda"])[0])
    set_sweep_device(None)
    assert cell_id(config) == cell_id(build([*TINY, "train.device=cpu"])[0])
    with pytest.raises(ValueError, match="'cuda' or 'cpu'"):
        set_sweep_device("gpu")
