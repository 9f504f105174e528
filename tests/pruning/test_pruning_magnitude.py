"""Gradual global magnitude pruning on a toy LM: exact sparsity, one global threshold, pruned weights stay 0."""
import io

import pytest
import torch
import torch.nn as nn

from pruning.magnitude import GlobalMagnitudePruner, TorchOptimizerTarget, prunable_weights
from pruning.schedules import kept_fraction


class ToyLM(nn.Module):
    """Embeddings + two biased linears + LayerNorm + an untied LM head: the shapes of a tiny GPT."""

    def __init__(self, vocab=40, d=16, hidden=48, dtype=torch.float32):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.position_embedding = nn.Embedding(8, d)
        self.up = nn.Linear(d, hidden)
        self.down = nn.Linear(hidden, d)
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        for linear in (self.up, self.down, self.lm_head):  # GPT-2 init: one scale for every kernel
            nn.init.normal_(linear.weight, std=0.02)
        self.to(dtype)

    def forward(self, idx):
        x = self.token_embedding(idx) + self.position_embedding(torch.arange(idx.shape[1]))
        x = x + self.down(torch.relu(self.up(x)))
        return self.lm_head(self.norm(x))


def make_model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return ToyLM(dtype=dtype)


def make_pruner(model, target=None, **overrides):
    schedule = dict(schedule="geometric", sparsity=0.75, t_start=10, t_end=40, every=10) | overrides
    return GlobalMagnitudePruner(prunable_weights(model), target=target, **schedule)


def loss_of(model, generator):
    idx = torch.randint(0, 40, (4, 8), generator=generator)
    logits = model(idx)
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), idx.flatten())


def test_prunable_weights_are_the_linear_kernels_only():
    assert list(prunable_weights(make_model())) == ["up.weight", "down.weight", "lm_head.weight"]
    tied = make_model()
    tied.lm_head.weight = tied.token_embedding.weight
    assert list(prunable_weights(tied)) == ["up.weight", "down.weight"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("sparsity", [0.3, 0.75, 0.9])
def test_reaches_exact_sparsity_and_leaves_non_prunable_parameters_alone(sparsity, dtype):
    model = make_model(dtype=dtype)
    untouched = {n: p.detach().clone() for n, p in model.named_parameters() if n not in prunable_weights(model)}
    pruner = make_pruner(model, sparsity=sparsity, schedule="one_shot", t_start=0, t_end=0)
    assert pruner.update(0)
    total = pruner.n_total
    zeros = sum(int((w == 0).sum()) for w in prunable_weights(model).values())
    assert zeros == total - round((1 - sparsity) * total)
    assert pruner.n_nonzero() == round((1 - sparsity) * total)
    assert pruner.density() == pytest.approx(pruner.n_nonzero() / total)
    assert (model.lm_head.weight == 0).any()
    for name, value in untouched.items():
        assert torch.equal(dict(model.named_parameters())[name], value), name


def test_one_global_threshold_across_layers_of_different_scales():
    model = make_model()
    with torch.no_grad():
        model.up.weight.mul_(10.0)
        model.down.weight.mul_(0.1)
    pruner = make_pruner(model, sparsity=0.5, schedule="one_shot", t_start=0, t_end=0)
    pruner.update(0)
    per_layer = {n: 1 - float(m.float().mean()) for n, m in pruner.masks.items()}
    assert per_layer["down.weight"] > 0.9 and per_layer["up.weight"] < 0.1  # not 50 % in each layer
    weights = prunable_weights(model)
    # weights are zeroed now; compare the magnitudes they had through a fresh copy of the model
    original = make_model()
    with torch.no_grad():
        original.up.weight.mul_(10.0)
        original.down.weight.mul_(0.1)
    before = prunable_weights(original)
    kept = torch.cat([before[n].abs()[m] for n, m in pruner.masks.items()])
    pruned = torch.cat([before[n].abs()[~m] for n, m in pruner.masks.items()])
    assert pruned.max() <= kept.min()
    assert all(torch.equal(weights[n][m], before[n][m]) for n, m in pruner.masks.items())


def test_masks_only_shrink_and_follow_the_schedule():
    model = make_model()
    pruner = make_pruner(model)
    previous = {n: m.clone() for n, m in pruner.masks.items()}
    for step in range(0, 60):
        fired = pruner.update(step)
        assert fired == (step in (10, 20, 30, 40))
        if fired:
            k = (step - 10) // 10
            assert pruner.n_nonzero() == round(kept_fraction("geometric", k, 4, 0.75) * pruner.n_total)
            for name, mask in pruner.masks.items():
                assert not (mask & ~previous[name]).any()  # nothing pruned comes back
            previous = {n: m.clone() for n, m in pruner.masks.items()}
        with torch.no_grad():  # perturb weights so magnitudes reorder between events
            for w in prunable_weights(model).values():
                w.add_(torch.randn_like(w) * 0.05)
        pruner.apply_masks()
    # exactly the rounded kept count: round(0.25·N) of N weights (abs=1e-3 would let ~2 weights go astray)
    assert pruner.density() == round(0.25 * pruner.n_total) / pruner.n_total
    assert pruner.update(40) and pruner.n_nonzero() == round(0.25 * pruner.n_total)  # idempotent


def test_pruned_weights_stay_zero_under_adamw():
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95))
    pruner = make_pruner(model, target=TorchOptimizerTarget(optimizer), t_start=5, t_end=35, every=10)
    pruner.register_gradient_hooks()
    generator = torch.Generator().manual_seed(0)
    weights = prunable_weights(model)
    for step in range(50):
        pruner.update(step)
        optimizer.zero_grad()
        loss_of(model, generator).backward()
        for name, w in weights.items():
            assert (w.grad[~pruner.masks[name]] == 0).all()  # the hook read the mask in force now
        optimizer.step()
        pruner.apply_masks()
        for name, w in weights.items():
            assert (w[~pruner.masks[name]] == 0).all()
    assert pruner.n_nonzero() == round(0.25 * pruner.n_total)
    for name, w in weights.items():
        pruned = ~pruner.masks[name]
        for key in ("exp_avg", "exp_avg_sq"):
            assert (optimizer.state[w][key][pruned] == 0).all(), (name, key)
    pruner.finalize()
    assert not pruner._hooks


def test_zero_pruned_clears_state_accumulated_before_the_event():
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):  # dense steps build up momentum everywhere
        optimizer.zero_grad()
        loss_of(model, generator).backward()
        optimizer.step()
    pruner = make_pruner(model, target=TorchOptimizerTarget(optimizer), schedule="one_shot", t_start=3, t_end=3)
    pruner.update(3)
    w = model.up.weight
    pruned = ~pruner.masks["up.weight"]
    assert pruned.any()
    assert (optimizer.state[w]["exp_avg"][pruned] == 0).all() and (optimizer.state[w]["exp_avg_sq"][pruned] == 0).all()


def test_hooks_can_be_removed():
    model = make_model()
    pruner = make_pruner(model, schedule="one_shot", t_start=0, t_end=0)
    pruner.register_gradient_hooks()
    pruner.update(0)
    pruner.remove_hooks()
    loss_of(model, torch.Generator().manual_seed(0)).backward()
    assert (model.lm_head.weight.grad[~pruner.masks["lm_head.weight"]] != 0).any()


def test_state_dict_round_trip_resumes_identically():
    model = make_model()
    pruner = make_pruner(model)
    for step in range(25):
        pruner.update(step)
    buffer = io.BytesIO()
    torch.save(pruner.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    resumed_model = make_model()
    resumed_model.load_state_dict(model.state_dict())
    resumed = make_pruner(resumed_model)
    resumed.load_state_dict(state)
    assert resumed.n_nonzero() == pruner.n_nonzero() and resumed.last_event_step == 20
    assert all(torch.equal(resumed.masks[n], m) for n, m in pruner.masks.items())
    for step in range(25, 50):
        assert pruner.update(step) == resumed.update(step)
    assert all(torch.equal(resumed.masks[n], m) for n, m in pruner.masks.items())

    with pytest.raises(ValueError, match="sparsity"):
        make_pruner(make_model(), sparsity=0.5).load_state_dict(state)


def test_bad_arguments_are_named():
    weights = prunable_weights(make_model())
    with pytest.raises(ValueError, match="schedule"):
        GlobalMagnitudePruner(weights, schedule="linear", sparsity=0.5, t_start=0, t_end=10, every=10)
    with pytest.raises(ValueError, match="t_end"):
        GlobalMagnitudePruner(weights, schedule="geometric", sparsity=0.5, t_start=0, t_end=15, every=10)
    with pytest.raises(ValueError, match="sparsity"):
        GlobalMagnitudePruner(weights, schedule="geometric", sparsity=1.0, t_start=0, t_end=10, every=10)


# -- edges that mutation testing found unchecked (docs/testing.md) --------------------------------------------------
def _one_row(values):
    return {"w": nn.Parameter(torch.tensor([values]))}


class RecordingTarget(TorchOptimizerTarget):
    """The torch target, recording the names it is asked to zero (DeepSpeed's target finds its shards by name)."""

    def __init__(self):
        super().__init__()
        self.names = []

    def zero_pruned(self, name, param, keep):
        self.names.append(name)
        super().zero_pruned(name, param, keep)


def test_no_weights_is_refused_with_its_message():
    with pytest.raises(ValueError, match="^weights must hold at least one prunable weight$"):
        GlobalMagnitudePruner({}, schedule="geometric", sparsity=0.5, t_start=0, t_end=10, every=10)


def test_the_target_is_told_the_name_of_each_weight_it_zeroes():
    weights = prunable_weights(make_model())
    target = RecordingTarget()
    pruner = GlobalMagnitudePruner(weights, schedule="one_shot", sparsity=0.5, t_start=0, t_end=0, every=1,
                                   target=target)
    pruner.update(0)
    assert target.names == ["up.weight", "down.weight", "lm_head.weight"]


def test_an_event_before_the_optimizer_has_state_zeroes_the_weights():
    # a fresh AdamW holds no state for any parameter until its first step: the event must not need it
    weights = _one_row([3.0, 1.0, 2.0, 4.0])
    optimizer = torch.optim.AdamW(weights.values(), lr=1e-2)
    pruner = GlobalMagnitudePruner(weights, schedule="one_shot", sparsity=0.5, t_start=0, t_end=0, every=1,
                                   target=TorchOptimizerTarget(optimizer))
    assert pruner.update(0)
    assert weights["w"].tolist() == [[3.0, 0.0, 0.0, 4.0]]  # the two smallest of 3, 1, 2, 4


def test_masks_only_shrink_when_a_kept_weight_is_exactly_zero():
    # after pruning |1| of [3, 1, 2, 4], training leaves the kept 3 at exactly 0: re-running the event (a resume
    # repeats it) must keep the pruned entry pruned and the kept zero kept, not swap them
    weights = _one_row([3.0, 1.0, 2.0, 4.0])
    pruner = GlobalMagnitudePruner(weights, schedule="one_shot", sparsity=0.25, t_start=0, t_end=0, every=1)
    pruner.update(0)
    assert pruner.masks["w"].tolist() == [[True, False, True, True]]
    with torch.no_grad():
        weights["w"][0, 0] = 0.0
    pruner.update(0)
    assert pruner.masks["w"].tolist() == [[True, False, True, True]]


def test_the_checkpoint_keys_are_pinned():
    # checkpoints written by one version must load in the next: the names are part of the format
    pruner = make_pruner(make_model())
    pruner.update(10)
    state = pruner.state_dict()
    assert set(state) == {"masks", "n_total", "n_nonzero", "last_event_step", "schedule", "sparsity", "t_start",
                          "t_end", "every"}
    n_total = 16 * 48 + 48 * 16 + 16 * 40  # up, down, lm_head
    assert (state["n_total"], state["last_event_step"], state["schedule"], state["sparsity"], state["t_start"],
            state["t_end"], state["every"]) == (n_total, 10, "geometric", 0.75, 10, 40, 10)
    assert state["n_nonzero"] == sum(int(mask.sum()) for mask in state["masks"].values())


def test_a_mismatched_checkpoint_is_refused_naming_what_differs():
    state = make_pruner(make_model(), sparsity=0.5).state_dict()
    with pytest.raises(ValueError, match="pruner state has sparsity=0.5, this pruner has 0.75"):
        make_pruner(make_model()).load_state_dict(state)
    state = make_pruner(make_model()).state_dict()
    state["masks"] = {"up.weight": state["masks"]["up.weight"]}
    with pytest.raises(ValueError, match=r"pruner state masks \['up.weight'\] do not match the weights "
                                         r"\['down.weight', 'lm_head.weight', 'up.weight'\]"):
        make_pruner(make_model()).load_state_dict(state)
    state = make_pruner(make_model()).state_dict()
    state["masks"]["up.weight"] = state["masks"]["up.weight"][:, :4]
    with pytest.raises(ValueError, match=r"mask 'up.weight' has shape \(48, 4\), the weight has \(48, 16\)"):
        make_pruner(make_model()).load_state_dict(state)
