"""The grid coordinates a cell records in result.json as `cell` (and as its W&B tags): the report, the store
reader and orchestrator-status read them by these exact names, so they are pinned name by name."""
from conftest import build

from orchestrator.store.cell_id import cell_coordinates


def test_a_pruned_cells_coordinates_by_name():
    config = build(["model=nano", "pruning=geometric", "pruning.sparsity=0.6", "pruning.start=0.25", "pruning.end=0.75",
                    "pruning.every=7", "budget.dense_steps=300", "seed=4"])[0]
    assert cell_coordinates(config) == {
        "model": "nano", "schedule": "geometric", "sparsity": 0.6, "start": 0.25, "end": 0.75, "every": 7,
        "dense_steps": 300, "tokens_per_param": None, "seed": 4, "finetune_steps": 0, "structured": "none",
        "structured_ratio": None, "post_steps": config.structured.post_steps}


def test_structured_and_wsd_cells_add_their_own():
    config = build(["pruning=none", "structured.method=width", "structured.ratio=0.5", "structured.post_steps=10",
                    "optim.schedule=wsd"])[0]
    coordinates = cell_coordinates(config)
    assert (coordinates["structured"], coordinates["structured_ratio"], coordinates["post_steps"],
            coordinates["lr_schedule"]) == ("width", 0.5, 10, "wsd")
