"""SPDF's static sparsity: a random mask fixed at initialisation, on the block linears only, that never changes."""
import pytest
import torch

from model.gpt import GPT, preset
from pruning.magnitude import prunable_weights
from pruning.static import StaticRandomPruner, plan_static, static_masked_weights


def _model_and_weights(seed=0):
    torch.manual_seed(seed)
    model = GPT(preset("micro"))
    return model, static_masked_weights(prunable_weights(model))


def test_the_mask_covers_block_linears_and_leaves_the_lm_head_dense():
    model, weights = _model_and_weights()
    assert "lm_head.weight" not in weights
    assert set(weights) == {n for n, p in model.named_parameters() if n.startswith("blocks.") and p.dim() == 2}


@pytest.mark.parametrize("sparsity", [0.5, 0.75])
def test_every_weight_gets_the_sparsity_and_the_mask_never_changes(sparsity):
    model, weights = _model_and_weights()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    pruner = StaticRandomPruner(weights, sparsity=sparsity, seed=3)
    pruner.register_gradient_hooks()
    assert pruner.update(0)
    first = {name: mask.clone() for name, mask in pruner.masks.items()}
    for name, mask in first.items():
        assert (~mask).sum() == round(sparsity * mask.numel()), name
    for step in range(6):
        assert not pruner.update(step + 1)
        x = torch.randint(0, 256, (2, 16))
        model(x, x)[1].backward()
        optimizer.step()
        optimizer.zero_grad()
        pruner.apply_masks()
    for name, weight in weights.items():
        assert torch.equal(pruner.masks[name], first[name])
        assert torch.equal(weight != 0, first[name]), f"{name}: a masked weight moved or a kept one is 0"
    assert pruner.n_nonzero() == sum(int(m.sum()) for m in first.values())


def test_the_mask_is_a_function_of_the_seed_and_survives_a_checkpoint():
    _, weights_a = _model_and_weights()
    _, weights_b = _model_and_weights()
    a, b = StaticRandomPruner(weights_a, sparsity=0.5, seed=7), StaticRandomPruner(weights_b, sparsity=0.5, seed=7)
    a.update(0)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
    c = StaticRandomPruner(_model_and_weights()[1], sparsity=0.5, seed=8)
    c.update(0)
    assert any(not torch.equal(a.masks[n], c.masks[n]) for n in a.masks)
    with pytest.raises(ValueError, match="seed"):
        c.load_state_dict(a.state_dict())


def test_the_static_plan_trains_the_dense_tokens_at_lower_compute():
    plan = plan_static(sparsity=0.5, dense_steps=1000, masked_fraction=0.8)
    assert plan.total_steps == 1000 and plan.t_start == 0 and plan.n_events == 1
    assert plan.avg_density == pytest.approx(0.6) and plan.compute == pytest.approx(600)
    assert plan.density(0) == plan.density(999) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="pruning.sparsity"):
        plan_static(sparsity=1.0, dense_steps=10, masked_fraction=0.5)
