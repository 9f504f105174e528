"""budget.compute: linear (the paper's, prunable linear weights only) or total (+ the attention scores' FLOPs).
Planning at equal total FLOPs, what result.json records, and cell ids that stay as they were for linear."""
import json
from types import SimpleNamespace

import pytest
from conftest import build

from orchestrator.cell.result import cell_result
from orchestrator.cell.run import fixed_cost, plan_cell, run_cell
from orchestrator.config import ConfigError
from orchestrator.model_size import attention_flops_per_token, attention_share, linear_params
from orchestrator.store.cell_id import cell_id
from pruning.accounting import ParamAccountant

SPARSE = ["pruning.sparsity=0.8", "train.device=cpu"]
JOURNEY80 = ["experiment=journey80", "window=a0_b25", "pruning.sparsity=0.8", "train.device=cpu"]


def test_attention_flops_by_hand():
    # micro: n_layer 4, d_model 64; Kaplan et al.: 6 · n_layer · context · d_model per token
    assert attention_flops_per_token("micro", 128) == 6 * 4 * 128 * 64 == 196_608
    assert linear_params("micro") == 212_992
    # 196,608 / (6 · 212,992) ≈ 15.4 % of the linear FLOPs; q = 196,608 / (1,277,952 + 196,608) = 2/15
    assert attention_share("micro", None, 128) == pytest.approx(2 / 15, rel=1e-15)


def test_fixed_cost_follows_budget_compute_and_the_context():
    assert fixed_cost(build(SPARSE)[0]) == 0.0
    assert fixed_cost(build(SPARSE + ["budget.compute=total"])[0]) == pytest.approx(2 / 15, rel=1e-15)
    # context 64: 98,304 / (1,277,952 + 98,304)
    short = build(SPARSE + ["budget.compute=total", "model.seq_len=64"])[0]
    assert fixed_cost(short) == pytest.approx(98_304 / 1_376_256, rel=1e-15)


def test_total_compute_trains_a_sparse_cell_fewer_steps_and_a_dense_cell_the_same():
    linear = plan_cell(build(SPARSE)[0])
    total = plan_cell(build(SPARSE + ["budget.compute=total"])[0])
    assert total.total_steps < linear.total_steps
    assert abs(total.compute - 1000) <= total.every
    dense = ["pruning=none", "train.device=cpu"]
    assert plan_cell(build(dense + ["budget.compute=total"])[0]) == plan_cell(build(dense)[0])


def test_a_bad_budget_compute_is_rejected_naming_the_field_and_the_values():
    with pytest.raises(ConfigError, match=r"budget\.compute must be one of \['linear', 'total'\], got 'flops'"):
        build(["budget.compute=flops"])


def test_total_compute_needs_the_data_vocabulary_when_it_is_the_data_s():
    tokens = ["data=tokens", "data.path=/shards", "budget.compute=total"]
    with pytest.raises(ConfigError, match=r"data\.vocab_size.*budget\.compute=total"):
        build(tokens)
    assert fixed_cost(build(tokens + ["data.vocab_size=5000"])[0]) > 0


def test_linear_cell_ids_are_the_ones_before_budget_compute_existed():
    assert cell_id(build(["train.device=cpu"])[0]) == "micro-geometric-s0.5-w0.25-0.75-C1000-seed0-11694e2b"
    assert cell_id(build(JOURNEY80)[0]) == "micro-geometric-s0.8-w0-0.25-C1040-seed0-dbf316cc"
    assert cell_id(build(JOURNEY80 + ["budget.compute=linear"])[0]) == cell_id(build(JOURNEY80)[0])


def test_total_compute_is_another_cell():
    assert cell_id(build(JOURNEY80 + ["budget.compute=total"])[0]) != cell_id(build(JOURNEY80)[0])


def test_result_records_attention_and_total_flops_by_hand():
    config = build(["train.device=cpu", "budget.compute=total", "train.batch_size=2"])[0]
    job = SimpleNamespace(config=config, cell_id="c", tokens_per_step=2 * 128, vocab_size=256,
                          plan=SimpleNamespace(total_steps=3), data=SimpleNamespace(n_train_tokens=10_000,
                                                                                    vocab_size=256))
    accountant = ParamAccountant()
    for step, nonzero in enumerate((1000, 600, 500)):
        accountant.record(step, nonzero)
    result = cell_result(job, status="done", steps=3, final_loss=1.0, val_loss=1.0, accountant=accountant,
                         n_prunable=1000, wall_seconds=1.0, resumed_from=[])
    # 3 steps × 256 tokens = 768 tokens; N_avg = 700: 6 · 700 · 768 = 3,225,600 linear FLOPs
    # attention: 196,608 per token × 768 = 150,994,944
    assert result["pretrain_flops"] == 3_225_600
    assert result["attention_flops"] == 150_994_944
    assert result["total_flops"] == 3_225_600 + 150_994_944
    assert result["budget_compute"] == "total"


def test_a_total_compute_cell_trains_its_plan_and_records_its_flops(tiny):
    config, resolved = build(tiny + ["pruning.sparsity=0.75", "budget.compute=total"])
    outcome = run_cell(config, resolved)
    result, plan = outcome.result, json.loads(outcome.paths.plan.read_text())
    assert outcome.status == "done" and result["steps"] == plan["total_steps"]
    assert result["budget_compute"] == "total"
    tokens = result["tokens"]
    assert result["attention_flops"] == 6 * 4 * 32 * 64 * tokens  # the tiny cell's context is 32
    assert result["total_flops"] == result["pretrain_flops"] + result["attention_flops"]


def test_plan_cli_takes_a_fixed_cost(capsys):
    from orchestrator.study.plan_cli import main

    args = ["--sparsity", "0.8", "--dense-steps", "1000", "--every", "10"]
    assert main(args) == 0
    linear = json.loads(capsys.readouterr().out)
    assert main(args + ["--fixed-cost", str(2 / 15)]) == 0
    total = json.loads(capsys.readouterr().out)
    assert total["total_steps"] < linear["total_steps"]
    assert main(args + ["--fixed-cost", "1.0"]) == 2
    assert "fixed_cost" in capsys.readouterr().err
