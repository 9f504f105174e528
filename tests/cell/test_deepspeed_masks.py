"""Under ZeRO-1/2 a pruned weight must be zero everywhere DeepSpeed keeps a copy of it: the module weight, the fp32
master partition and the AdamW moments; otherwise a checkpoint carries it and the optimizer could bring it back.
(Masks re-applied after each step hide a live master copy from the forward pass, so this is checked directly.)"""
import pytest
import torch
from conftest import build

from model.gpt import GPT, preset
from orchestrator.cell.deepspeed_masks import DeepSpeedMaskTarget
from orchestrator.cell.distributed import WorkerPlace, build_engine, ensure_process_group, free_port
from pruning.magnitude import GlobalMagnitudePruner, prunable_weights


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_pruned_entries_are_zero_in_master_copy_and_moments(stage):
    from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

    config, _ = build([f"deepspeed=zero{stage}", "train.batch_size=4", "optim.weight_decay=0.1"])
    place, device = WorkerPlace(0, 1, free_port()), torch.device("cpu")
    ensure_process_group(place, device)
    torch.manual_seed(0)
    engine, _ = build_engine(GPT(preset("micro", max_seq_len=16)), config, place, device)
    weights = prunable_weights(engine.module)
    pruner = GlobalMagnitudePruner(weights, schedule="geometric", sparsity=0.5, t_start=2, t_end=6, every=2,
                                   target=DeepSpeedMaskTarget(engine))
    pruner.register_gradient_hooks()
    x = torch.randint(0, 256, (4, 16))
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
        if stage == 0:
            state = engine.optimizer.state[param]
            masters = [param.data]
            moments = [state["exp_avg"], state["exp_avg_sq"]]
        else:
            masters = [safe_get_full_fp32_param(param)]
            moments = [safe_get_full_optimizer_state(param, key) for key in ("exp_avg", "exp_avg_sq")]
        for tensor in masters + moments:
            assert (tensor[pruned] == 0).all(), name
    pruner.finalize()
