"""A cell's true training FLOPs (attention scores included) beside the budget the planner counts.

The planner (budget.compute=linear, the paper's definition) counts 6 FLOPs per nonzero prunable weight per token.
Attention scores add 6 · n_layer · context · d_model per token (Kaplan et al. 2020), the same at every density, so
a sparse cell spends more real FLOPs than its linear budget says. result.json carries `total_flops` since it was
added; older records get it from the preset (at its default context, the only one they could run with).
"""
from __future__ import annotations

from model.presets import PRESETS
from orchestrator.model_size import attention_flops_per_token


def _attention_per_token(cell: dict) -> float | None:
    if isinstance(cell.get("attention_flops"), (int, float)) and cell.get("tokens"):
        return float(cell["attention_flops"]) / float(cell["tokens"])
    preset = cell["cell"].get("model")
    if preset not in PRESETS:
        return None
    return float(attention_flops_per_token(preset, PRESETS[preset].max_seq_len))


def true_flops(cell: dict) -> float | None:
    """Linear (density-weighted) plus attention FLOPs of the cell's pre-training; None without the fields."""
    if isinstance(cell.get("total_flops"), (int, float)):
        return float(cell["total_flops"])
    attention = _attention_per_token(cell)
    if attention is None or not isinstance(cell.get("pretrain_flops"), (int, float)) or not cell.get("tokens"):
        return None
    return float(cell["pretrain_flops"]) + attention * float(cell["tokens"])


def true_compute_ratio(cell: dict) -> float | None:
    """true_flops ÷ the true FLOPs of a dense run of C steps of the same model and batch: 1 for a dense cell, more
    for a sparse cell planned on the linear weights. None without the fields."""
    total, attention = true_flops(cell), _attention_per_token(cell)
    steps, tokens, dense_steps = cell.get("steps"), cell.get("tokens"), cell["cell"].get("dense_steps")
    n_dense = cell.get("initial_params")
    if None in (total, attention) or not steps or not tokens or not dense_steps or not n_dense:
        return None
    dense = float(dense_steps) * (float(tokens) / float(steps)) * (6.0 * float(n_dense) + attention)
    return total / dense
