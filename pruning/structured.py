"""Structured pruning of a trained dense GPT before post-training (the P² study: Chen et al. 2024, "Scaling Law for
Post-training after Model Pruning", arXiv 2411.10272).

Three methods; depth and width return a NEW, smaller `GPT` (a new `GPTConfig`, weights copied), 2:4 returns a copy of
the same shape with zeros. The model passed in is never changed (except by `apply_2_4`, which works in place).
- depth (`prune_depth`): remove the blocks whose output hidden state is most cosine-similar to their input on a
  calibration batch (ShortGPT's Block Influence: Men et al. 2024, "ShortGPT: Layers in Large Language Models are
  More Redundant Than You Expect", arXiv 2403.03853).
- width (`prune_width`): keep the attention heads and MLP channels of largest activation importance on a calibration
  batch, the same counts in every block, each block choosing its own (Minitron: Muralidharan et al. 2024, "Compact
  Language Models via Pruning and Knowledge Distillation", arXiv 2407.14679).
- 2:4 (`semi_structured_masks`, `apply_2_4`): in every group of 4 consecutive weights along the input dimension keep
  the 2 of largest magnitude (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", arXiv 2104.08378).

Pruning ratio ρ (`pruning_ratio`): the fraction of the block linear weight entries removed,
    ρ = 1 − N_block(after) / N_block(before),
where N_block counts the entries of the weights of attention qkv and out and MLP up and down in all blocks that are
kept: in the shapes (depth and width drop entries) and in the masks, if any (2:4 masks entries to zero). It is
counted from shapes and masks, not from values, so weights that happen to be zero (or an already sparse input)
change nothing. Embeddings, the LM head, norms and biases are not counted (no method here prunes them). Depth pruning
by k of L blocks gives ρ = k/L; 2:4 gives ρ = 1/2. Imports torch and model/ only.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.gpt import GPT, GPTConfig

BLOCK_LINEARS = ("attn.qkv", "attn.out", "mlp.up", "mlp.down")
METHODS = ("depth", "width", "2:4")


class PruneResult(NamedTuple):
    model: GPT  # the pruned model (new; the input is untouched)
    ratio: float  # achieved ρ, see the module docstring
    report: dict  # what was removed


# -- accounting ------------------------------------------------------------------------------------------------------
def block_linear_weights(model: GPT) -> dict[str, nn.Parameter]:
    """The weights of the block linears (attention qkv/out, MLP up/down), named as in named_parameters."""
    return {f"blocks.{index}.{name}.weight": block.get_submodule(name).weight
            for index, block in enumerate(model.blocks) for name in BLOCK_LINEARS}


def count_block_linear(model: GPT, masks: dict[str, torch.Tensor] | None = None) -> int:
    """N_block: entries of the block linear weights, minus those masked out by `masks` (name → bool keep)."""
    masks = masks or {}
    return sum(int(masks[name].sum()) if name in masks else weight.numel()
               for name, weight in block_linear_weights(model).items())


def pruning_ratio(before: GPT, after: GPT, masks: dict[str, torch.Tensor] | None = None) -> float:
    """ρ = 1 − N_block(after, masks) / N_block(before)."""
    return 1.0 - count_block_linear(after, masks) / count_block_linear(before)


# -- calibration -----------------------------------------------------------------------------------------------------
def _run_with_hooks(model: GPT, tokens: torch.Tensor, hooks: list) -> None:
    """One no-grad, eval-mode forward of `tokens` (B, T) with (module, kind, fn) hooks; kind is "pre" or "post"."""
    if tokens.dim() != 2 or tokens.dtype != torch.long:
        raise ValueError(f"calibration_tokens must be a (batch, seq) long tensor, got {tuple(tokens.shape)} "
                         f"{tokens.dtype}")
    handles = [module.register_forward_pre_hook(fn) if kind == "pre" else module.register_forward_hook(fn)
               for module, kind, fn in hooks]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(tokens.to(next(model.parameters()).device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()


def block_similarities(model: GPT, calibration_tokens: torch.Tensor) -> list[float]:
    """Per block, the mean over tokens of cos(input hidden state, output hidden state); 1 = the block does nothing."""
    similarities: list[float] = [0.0] * len(model.blocks)

    def record(index: int):
        def hook(_module, inputs, output):
            cosine = F.cosine_similarity(inputs[0].float(), output.float(), dim=-1)  # (B, T)
            similarities[index] = float(cosine.mean())
        return hook

    _run_with_hooks(model, calibration_tokens,
                    [(block, "post", record(index)) for index, block in enumerate(model.blocks)])
    return similarities


def width_importance(model: GPT, calibration_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minitron activation importance: heads (n_layer, n_head) = mean over tokens of the L2 norm of each head's
    attention output (the input of `attn.out`); MLP channels (n_layer, d_mlp) = mean |GELU(mlp.up(x))|."""
    config = model.config
    heads = torch.zeros(config.n_layer, config.n_head)
    channels = torch.zeros(config.n_layer, config.d_mlp)

    def record_heads(index: int):
        def hook(_module, inputs):
            y = inputs[0].float()  # (B, T, H·Dh)
            per_head = y.view(*y.shape[:2], config.n_head, config.head_dim).norm(dim=-1)  # (B, T, H)
            heads[index] = per_head.mean(dim=(0, 1)).cpu()
        return hook

    def record_channels(index: int):
        def hook(_module, inputs):
            channels[index] = inputs[0].float().abs().mean(dim=(0, 1)).cpu()  # (B, T, d_mlp) → (d_mlp,)
        return hook

    hooks = []
    for index, block in enumerate(model.blocks):
        hooks += [(block.attn.out, "pre", record_heads(index)), (block.mlp.down, "pre", record_channels(index))]
    _run_with_hooks(model, calibration_tokens, hooks)
    return heads, channels


def _rebuilt(model: GPT, config: GPTConfig, state: dict[str, torch.Tensor]) -> GPT:
    """A new GPT of `config` on the model's device and dtype, holding copies of `state`."""
    weight = next(model.parameters())
    with torch.device(weight.device):
        pruned = GPT(config).to(dtype=weight.dtype)
    pruned.load_state_dict(state)  # copies: the new model shares no storage with the old one
    return pruned.train(model.training)


# -- depth -----------------------------------------------------------------------------------------------------------
def prune_depth(model: GPT, calibration_tokens: torch.Tensor, n_remove: int) -> PruneResult:
    """Remove the `n_remove` blocks of highest input/output cosine similarity (ShortGPT, Men et al. 2024: Block
    Influence BI_i = 1 − E_tokens cos(x_i, x_{i+1}); the blocks of lowest BI are the most redundant), in one shot."""
    n_layer = model.config.n_layer
    if not 0 <= n_remove < n_layer:
        raise ValueError(f"n_remove must be in [0, n_layer) = [0, {n_layer}), got {n_remove}")
    similarity = block_similarities(model, calibration_tokens)
    by_redundancy = sorted(range(n_layer), key=lambda index: -similarity[index])
    removed = sorted(by_redundancy[:n_remove])
    kept = [index for index in range(n_layer) if index not in removed]
    state = {}
    for name, tensor in model.state_dict().items():
        if not name.startswith("blocks."):
            state[name] = tensor
            continue
        _, old_index, rest = name.split(".", 2)
        if int(old_index) in kept:
            state[f"blocks.{kept.index(int(old_index))}.{rest}"] = tensor
    pruned = _rebuilt(model, replace(model.config, n_layer=len(kept)), state)
    report = {"method": "depth", "removed_blocks": removed, "kept_blocks": kept, "similarity": similarity}
    return PruneResult(pruned, pruning_ratio(model, pruned), report)


# -- width -----------------------------------------------------------------------------------------------------------
def _slice_block(state: dict, prefix: str, heads: torch.Tensor, channels: torch.Tensor, config: GPTConfig) -> None:
    """Keep heads `heads` and MLP channels `channels` of block `prefix` in `state` (qkv rows, out columns, up rows,
    down columns, and the matching biases)."""
    n_head, d_head = config.n_head, config.head_dim
    qkv = state[prefix + "attn.qkv.weight"]  # (3·H·Dh, D)
    state[prefix + "attn.qkv.weight"] = qkv.view(3, n_head, d_head, -1)[:, heads].reshape(-1, qkv.shape[1])
    out = state[prefix + "attn.out.weight"]  # (D, H·Dh)
    state[prefix + "attn.out.weight"] = out.view(out.shape[0], n_head, d_head)[:, heads].reshape(out.shape[0], -1)
    state[prefix + "mlp.up.weight"] = state[prefix + "mlp.up.weight"][channels]  # (d_mlp', D)
    state[prefix + "mlp.down.weight"] = state[prefix + "mlp.down.weight"][:, channels]  # (D, d_mlp')
    if config.bias:  # out and down biases live in d_model: unchanged
        qkv_bias = state[prefix + "attn.qkv.bias"]  # (3·H·Dh,)
        state[prefix + "attn.qkv.bias"] = qkv_bias.view(3, n_head, d_head)[:, heads].reshape(-1)
        state[prefix + "mlp.up.bias"] = state[prefix + "mlp.up.bias"][channels]


def prune_width(model: GPT, calibration_tokens: torch.Tensor, keep_heads: int, keep_mlp: int) -> PruneResult:
    """Keep the `keep_heads` most important heads and `keep_mlp` most important MLP channels in every block
    (Minitron, Muralidharan et al. 2024; importances from `width_importance`). Kept indices stay in their original
    order, so keeping everything reproduces the model exactly. Head width and d_model are unchanged."""
    config = model.config
    if not 1 <= keep_heads <= config.n_head:
        raise ValueError(f"keep_heads must be in [1, n_head = {config.n_head}], got {keep_heads}")
    if not 1 <= keep_mlp <= config.d_mlp:
        raise ValueError(f"keep_mlp must be in [1, d_mlp = {config.d_mlp}], got {keep_mlp}")
    head_importance, channel_importance = width_importance(model, calibration_tokens)
    device = next(model.parameters()).device
    state = dict(model.state_dict())
    kept_heads, kept_channels = [], []
    for index in range(config.n_layer):
        heads = head_importance[index].topk(keep_heads).indices.sort().values
        channels = channel_importance[index].topk(keep_mlp).indices.sort().values
        _slice_block(state, f"blocks.{index}.", heads.to(device), channels.to(device), config)
        kept_heads.append(heads.tolist())
        kept_channels.append(channels.tolist())
    d_head = config.d_head if keep_heads == config.n_head else config.head_dim
    pruned = _rebuilt(model, replace(config, n_head=keep_heads, d_head=d_head, d_mlp=keep_mlp), state)
    report = {"method": "width", "keep_heads": keep_heads, "keep_mlp": keep_mlp,
              "kept_heads": kept_heads, "kept_mlp_channels": kept_channels}
    return PruneResult(pruned, pruning_ratio(model, pruned), report)


# -- 2:4 semi-structured ---------------------------------------------------------------------------------------------
def two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Bool keep-mask of a (out, in) weight: in each group of 4 consecutive inputs, the 2 largest |w| are True."""
    out_features, in_features = weight.shape
    if in_features % 4 != 0:
        raise ValueError(f"2:4 needs in_features divisible by 4, got a weight of shape {tuple(weight.shape)}")
    groups = weight.detach().abs().reshape(out_features, in_features // 4, 4)  # (O, I/4, 4)
    top2 = groups.topk(2, dim=-1).indices  # (O, I/4, 2)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top2, True)
    return keep.reshape(out_features, in_features)  # (O, I)


def semi_structured_masks(model: GPT) -> dict[str, torch.Tensor]:
    """2:4 keep-masks of the block linear weights (never embeddings, LM head, norms or biases)."""
    return {name: two_four_mask(weight) for name, weight in block_linear_weights(model).items()}


def apply_2_4(model: GPT) -> dict[str, torch.Tensor]:
    """Zero the 2 smallest of every 4 block linear weights IN PLACE and return the masks (name → bool keep).

    Shapes are unchanged: the model stays dense-shaped with zeros, so it is no faster by itself. The speed-up needs
    the weights converted with `torch.sparse.to_sparse_semi_structured` on a CUDA GPU (fp16/bf16, Ampere or newer;
    see benchmarks/bench_semi_structured.py). Post-training must keep the masks (re-zero after every step).
    """
    masks = semi_structured_masks(model)
    weights = block_linear_weights(model)
    with torch.no_grad():
        for name, keep in masks.items():
            weight = weights[name].detach()
            torch.where(keep, weight, weight.new_zeros(()), out=weight)
    return masks


# -- from a target ratio ρ -------------------------------------------------------------------------------------------
def depth_count_for_ratio(config: GPTConfig, ratio: float) -> int:
    """Blocks to remove: round(ρ · n_layer), at most n_layer − 1 (every block holds the same weights)."""
    return min(round(ratio * config.n_layer), config.n_layer - 1)


def width_counts_for_ratio(config: GPTConfig, ratio: float) -> tuple[int, int]:
    """(keep_heads, keep_mlp) nearest to ρ: heads keep round((1 − ρ) · n_head) (at least 1); the MLP channels absorb
    the rest, so the achieved ρ is as close to the target as one channel allows. Per block, a head holds
    4 · d_model · head_dim weights (qkv 3, out 1) and an MLP channel 2 · d_model (up, down)."""
    per_head, per_channel = 4 * config.d_model * config.head_dim, 2 * config.d_model
    total = config.n_head * per_head + config.d_mlp * per_channel
    keep_heads = min(max(round((1 - ratio) * config.n_head), 1), config.n_head)
    left_to_remove = ratio * total - (config.n_head - keep_heads) * per_head
    remove_channels = min(max(round(left_to_remove / per_channel), 0), config.d_mlp - 1)
    return keep_heads, config.d_mlp - remove_channels


def structured_prune(model: GPT, calibration_tokens: torch.Tensor | None, method: str,
                     ratio: float | None = None) -> PruneResult:
    """Prune `model` by `method` ("depth", "width" or "2:4") to the achievable ρ nearest `ratio`.

    2:4 always removes half (ρ = 0.5; `ratio` must be None or 0.5) and needs no calibration batch; it returns a
    masked copy, with the masks in report["masks"]. The achieved ρ is PruneResult.ratio.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "2:4":
        if ratio is not None and abs(ratio - 0.5) > 1e-9:
            raise ValueError(f"2:4 pruning removes exactly half (ratio 0.5), got ratio={ratio}")
        pruned = copy.deepcopy(model)
        masks = apply_2_4(pruned)
        return PruneResult(pruned, pruning_ratio(model, pruned, masks), {"method": "2:4", "masks": masks})
    if ratio is None or not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1) for {method} pruning, got {ratio!r}")
    if calibration_tokens is None:
        raise ValueError(f"{method} pruning needs calibration_tokens")
    if method == "depth":
        result = prune_depth(model, calibration_tokens, depth_count_for_ratio(model.config, ratio))
    else:
        result = prune_width(model, calibration_tokens, *width_counts_for_ratio(model.config, ratio))
    result.report["target_ratio"] = ratio
    return result
