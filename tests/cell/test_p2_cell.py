"""P² cells: the dense base cell runs first (once), its final model is pruned structurally, then post-trained."""
import pytest
import torch
from conftest import build

from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog

P2 = ["pruning=none", "structured.post_steps=12"]


def run(overrides, **kwargs):
    return run_cell(*build(overrides), **kwargs)


def test_a_p2_cell_prunes_its_trained_base_and_post_trains_it(tiny):
    width = run(tiny + P2 + ["structured.method=width", "structured.ratio=0.25"])
    depth = run(tiny + P2 + ["structured.method=depth", "structured.ratio=0.25"])
    base = run(tiny + ["pruning=none"])
    assert base.status == "skipped", "the base is a regular cell of the sweep, trained once"
    for outcome, n_layer in ((width, 4), (depth, 3)):
        record = outcome.result["structured"]
        assert outcome.status == "done" and record["base_cell_id"] == base.paths.root.name
        assert record["l0"] == base.result["val_loss"] and record["ratio"] == pytest.approx(0.25, abs=0.02)
        assert record["n_pruned"] == pytest.approx(0.75 * record["n0"], rel=0.03)
        assert record["pruned_config"]["n_layer"] == n_layer
        assert outcome.result["steps"] == 12 and outcome.result["tokens"] == record["post_tokens"]
        curve = [r["val_loss"] for r in MetricsLog(outcome.paths.metrics).read() if "val_loss" in r]
        assert len(curve) == 1 and curve[-1] == outcome.result["val_loss"]  # eval_every 12
    assert width.paths.root.name.startswith("micro-dense-C24-width0.25-D12-seed0-")


def test_two_four_masks_hold_through_post_training(tiny):
    outcome = run(tiny + P2 + ["structured.method=2:4"])
    assert outcome.status == "done" and outcome.result["structured"]["ratio"] == 0.5
    state = torch.load(outcome.paths.final_model, weights_only=True)
    for name, weight in state.items():
        if name.startswith("blocks.") and name.endswith(".weight") and weight.dim() == 2:
            groups = (weight != 0).reshape(weight.shape[0], -1, 4).sum(-1)
            assert (groups == 2).all(), name


def test_resuming_post_training_reproduces_the_uninterrupted_run(tiny, tmp_path):
    overrides = tiny + P2 + ["structured.method=width", "structured.post_steps=24", "train.checkpoint_every=6"]
    whole = run(overrides)
    resumed_overrides = overrides + [f"results_dir={tmp_path / 'resumed'}"]
    assert run(resumed_overrides, stop_after_step=15).status == "interrupted"
    resumed = run(resumed_overrides)
    assert resumed.result["resumed_from_steps"] == [12]
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_p2_cell_needs_a_dense_base(tiny):
    from orchestrator.config import ConfigError

    with pytest.raises(ConfigError, match="pruning must be none"):
        build(tiny + ["pruning=geometric", "structured.method=width", "structured.post_steps=12"])


def test_a_base_that_diverges_fails_the_p2_cell_with_the_reason(tiny):
    diverging = ["optim.lr=1e6", "optim.warmup_fraction=0", "optim.grad_clip=0"]
    config, resolved = build(tiny + P2 + diverging + ["structured.method=width"])
    with pytest.raises(RuntimeError, match="ended 'diverged'"):
        run_cell(config, resolved)
    from orchestrator.store.cell_id import cell_id
    from orchestrator.store.files import CellPaths

    result = CellPaths.of(config.results_dir, config.sweep, cell_id(config)).read_result()
    assert result["status"] == "failed" and "diverged" in result["error"]
