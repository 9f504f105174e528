"""train.compile compiles the module's forward through DeepSpeed's engine.compile: parameter names, gradient hooks
and masks are untouched, so a compiled cell prunes exactly as an eager one. A counting backend that runs the captured
graphs as they are stands in for inductor (whose C++ build takes ~30 s a cell here)."""
import pytest
import torch
from conftest import build

import orchestrator.cell.distributed as distributed
from model.gpt import GPT, preset
from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog
from pruning.magnitude import prunable_weights

PRUNED = ["pruning=geometric", "pruning.sparsity=0.5", "pruning.start=0.25", "pruning.end=0.75"]


def test_a_compiled_cell_prunes_exactly_as_an_eager_one(tiny, tmp_path, monkeypatch):
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    monkeypatch.setattr(distributed, "COMPILE_BACKEND", counting_backend)
    eager = run_cell(*build(tiny + PRUNED))
    compiled = run_cell(*build(tiny + PRUNED + ["train.compile=true", f"results_dir={tmp_path / 'compiled'}"]))
    assert graphs, "torch.compile never captured the forward"
    assert compiled.status == eager.status == "done"
    assert compiled.paths.root.name == eager.paths.root.name  # compiling does not make it another cell
    assert compiled.result["final_params"] == eager.result["final_params"]
    model = torch.load(compiled.paths.final_model, weights_only=True)
    names = prunable_weights(GPT(preset("micro", max_seq_len=32)))
    zeros = sum(int((model[name] == 0).sum()) for name in names)
    assert zeros == sum(model[name].numel() for name in names) - compiled.result["final_params"]
    eager_losses, compiled_losses = ([r["loss"] for r in MetricsLog(o.paths.metrics).read() if "loss" in r]
                                     for o in (eager, compiled))
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-5)
