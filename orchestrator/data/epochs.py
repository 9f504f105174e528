"""How many passes over the training split a number of seen tokens amounts to."""
from __future__ import annotations


def epochs_for(total_tokens_seen: int, n_train_tokens: int) -> float:
    """Epochs = tokens seen / tokens in the training split (windows are sampled, so this is an average)."""
    if n_train_tokens <= 0:
        raise ValueError(f"n_train_tokens must be positive, got {n_train_tokens}")
    return total_tokens_seen / n_train_tokens
