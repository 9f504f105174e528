"""A readable decoder-only GPT (nanoGPT style): pre-norm blocks, causal attention through
`scaled_dot_product_attention`, a GELU MLP and an untied LM head that is a plain `nn.Linear`.

Every `nn.Linear` here (attention qkv/out, MLP in/out, LM head) is a prunable kernel; embeddings, norms and biases
are not. This file imports torch only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention of inner width A = n_head · head_dim (A = D unless heads were pruned)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.d_head = config.n_head, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_attn, bias=config.bias)
        self.out = nn.Linear(config.d_attn, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        d_attn = self.n_head * self.d_head
        q, k, v = self.qkv(x).split(d_attn, dim=2)  # 3 × (B, T, A)
        heads = lambda t: t.view(batch, seq, self.n_head, self.d_head).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)  # (B, H, T, A/H)
        y = y.transpose(1, 2).contiguous().view(batch, seq, d_attn)  # (B, T, A)
        return self.out(y)  # (B, T, D)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_mlp, bias=config.bias)
        self.down = nn.Linear(config.d_mlp, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))  # (B, T, D) → (B, T, d_mlp) → (B, T, D)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.norm_mlp = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.mlp(self.norm_mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_seq_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm_final = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)  # untied
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2·n_layer).
        for block in self.blocks:
            for proj in (block.attn.out, block.mlp.down):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx (B, T) token ids → logits (B, T, V); with targets (B, T), also the mean cross-entropy."""
        seq = idx.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence length {seq} exceeds max_seq_len {self.config.max_seq_len}")
        positions = torch.arange(seq, device=idx.device)
        x = self.token_embedding(idx) + self.position_embedding(positions)  # (B, T, D)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm_final(x))  # (B, T, V)
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))
        return logits, loss

    def count_parameters(self) -> dict[str, int]:
        """Total parameters and those in linear kernels (the prunable ones)."""
        linear = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        total = sum(p.numel() for p in self.parameters())
        return {"total": total, "linear": linear}
