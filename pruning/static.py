"""Static sparsity for SPDF (Thangarasa et al., "SPDF: Sparse Pre-training and Dense Fine-tuning for Large
Language Models", UAI 2023): a random unstructured mask drawn once at initialisation, the same sparsity in every
masked weight, never changed during pre-training; fine-tuning then drops it and trains dense.

The mask covers the attention and MLP linear kernels of the blocks; embeddings, norms, biases and the LM head stay
dense (`static_masked_weights`). Its plan trains the dense run's tokens (T = C steps) at a lower compute: each step
costs the density of the prunable weights, 1 - s·f, f being the masked share of them (`plan_static`), or
q + (1 - q)(1 - s·f) when a share q of the dense compute is not prunable (pruning.plan.step_cost).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pruning.magnitude import GlobalMagnitudePruner, MaskTarget
from pruning.plan import Plan, check_fixed_cost, step_cost

STATIC = "static"
DENSE_KERNELS = ("lm_head",)  # prunable kernels the static mask leaves dense


def static_masked_weights(prunable: dict[str, nn.Parameter]) -> dict[str, nn.Parameter]:
    """The block linears of `prunable` (pruning.magnitude.prunable_weights): everything but the LM head."""
    return {name: p for name, p in prunable.items() if name.split(".")[0] not in DENSE_KERNELS}


def plan_static(*, sparsity: float, dense_steps: int, masked_fraction: float, fixed_cost: float = 0.0) -> Plan:
    """Equal tokens to the dense run (T = C) at density 1 - s·f from step 0; compute = T·(q + (1 - q)(1 - s·f)),
    q = `fixed_cost` (0: T·(1 - s·f))."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"pruning.sparsity must be in [0, 1), got {sparsity}")
    if not isinstance(dense_steps, int) or dense_steps < 1:
        raise ValueError(f"budget.dense_steps must be a positive integer, got {dense_steps!r}")
    if not 0.0 < masked_fraction <= 1.0:
        raise ValueError(f"masked_fraction must be in (0, 1], got {masked_fraction}")
    check_fixed_cost(fixed_cost)
    density = 1.0 - sparsity * masked_fraction
    return Plan(schedule=STATIC, sparsity=sparsity, start=0.0, end=0.0, every=1, dense_steps=dense_steps,
                t_start=0, t_end=0, n_events=1, total_steps=dense_steps, avg_density=density,
                window_density=1.0, compute=dense_steps * step_cost(density, fixed_cost))


class FixedMaskPruner(GlobalMagnitudePruner):
    """Masks given up front, applied by the one event at step 0 and held for good: the magnitude pruner's gradient
    hooks, re-applied masks, optimizer-state zeroing and checkpoints, without its schedule. (2:4 post-training.)"""

    def __init__(self, weights: dict[str, nn.Parameter], masks: dict[str, torch.Tensor], *,
                 target: MaskTarget | None = None) -> None:
        if set(masks) != set(weights):
            raise ValueError(f"masks {sorted(masks)} do not match the weights {sorted(weights)}")
        pruned = sum(int((~mask).sum()) for mask in masks.values())
        super().__init__(weights, schedule="one_shot", sparsity=pruned / sum(m.numel() for m in masks.values()),
                         t_start=0, t_end=0, every=1, target=target)
        self._fixed = {name: mask.to(device=weights[name].device, dtype=torch.bool) for name, mask in masks.items()}

    def update(self, step: int) -> bool:
        if step != 0 or self.last_event_step is not None:
            return False
        in_weight_order = {name: self._fixed[name] for name in self._weights}  # the same order on every rank
        self._install(step, in_weight_order, n_nonzero=sum(int(mask.sum()) for mask in self._fixed.values()))
        return True


def random_masks(weights: dict[str, nn.Parameter], sparsity: float, seed: int) -> dict[str, torch.Tensor]:
    """In every weight, round(s·numel) entries drawn uniformly at random (seeded: the same on every rank)."""
    generator, masks = torch.Generator().manual_seed(int(seed)), {}
    for name, weight in weights.items():
        keep = torch.ones(weight.numel(), dtype=torch.bool)
        keep[torch.randperm(weight.numel(), generator=generator)[:round(sparsity * weight.numel())]] = False
        masks[name] = keep.view(weight.shape)
    return masks


class StaticRandomPruner(FixedMaskPruner):
    """SPDF's mask: `random_masks(weights, sparsity, seed)`, in force from step 0 for all of pre-training."""

    def __init__(self, weights: dict[str, nn.Parameter], *, sparsity: float, seed: int,
                 target: MaskTarget | None = None) -> None:
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        super().__init__(weights, random_masks(weights, sparsity, seed), target=target)
        self.seed = int(seed)

    def state_dict(self) -> dict:
        return super().state_dict() | {"seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed") != self.seed:
            raise ValueError(f"pruner state has seed={state.get('seed')!r}, this pruner has {self.seed!r}")
        super().load_state_dict(state)
