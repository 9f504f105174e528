"""Structured pruning for the P² study: depth (ShortGPT), width (Minitron), 2:4, and the ratio ρ bookkeeping."""
from dataclasses import replace

import pytest
import torch

from model.gpt import GPT, GPTConfig
from pruning.structured import (
    apply_2_4, block_similarities, count_block_linear, pruning_ratio, prune_depth, prune_width,
    depth_count_for_ratio, semi_structured_masks, structured_prune, two_four_mask, width_counts_for_ratio,
)

CONFIG = GPTConfig(vocab_size=64, max_seq_len=32, n_layer=6, n_head=4, d_model=32, d_mlp=64)


def _model(config: GPTConfig = CONFIG, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config).eval()


def _tokens(config: GPTConfig = CONFIG, batch: int = 4, seq: int = 16) -> torch.Tensor:
    return torch.randint(0, config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1))


def _make_identity(block) -> None:
    """Zero the residual projections (weights and biases): the block's output equals its input exactly."""
    with torch.no_grad():
        for proj in (block.attn.out, block.mlp.down):
            proj.weight.zero_()
            proj.bias.zero_()


def _snapshot(model: GPT) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


# -- the model's head width ------------------------------------------------------------------------------------------
def test_d_head_sets_the_attention_inner_width():
    default = GPT(CONFIG)
    assert default.blocks[0].attn.qkv.weight.shape == (3 * 32, 32)  # d_head None: today's shapes
    assert default.blocks[0].attn.out.weight.shape == (32, 32)
    narrow = GPT(replace(CONFIG, n_head=3, d_head=8))
    assert narrow.blocks[0].attn.qkv.weight.shape == (3 * 3 * 8, 32)
    assert narrow.blocks[0].attn.out.weight.shape == (32, 3 * 8)
    assert narrow(_tokens()).shape == (4, 16, 64)
    with pytest.raises(ValueError, match="d_head"):
        GPTConfig(d_head=0)


# -- depth -----------------------------------------------------------------------------------------------------------
def test_depth_pruning_removes_exactly_the_identity_blocks_and_keeps_the_function():
    model = _model()
    for index in (1, 4):
        _make_identity(model.blocks[index])
    tokens = _tokens()
    similarity = block_similarities(model, tokens)
    assert similarity[1] == pytest.approx(1.0) and similarity[4] == pytest.approx(1.0)
    assert max(similarity[i] for i in (0, 2, 3, 5)) < 0.999

    before = _snapshot(model)
    pruned, ratio, report = prune_depth(model, tokens, n_remove=2)
    assert report["removed_blocks"] == [1, 4] and report["kept_blocks"] == [0, 2, 3, 5]
    assert pruned.config.n_layer == 4 and len(pruned.blocks) == 4
    assert ratio == pytest.approx(2 / 6)
    with torch.no_grad():
        assert torch.equal(pruned(tokens), model(tokens))  # identity blocks contributed exactly nothing
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())  # input untouched


def test_depth_pruning_ranks_blocks_by_how_little_they_change_the_hidden_state():
    model = _model()
    scales = [1.0, 0.01, 1.0, 0.05, 1.0, 0.2]  # a small residual update = a redundant block
    with torch.no_grad():
        for block, scale in zip(model.blocks, scales):
            for proj in (block.attn.out, block.mlp.down):
                proj.weight.mul_(20 * scale)
    similarity = block_similarities(model, _tokens())
    assert sorted(range(6), key=lambda i: -similarity[i])[:3] == [1, 3, 5]
    pruned, _, report = prune_depth(model, _tokens(), n_remove=3)
    assert report["removed_blocks"] == [1, 3, 5] and pruned.config.n_layer == 3
    for new_index, old_index in enumerate(report["kept_blocks"]):  # kept blocks are copied in order
        new, old = pruned.blocks[new_index].state_dict(), model.blocks[old_index].state_dict()
        assert all(torch.equal(new[name], old[name]) for name in old)


# -- width -----------------------------------------------------------------------------------------------------------
def test_width_pruning_keeping_everything_reproduces_the_logits_exactly():
    model, tokens = _model(), _tokens()
    pruned, ratio, _ = prune_width(model, tokens, keep_heads=CONFIG.n_head, keep_mlp=CONFIG.d_mlp)
    assert pruned.config == CONFIG and ratio == 0.0
    with torch.no_grad():
        assert torch.equal(pruned(tokens), model(tokens))


def test_width_pruning_keeps_shapes_consistent_and_the_model_trains():
    model, tokens = _model(), _tokens()
    before = _snapshot(model)
    pruned, ratio, report = prune_width(model, tokens, keep_heads=2, keep_mlp=40)
    config = pruned.config
    assert (config.n_head, config.head_dim, config.d_mlp, config.d_model) == (2, 8, 40, 32)
    for block in pruned.blocks:
        assert block.attn.qkv.weight.shape == (3 * 2 * 8, 32) and block.attn.qkv.bias.shape == (3 * 2 * 8,)
        assert block.attn.out.weight.shape == (32, 2 * 8) and block.attn.out.bias.shape == (32,)
        assert block.mlp.up.weight.shape == (40, 32) and block.mlp.up.bias.shape == (40,)
        assert block.mlp.down.weight.shape == (32, 40)
    assert len(report["kept_heads"]) == CONFIG.n_layer and all(len(h) == 2 for h in report["kept_heads"])
    GPT(config).load_state_dict(pruned.state_dict())  # one GPTConfig describes the pruned model
    pruned.train()
    _, loss = pruned(tokens, tokens)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in pruned.parameters())
    per_block = 4 * 32 * 8 * 2 + 2 * 32 * 40
    assert ratio == pytest.approx(1 - per_block / (4 * 32 * 32 + 2 * 32 * 64))
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


def test_width_pruning_removes_dead_heads_and_channels_by_activation_importance():
    """A head whose value projection is zero outputs nothing; an MLP channel whose up row is zero gives GELU(0) = 0.
    Importance must drop exactly those, each block its own, and the function must not change."""
    model, tokens = _model(), _tokens()
    d, d_head = CONFIG.d_model, CONFIG.d_model // CONFIG.n_head
    dead_heads = {block: block % CONFIG.n_head for block in range(CONFIG.n_layer)}
    dead_channels = {block: [3 * block, 3 * block + 10] for block in range(CONFIG.n_layer)}
    with torch.no_grad():
        for block, head in dead_heads.items():
            v_rows = slice(2 * d + head * d_head, 2 * d + (head + 1) * d_head)  # this head's v in qkv
            model.blocks[block].attn.qkv.weight[v_rows] = 0
            model.blocks[block].attn.qkv.bias[v_rows] = 0
            model.blocks[block].mlp.up.weight[dead_channels[block]] = 0
            model.blocks[block].mlp.up.bias[dead_channels[block]] = 0
    pruned, _, report = prune_width(model, tokens, keep_heads=3, keep_mlp=CONFIG.d_mlp - 2)
    for block in range(CONFIG.n_layer):
        assert report["kept_heads"][block] == [h for h in range(4) if h != dead_heads[block]]
        assert report["kept_mlp_channels"][block] == [c for c in range(CONFIG.d_mlp) if c not in dead_channels[block]]
    with torch.no_grad():
        torch.testing.assert_close(pruned(tokens), model(tokens), rtol=1e-5, atol=1e-5)


# -- 2:4 -------------------------------------------------------------------------------------------------------------
def test_two_four_masks_keep_exactly_the_two_largest_of_every_four():
    model = _model()
    masks = semi_structured_masks(model)
    assert set(masks) == {f"blocks.{i}.{name}.weight" for i in range(CONFIG.n_layer)
                          for name in ("attn.qkv", "attn.out", "mlp.up", "mlp.down")}
    weights = dict(model.named_parameters())
    for name, keep in masks.items():
        assert keep.shape == weights[name].shape and keep.dtype == torch.bool
        groups = keep.reshape(-1, 4)
        assert torch.equal(groups.sum(dim=1), torch.full((groups.shape[0],), 2))
        magnitude = weights[name].detach().abs().reshape(-1, 4)
        kept_min = magnitude.masked_fill(~groups, float("inf")).min(dim=1).values
        dropped_max = magnitude.masked_fill(groups, -1.0).max(dim=1).values
        assert (kept_min >= dropped_max).all()


def test_two_four_groups_run_along_the_input_dimension():
    weight = torch.tensor([[1.0, -5.0, 2.0, 0.5, 9.0, 8.0, -7.0, 0.0]])
    assert two_four_mask(weight).tolist() == [[False, True, True, False, True, True, False, False]]
    with pytest.raises(ValueError, match="divisible by 4"):
        two_four_mask(torch.ones(4, 6))


def test_apply_2_4_zeroes_half_the_block_weights_and_nothing_else():
    model = _model()
    before = _snapshot(model)
    masks = apply_2_4(model)
    for name, tensor in model.state_dict().items():
        if name in masks:
            assert torch.equal(torch.count_nonzero(tensor.reshape(-1, 4), dim=1), torch.full((tensor.numel() // 4,), 2))
            assert torch.equal(tensor, torch.where(masks[name], before[name], 0.0))
        else:  # embeddings, LM head, norms, biases
            assert torch.equal(tensor, before[name]), name
    assert count_block_linear(model, masks) * 2 == count_block_linear(model)
    assert pruning_ratio(GPT(CONFIG), model, masks) == 0.5


def test_structured_prune_2_4_returns_a_masked_copy_at_ratio_one_half():
    model = _model()
    before = _snapshot(model)
    pruned, ratio, report = structured_prune(model, None, "2:4")
    assert ratio == 0.5 and set(report["masks"]) == set(semi_structured_masks(model))
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    with pytest.raises(ValueError, match="ratio 0.5"):
        structured_prune(model, None, "2:4", ratio=0.3)


# -- ratio bookkeeping -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target, removed", [(0.15, 1), (0.25, 2), (0.35, 2), (0.0, 0)])
def test_depth_ratio_is_the_nearest_whole_number_of_blocks(target, removed):
    model = _model()
    pruned, ratio, report = structured_prune(model, _tokens(), "depth", target)
    assert len(report["removed_blocks"]) == removed == round(target * 6)
    assert ratio == pytest.approx(removed / 6) == pytest.approx(pruning_ratio(model, pruned))
    assert report["target_ratio"] == target


@pytest.mark.parametrize("target", [0.15, 0.25, 0.35])
def test_width_ratio_is_within_one_mlp_channel_of_the_target(target):
    model = _model()
    keep_heads, keep_mlp = width_counts_for_ratio(CONFIG, target)
    assert keep_heads == round((1 - target) * CONFIG.n_head)
    pruned, ratio, _ = structured_prune(model, _tokens(), "width", target)
    per_block = 4 * 32 * 32 + 2 * 32 * 64
    assert abs(ratio - target) <= (2 * 32) / per_block / 2 + 1e-12  # half a channel
    counted = 1 - sum(p.numel() for n, p in pruned.named_parameters()
                      if n.startswith("blocks.") and n.endswith("weight") and p.dim() == 2) / (6 * per_block)
    assert ratio == pytest.approx(counted)
    assert (pruned.config.n_head, pruned.config.d_mlp) == (keep_heads, keep_mlp)


def test_bad_arguments_are_named():
    model, tokens = _model(), _tokens()
    with pytest.raises(ValueError, match="method"):
        structured_prune(model, tokens, "unstructured", 0.2)
    with pytest.raises(ValueError, match="ratio"):
        structured_prune(model, tokens, "depth", 1.0)
    with pytest.raises(ValueError, match="n_remove"):
        prune_depth(model, tokens, n_remove=6)
    with pytest.raises(ValueError, match="keep_heads"):
        prune_width(model, tokens, keep_heads=0, keep_mlp=8)
    with pytest.raises(ValueError, match="calibration_tokens"):
        prune_depth(model, tokens.float(), n_remove=1)


# -- edges that mutation testing found unchecked (docs/testing.md) --------------------------------------------------
def test_block_similarity_is_the_mean_cosine_over_the_model_dimension():
    model, tokens = _model(), _tokens()
    seen = {}
    handles = [block.register_forward_hook(lambda _m, inputs, output, i=i: seen.__setitem__(i, (inputs[0], output)))
               for i, block in enumerate(model.blocks)]
    with torch.no_grad():
        model(tokens)
    for handle in handles:
        handle.remove()
    similarity = block_similarities(model, tokens)
    for index, (x, y) in seen.items():  # (B, T, D) each: cos = x·y / (|x| |y|) per token, then the mean
        cosine = (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))
        assert similarity[index] == pytest.approx(float(cosine.mean()), abs=1e-6)


def test_depth_pruning_keeps_the_dtype_and_reports_what_it_did():
    model = _model().double()
    _make_identity(model.blocks[2])
    pruned, _, report = prune_depth(model, _tokens(), n_remove=1)
    assert all(p.dtype == torch.float64 for p in pruned.parameters())
    assert set(report) == {"method", "removed_blocks", "kept_blocks", "similarity"}
    assert (report["method"], report["removed_blocks"], report["kept_blocks"]) == ("depth", [2], [0, 1, 3, 4, 5])
    assert len(report["similarity"]) == 6 and report["similarity"][2] == pytest.approx(1.0, abs=1e-12)


def test_width_pruning_with_heads_narrower_than_d_model_over_n_head():
    # d_head 4: attention is 4·4 = 16 wide in a d_model of 32, so the out projection is (32, 16), not square
    config = replace(CONFIG, d_head=4)
    model, tokens = _model(config), _tokens(config)
    pruned, _, _ = prune_width(model, tokens, keep_heads=4, keep_mlp=64)
    with torch.no_grad():
        assert torch.equal(pruned(tokens), model(tokens))
    pruned, ratio, report = prune_width(model, tokens, keep_heads=2, keep_mlp=64)
    assert pruned.blocks[0].attn.out.weight.shape == (32, 8) and pruned.blocks[0].attn.qkv.weight.shape == (24, 32)
    out = model.blocks[0].attn.out.weight.view(32, 4, 4)[:, report["kept_heads"][0]].reshape(32, 8)
    assert torch.equal(pruned.blocks[0].attn.out.weight, out)
    assert ratio == pytest.approx(1 - (4 * 32 * 4 * 2 + 2 * 32 * 64) / (4 * 32 * 4 * 4 + 2 * 32 * 64))


def test_width_pruning_down_to_one_head_and_one_channel():
    model, tokens = _model(), _tokens()
    pruned, _, report = prune_width(model, tokens, keep_heads=1, keep_mlp=1)
    assert (pruned.config.n_head, pruned.config.d_mlp) == (1, 1)
    assert set(report) == {"method", "keep_heads", "keep_mlp", "kept_heads", "kept_mlp_channels"}
    assert (report["method"], report["keep_heads"], report["keep_mlp"]) == ("width", 1, 1)
    with pytest.raises(ValueError, match=r"keep_mlp must be in \[1, d_mlp = 64\], got 0"):
        prune_width(model, tokens, keep_heads=1, keep_mlp=0)


def test_counts_for_ratios_at_the_ends():
    # CONFIG per block: a head holds 4·32·8 = 1024 weights, an MLP channel 2·32 = 64; 4 heads + 64 channels = 8192
    assert depth_count_for_ratio(CONFIG, 0.99) == 5  # round(5.94) = 6, capped at n_layer - 1
    assert width_counts_for_ratio(CONFIG, 0.0) == (4, 64)
    # ρ 0.9: round(0.4) = 0 heads → at least 1; 0.9·8192 - 3·1024 = 4300.8 → 67 channels, capped at 63: keep 1
    assert width_counts_for_ratio(CONFIG, 0.9) == (1, 1)


def test_structured_prune_2_4_accepts_ratio_one_half_and_returns_the_masked_model():
    model = _model()
    pruned, ratio, report = structured_prune(model, None, "2:4", ratio=0.5)
    assert ratio == 0.5 and report["method"] == "2:4"
    qkv = pruned.blocks[0].attn.qkv.weight
    assert torch.equal(qkv != 0, report["masks"]["blocks.0.attn.qkv.weight"])
    assert int((qkv == 0).sum()) == qkv.numel() // 2


def test_depth_and_width_pruning_need_calibration_tokens():
    for method in ("depth", "width"):
        with pytest.raises(ValueError, match=f"^{method} pruning needs calibration_tokens$"):
            structured_prune(_model(), None, method, 0.2)
