"""SPDF's static sparsity: a random mask fixed at initialisation, on the block linears only, that never changes."""
import pytest
import torch

from model.gpt import GPT, preset
from pruning.magnitude import prunable_weights
from pruning.plan import Plan
from pruning.static import FixedMaskPruner, StaticRandomPruner, plan_static, static_masked_weights


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


# -- edges that mutation testing found unchecked (docs/testing.md) --------------------------------------------------
def test_the_static_plan_is_pinned_field_by_field():
    # s = 0.5 on a masked share f = 0.8: density 1 - 0.5·0.8 = 0.6 from step 0; T = C = 100; compute 100·0.6 = 60
    plan = plan_static(sparsity=0.5, dense_steps=100, masked_fraction=0.8)
    assert plan == Plan(schedule="static", sparsity=0.5, start=0.0, end=0.0, every=1, dense_steps=100, t_start=0,
                        t_end=0, n_events=1, total_steps=100, avg_density=plan.avg_density, window_density=1.0,
                        compute=plan.compute)
    assert abs(plan.avg_density - 0.6) < 1e-15 and abs(plan.compute - 60.0) < 1e-12  # one rounding of 0.5·0.8


def test_the_static_plan_accepts_its_closed_bounds():
    assert plan_static(sparsity=0.0, dense_steps=1, masked_fraction=1.0).compute == 1.0  # s = 0, C = 1, f = 1


@pytest.mark.parametrize("args,named", [
    (dict(dense_steps=0), "budget.dense_steps must be a positive integer, got 0"),
    (dict(dense_steps=1.5), "budget.dense_steps must be a positive integer, got 1.5"),
    (dict(masked_fraction=0.0), r"masked_fraction must be in \(0, 1\], got 0.0"),
    (dict(masked_fraction=1.5), r"masked_fraction must be in \(0, 1\], got 1.5"),
])
def test_a_bad_static_plan_is_refused_naming_the_argument(args, named):
    with pytest.raises(ValueError, match=named):
        plan_static(**(dict(sparsity=0.5, dense_steps=10, masked_fraction=0.5) | args))


class RecordingTarget:
    """A MaskTarget that records which weights it was asked to zero (and zeroes them, as the torch one does)."""

    def __init__(self):
        self.names = []

    def zero_pruned(self, name, param, keep):
        self.names.append(name)
        with torch.no_grad():
            param.mul_(keep)


def _toy_weights():
    return {"a": torch.nn.Parameter(torch.arange(1.0, 9.0).view(2, 4)),
            "b": torch.nn.Parameter(torch.arange(1.0, 5.0).view(1, 4))}


def test_fixed_masks_are_installed_once_at_step_zero_through_the_target():
    weights, target = _toy_weights(), RecordingTarget()
    masks = {"a": torch.tensor([[True, False, True, True], [False, True, True, False]]),
             "b": torch.tensor([[True, True, True, True]])}
    pruner = FixedMaskPruner(weights, masks, target=target)
    assert pruner.sparsity == 3 / 12  # 3 of the 12 entries are masked
    assert pruner.state_dict()["every"] == 1 and pruner.state_dict()["schedule"] == "one_shot"
    assert not pruner.update(3)  # only step 0 installs the masks
    assert pruner.last_event_step is None and torch.all(weights["a"] != 0)
    assert pruner.update(0) and pruner.last_event_step == 0
    assert sorted(target.names) == ["a", "b"]
    assert not pruner.update(0)  # once
    assert torch.equal(weights["a"] != 0, masks["a"]) and pruner.n_nonzero() == 9


def test_fixed_masks_for_other_weights_are_refused_naming_both():
    with pytest.raises(ValueError, match=r"masks \['a'\] do not match the weights \['a', 'b'\]"):
        FixedMaskPruner(_toy_weights(), {"a": torch.ones(2, 4, dtype=torch.bool)})


def test_the_static_random_pruner_uses_its_target_and_checks_its_sparsity():
    target = RecordingTarget()
    pruner = StaticRandomPruner(_toy_weights(), sparsity=0.0, seed=1, target=target)  # s = 0 is allowed
    assert pruner.update(0) and sorted(target.names) == ["a", "b"] and pruner.n_nonzero() == 12
    for sparsity in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"sparsity must be in \[0, 1\), got {sparsity}"):
            StaticRandomPruner(_toy_weights(), sparsity=sparsity, seed=1)


def test_a_checkpoint_of_another_seed_is_refused_naming_both_seeds():
    state = StaticRandomPruner(_toy_weights(), sparsity=0.5, seed=1).state_dict()
    with pytest.raises(ValueError, match="pruner state has seed=1, this pruner has 2"):
        StaticRandomPruner(_toy_weights(), sparsity=0.5, seed=2).load_state_dict(state)
