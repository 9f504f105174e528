"""The GPT's shape (`GPTConfig`) and its named presets, without torch: a reader of results (the report) looks a
preset's shape up here without importing the model. `model.gpt` re-exports all three names."""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 256
    max_seq_len: int = 128  # the longest context the position embedding holds
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 64
    d_mlp: int = 256
    bias: bool = True
    d_head: int | None = None  # width of one attention head; None → d_model // n_head (set by head pruning)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_seq_len", "n_layer", "n_head", "d_model", "d_mlp"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.d_head is not None and (not isinstance(self.d_head, int) or self.d_head < 1):
            raise ValueError(f"GPTConfig.d_head must be a positive integer or None, got {self.d_head!r}")
        if self.d_head is None and self.d_model % self.n_head != 0:
            raise ValueError(
                f"GPTConfig.d_model ({self.d_model}) must be divisible by n_head ({self.n_head})"
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_head if self.d_head is not None else self.d_model // self.n_head

    @property
    def d_attn(self) -> int:
        """Inner width of attention (n_head · head_dim); equals d_model unless heads were pruned."""
        return self.n_head * self.head_dim


# CPU presets (byte-level vocab) for tests and laptops, then the paper's shapes (vocab 32k) for GPUs.
PRESETS: dict[str, GPTConfig] = {
    "pico": GPTConfig(vocab_size=256, max_seq_len=128, n_layer=4, n_head=4, d_model=32, d_mlp=128),
    "nano": GPTConfig(vocab_size=256, max_seq_len=128, n_layer=4, n_head=4, d_model=48, d_mlp=192),
    "micro": GPTConfig(vocab_size=256, max_seq_len=128, n_layer=4, n_head=4, d_model=64, d_mlp=256),
    "mini": GPTConfig(vocab_size=256, max_seq_len=128, n_layer=4, n_head=4, d_model=96, d_mlp=384),
    "tiny": GPTConfig(vocab_size=256, max_seq_len=256, n_layer=4, n_head=4, d_model=128, d_mlp=512),
    "small": GPTConfig(vocab_size=256, max_seq_len=256, n_layer=6, n_head=8, d_model=256, d_mlp=1024),
    "gpt58m": GPTConfig(vocab_size=32000, max_seq_len=1024, n_layer=6, n_head=8, d_model=512, d_mlp=2048),
    "gpt160m": GPTConfig(vocab_size=32000, max_seq_len=1024, n_layer=12, n_head=12, d_model=768, d_mlp=3072),
    "gpt468m": GPTConfig(vocab_size=32000, max_seq_len=2048, n_layer=24, n_head=16, d_model=1024, d_mlp=4096),
    "gpt1b": GPTConfig(vocab_size=32000, max_seq_len=2048, n_layer=20, n_head=16, d_model=2048, d_mlp=8192),
}


def preset(name: str, **overrides) -> GPTConfig:
    """The named preset, with fields replaced by `overrides` (e.g. vocab_size)."""
    if name not in PRESETS:
        raise ValueError(f"model.preset must be one of {sorted(PRESETS)}, got {name!r}")
    return replace(PRESETS[name], **overrides)
