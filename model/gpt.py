"""A readable decoder-only GPT (nanoGPT style): pre-norm blocks, causal attention through
`scaled_dot_product_attention`, a GELU MLP and an untied LM head that is a plain `nn.Linear`.

Every `nn.Linear` here (attention qkv/out, MLP in/out, LM head) is a prunable kernel; embeddings, norms and biases
are not. This file imports torch only.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.presets import PRESETS, GPTConfig, preset  # noqa: F401  (the stable names model.gpt.*)


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
