"""A pruned weight must be zero everywhere DeepSpeed keeps a copy of it: the module weight, the fp32 master copy and
both AdamW moments, for every precision × ZeRO stage the config accepts; otherwise a checkpoint carries it, the
optimizer moves it, and SPDF's dense fine-tune restarts it from a stale value. (Masks re-applied after each step hide
a live master copy from the forward pass, so the copies are read directly, through DeepSpeed's own structures.)"""
import pytest
import torch
import torch.multiprocessing as mp

from conftest import build
from model.gpt import GPT, preset
from orchestrator.cell.deepspeed_masks import DeepSpeedMaskTarget
from orchestrator.cell.distributed import WorkerPlace, build_engine, ensure_process_group, free_port
from pruning.magnitude import GlobalMagnitudePruner, prunable_weights

PRECISIONS = ("fp32", "bf16", "bf16_autocast")
MOMENTS = ("exp_avg", "exp_avg_sq")


def _master_and_moments(engine, param: torch.nn.Parameter) -> list[torch.Tensor]:
    """Every copy DeepSpeed keeps of `param` besides the module weight, found in DeepSpeed's structures."""
    from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

    optimizer = engine.optimizer
    if hasattr(param, "_hp_mapping"):  # ZeRO-1/2: partitioned flat fp32 groups
        return [safe_get_full_fp32_param(param)] + [safe_get_full_optimizer_state(param, key) for key in MOMENTS]
    if hasattr(optimizer, "fp32_groups"):  # ZeRO-0 with bf16 weights: FP16_UnfusedOptimizer's per-weight masters
        masters = [master for weights, group in zip(optimizer.fp16_groups, optimizer.fp32_groups)
                   for weight, master in zip(weights, group) if weight is param]
        assert len(masters) == 1
        state = optimizer.optimizer.state[masters[0]]
        return masters + [state[key] for key in MOMENTS]
    assert isinstance(optimizer, torch.optim.Optimizer)  # ZeRO-0 over fp32 weights: the client optimizer itself
    return [param.data] + [optimizer.state[param][key] for key in MOMENTS]


def _train_and_check_copies(stage: int, precision: str, device: torch.device) -> None:
    config, _ = build([f"deepspeed=zero{stage}", f"deepspeed.precision={precision}", "train.batch_size=4",
                       "optim.weight_decay=0.1", f"train.device={device.type}"])
    place = WorkerPlace(0, 1, free_port())
    ensure_process_group(place, device)
    torch.manual_seed(0)
    engine, _ = build_engine(GPT(preset("micro", max_seq_len=16)).to(device), config, place, device)
    weights = prunable_weights(engine.module)
    expected_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    assert all(w.dtype == expected_dtype for w in weights.values())
    pruner = GlobalMagnitudePruner(weights, schedule="geometric", sparsity=0.5, t_start=2, t_end=6, every=2,
                                   target=DeepSpeedMaskTarget(engine))
    pruner.register_gradient_hooks()
    x = torch.randint(0, 256, (4, 16), device=device)
    for step in range(10):
        pruner.update(step)
        _, loss = engine(x, x)
        engine.backward(loss)
        engine.step()
        pruner.apply_masks()
    assert pruner.density() == pytest.approx(0.5, abs=1e-6)
    for name, param in weights.items():
        pruned = ~pruner.masks[name]
        assert (param.data[pruned] == 0).all(), name
        copies = _master_and_moments(engine, param)
        assert len(copies) == 3 and copies[0].dtype == torch.float32
        for tensor in copies:
            assert tensor.shape == param.shape
            assert (tensor[pruned] == 0).all(), name
            assert (tensor[~pruned] != 0).any(), name  # the copies are live: the check can fail
    pruner.finalize()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_pruned_entries_are_zero_in_master_copy_and_moments(stage, precision):
    _train_and_check_copies(stage, precision, torch.device("cpu"))


def _on_gpu(_rank: int, stage: int, precision: str) -> None:
    _train_and_check_copies(stage, precision, torch.device("cuda", 0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "bf16_autocast"])
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_pruned_entries_are_zero_in_master_copy_and_moments_on_gpu(stage, precision):
    # a process of its own: its process group is NCCL's, where this test process already holds a gloo one
    mp.start_processes(_on_gpu, args=(stage, precision), nprocs=1, join=True, start_method="spawn")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_pruned_weight_fine_tunes_from_zero(tiny, precision):
    """The issue's reproduction, through a whole cell: a dense fine-tune at a vanishing learning rate after pruning
    moves a pruned weight from 0 by about that rate; a stale master copy or moment would bring back its old value."""
    from orchestrator.cell.run import run_cell

    outcome = run_cell(*build(tiny + ["deepspeed=zero0", f"deepspeed.precision={precision}", "pruning=geometric",
                                      "pruning.sparsity=0.5", "finetune.steps=1", "finetune.lr=1e-12",
                                      "finetune.warmup_fraction=0.0"]))
    assert outcome.status == "done"
    final, tuned = (torch.load(path, weights_only=True)
                    for path in (outcome.paths.final_model, outcome.paths.finetuned_model))
    names = prunable_weights(GPT(preset("micro", max_seq_len=32)))
    assert all((final[name] == 0).any() for name in names)
    for name in names:
        assert tuned[name][final[name] == 0].abs().max() < 1e-9, name
