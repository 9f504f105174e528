"""A preset's size and FLOP arithmetic, from its shape alone: the prunable linear parameters, the attention scores'
FLOPs per token (never pruned) and their share of a dense step, and the share of the linear parameters that
pruning=static masks. The budget (orchestrator/config.py), the planner's fixed costs (orchestrator/cell/run.py) and
the report's true FLOPs (orchestrator/study/flops.py) all count from here."""
from __future__ import annotations

from model.presets import PRESETS


def linear_params(preset_name: str, vocab_size: int | None = None) -> int:
    """Linear-kernel (prunable) parameters of a dense preset, counted from its shape (the LM head with `vocab_size`
    rows, the preset's own by default)."""
    c = PRESETS[preset_name]
    vocab = c.vocab_size if vocab_size is None else vocab_size
    return c.n_layer * (4 * c.d_model * c.d_model + 2 * c.d_model * c.d_mlp) + c.d_model * vocab


def attention_flops_per_token(preset_name: str, context: int) -> int:
    """Attention-score FLOPs per token, forward and backward, as Kaplan et al. (2020) count them: 2·n_layer·context·
    d_model forward (QKᵀ and the weighted sum of V over the full context), ×3 with the backward. Never pruned."""
    c = PRESETS[preset_name]
    return 6 * c.n_layer * context * c.d_model


def attention_share(preset_name: str, vocab_size: int | None, context: int) -> float:
    """q: the attention scores' share of a dense step's FLOPs, attention ÷ (6·linear_params + attention)."""
    attention = attention_flops_per_token(preset_name, context)
    return attention / (6 * linear_params(preset_name, vocab_size) + attention)


def static_masked_fraction(preset_name: str, vocab_size: int | None = None) -> float:
    """The share of a preset's linear parameters that pruning=static masks: the blocks' (the LM head, of
    `vocab_size` rows, stays dense)."""
    c = PRESETS[preset_name]
    vocab = c.vocab_size if vocab_size is None else vocab_size
    return 1.0 - c.d_model * vocab / linear_params(preset_name, vocab)
