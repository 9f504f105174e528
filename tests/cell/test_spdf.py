"""SPDF cells: a static random mask through pre-training, then dense fine-tuning with the mask dropped."""
import json

import pytest
import torch
from conftest import build

from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog

STATIC = ["pruning=static", "pruning.sparsity=0.75", "finetune.steps=12"]


def run(overrides, **kwargs):
    return run_cell(*build(overrides), **kwargs)


def block_kernels(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith("blocks.") and k.endswith(".weight") and v.dim() == 2}


def test_the_static_mask_holds_through_pre_training_and_is_gone_after_fine_tuning(tiny):
    outcome = run(tiny + STATIC)
    assert outcome.status == "done"
    result, paths = outcome.result, outcome.paths
    pretrained = torch.load(paths.final_model, weights_only=True)
    for name, weight in block_kernels(pretrained).items():
        assert int((weight == 0).sum()) == round(0.75 * weight.numel()), name
    assert (pretrained["lm_head.weight"] != 0).all(), "the LM head stays dense"
    finetuned = torch.load(paths.finetuned_model, weights_only=True)
    for name, weight in block_kernels(finetuned).items():
        assert (weight == 0).float().mean() < 0.01, f"{name}: the mask was not dropped for fine-tuning"
    records = MetricsLog(paths.metrics).read()
    pre = [r for r in records if r.get("phase") is None]
    post = [r for r in records if r.get("phase") == "finetune"]
    assert {r["params_current"] for r in pre if "params_current" in r} == {result["final_params"]}
    assert [r["step"] for r in post] == list(range(result["steps"] + 1, result["steps"] + 13))
    assert all("finetune_loss" in r for r in post) and "finetune_val_loss" in post[-1]
    # train.log_every=1: the last logged window holds the last step alone, so its mean IS the final loss, exactly
    assert result["finetune"]["steps"] == 12 and result["finetune"]["final_loss"] == post[-1]["finetune_loss"]
    assert result["finetune"]["val_loss"] == post[-1]["finetune_val_loss"]
    assert result["steps"] == result["planned_steps"] == 24  # equal tokens to the dense run
    assert result["avg_params"] == result["final_params"] < result["initial_params"]


def test_static_pre_training_costs_less_compute_than_dense_at_equal_tokens(tiny, tmp_path):
    dense = run(tiny + ["pruning=none", "finetune.steps=12", f"results_dir={tmp_path / 'dense'}"])
    static = run(tiny + STATIC)
    assert dense.result["tokens"] == static.result["tokens"]
    ratio = static.result["pretrain_flops"] / dense.result["pretrain_flops"]
    assert ratio == pytest.approx(static.result["avg_params"] / dense.result["avg_params"]) and ratio < 0.5
    plan = json.loads(static.paths.plan.read_text())
    assert plan["compute"] == pytest.approx(ratio * plan["dense_steps"], rel=1e-6)


def test_resuming_inside_fine_tuning_reproduces_the_uninterrupted_run(tiny, tmp_path):
    overrides = tiny + STATIC + ["train.checkpoint_every=6"]
    whole = run(overrides)
    resumed_overrides = overrides + [f"results_dir={tmp_path / 'resumed'}"]
    assert run(resumed_overrides, stop_after_step=33).status == "interrupted"  # last checkpoint: step 30
    resumed = run(resumed_overrides)
    assert resumed.result["resumed_from_steps"] == [30]
    a, b = (torch.load(o.paths.finetuned_model, weights_only=True) for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert whole.result["finetune"] == resumed.result["finetune"]
    assert whole.result["final_loss"] == resumed.result["final_loss"]
