"""Gradual global magnitude pruning (Journey Matters, ICLR 2025) with a small torch.ao-like surface.

Every `nn.Linear` kernel is prunable (all block linears and the untied LM head); embeddings, norms and biases never
are. At each event of the schedule ONE global threshold across all prunable weights keeps the
round(kept_fraction · N_total) largest magnitudes (`pruning.threshold.select_prune_masks`). Masks only shrink.

A pruned weight stays exactly 0 under AdamW (weight decay, momentum) because of three mechanisms:
- gradient hooks zero its gradient before it reaches any optimizer or all-reduce;
- at each event the `MaskTarget` zeroes the weight and its optimizer state (exp_avg, exp_avg_sq, ...), so momentum
  accumulated before the prune cannot move it (with zero gradient and zero state, AdamW's update 0/(√0 + eps) and
  its decoupled weight decay of a zero weight are both 0);
- `apply_masks()` after every optimizer step re-zeroes it, whatever the optimizer (or a master copy) did.

Masks are bool tensors on the weights' devices (1 byte per weight). They are applied with
`torch.where(keep, w, zero, out=w)` (zero: a 0-dim tensor), which allocates nothing; `w.mul_(keep)` would first
cast the mask to the weight's dtype (4 extra bytes per weight for fp32).
"""
from __future__ import annotations

import functools
from typing import Protocol

import torch
import torch.nn as nn

from pruning.schedules import SCHEDULES, count_events, kept_fraction
from pruning.threshold import select_prune_masks


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The `.weight` of every nn.Linear (names as in named_parameters); never embeddings, norms or biases.

    A Linear weight tied to an Embedding (a tied LM head) counts as an embedding and is left out.
    """
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    embedding_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return {
        name: param for name, param in model.named_parameters()
        if id(param) in linear_weights and id(param) not in embedding_weights
    }


class MaskTarget(Protocol):
    """How new masks reach the weights and the optimizer (DeepSpeed provides its own in orchestrator/)."""

    def zero_pruned(self, name: str, param: nn.Parameter, keep: torch.Tensor) -> None:
        """Set the pruned entries (keep == False) of the weight, any master copy and its optimizer state to 0."""


class TorchOptimizerTarget(MaskTarget):
    """A plain torch module with a torch optimizer: zeroes the weight and every state tensor shaped like it."""

    def __init__(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        self.optimizer = optimizer

    def zero_pruned(self, name: str, param: nn.Parameter, keep: torch.Tensor) -> None:
        with torch.no_grad():
            weight = param.detach()
            torch.where(keep, weight, weight.new_zeros(()), out=weight)
            if self.optimizer is None:
                return
            for value in self.optimizer.state.get(param, {}).values():
                if torch.is_tensor(value) and value.shape == param.shape:  # exp_avg, exp_avg_sq, momentum...
                    torch.where(keep.to(value.device), value, value.new_zeros(()), out=value)


class GlobalMagnitudePruner:
    """Prunes `weights` globally by magnitude at the events of a schedule; see the module docstring.

    Events happen at t_start, t_start + every, ..., t_end; the event at step t is applied before step t trains,
    so call `update(step)` before the forward pass of `step` and `apply_masks()` after each optimizer step.
    """

    def __init__(
        self, weights: dict[str, nn.Parameter], *, schedule: str, sparsity: float, t_start: int, t_end: int,
        every: int, target: MaskTarget | None = None,
    ) -> None:
        if not weights:
            raise ValueError("weights must hold at least one prunable weight")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.n_events = count_events(t_start, t_end, every)
        kept_fraction(schedule, 0, self.n_events, sparsity)  # validates sparsity (and n_events for one_shot)
        self.schedule, self.sparsity = schedule, float(sparsity)
        self.t_start, self.t_end, self.every = t_start, t_end, every
        self.target: MaskTarget = target if target is not None else TorchOptimizerTarget()
        self._weights = dict(weights)
        self._masks = {name: torch.ones_like(p, dtype=torch.bool) for name, p in self._weights.items()}
        self._n_total = sum(p.numel() for p in self._weights.values())
        self._n_nonzero = self._n_total
        self._last_event_step: int | None = None
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []

    # -- events ---------------------------------------------------------------------------------------------------
    def is_event(self, step: int) -> bool:
        return self.t_start <= step <= self.t_end and (step - self.t_start) % self.every == 0

    def target_kept(self, step: int) -> int:
        """round(kept_fraction · N_total) for the event at `step`."""
        event_index = (step - self.t_start) // self.every
        return round(kept_fraction(self.schedule, event_index, self.n_events, self.sparsity) * self._n_total)

    def update(self, step: int) -> bool:
        """At an event step: prune down to the schedule's kept count and return True; otherwise return False.

        Idempotent, and masks only shrink: an event asking for more weights than are kept leaves the masks alone.
        """
        if not self.is_event(step):
            return False
        n_prune = self._n_total - min(self.target_kept(step), self._n_nonzero)
        self.apply_masks()  # pruned entries must be exact zeros before ranking (select_prune_masks)
        names = list(self._weights)
        new_masks = select_prune_masks(
            [self._weights[name].detach() for name in names], n_prune,
            current_masks=[self._masks[name] for name in names],
            generator=torch.Generator().manual_seed(step),
        )
        self._install(step, dict(zip(names, new_masks)), n_nonzero=self._n_total - n_prune)
        return True

    def _install(self, step: int, masks: dict[str, torch.Tensor], n_nonzero: int) -> None:
        """Make `masks` the masks in force from `step` on, zeroing what they prune (weights and optimizer state)."""
        for name, keep in masks.items():
            self._masks[name].copy_(keep)  # in place: hooks and callers holding the mask see the update
            self.target.zero_pruned(name, self._weights[name], self._masks[name])
        self._n_nonzero = n_nonzero
        self._last_event_step = step

    # -- keeping pruned weights at zero ---------------------------------------------------------------------------
    def _mask_gradient(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        if self._n_nonzero == self._n_total:  # nothing pruned yet: the all-true masks would change nothing
            return grad
        return torch.where(self._masks[name], grad, grad.new_zeros(()))  # reads the mask in force when backward runs

    def register_gradient_hooks(self) -> None:
        """Zero the gradients of pruned weights as autograd produces them (before any optimizer or all-reduce)."""
        if self._hooks:
            return
        for name, param in self._weights.items():
            self._hooks.append(param.register_hook(functools.partial(self._mask_gradient, name)))

    def remove_hooks(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()

    def apply_masks(self) -> None:
        """Re-zero pruned weights in place (call after every optimizer step); allocates nothing."""
        if self._n_nonzero == self._n_total:  # nothing pruned yet
            return
        with torch.no_grad():
            for name, param in self._weights.items():
                weight = param.detach()
                torch.where(self._masks[name], weight, weight.new_zeros(()), out=weight)

    def finalize(self) -> None:
        """End of pruning: remove the hooks and leave the weights masked."""
        self.remove_hooks()
        self.apply_masks()

    # -- counts -----------------------------------------------------------------------------------------------------
    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """name → bool keep-mask (the live tensors; True = kept)."""
        return dict(self._masks)

    @property
    def n_total(self) -> int:
        return self._n_total

    @property
    def last_event_step(self) -> int | None:
        return self._last_event_step

    def n_nonzero(self) -> int:
        """Number of kept prunable weights (cached: masks change only at events)."""
        return self._n_nonzero

    def density(self) -> float:
        return self._n_nonzero / self._n_total

    # -- checkpoints ------------------------------------------------------------------------------------------------
    def _config(self) -> dict:
        return {"schedule": self.schedule, "sparsity": self.sparsity, "t_start": self.t_start,
                "t_end": self.t_end, "every": self.every}

    def state_dict(self) -> dict:
        """Masks (bool tensors) and bookkeeping; loadable with torch.load(weights_only=True)."""
        return {"masks": dict(self._masks), "n_total": self._n_total, "n_nonzero": self._n_nonzero,
                "last_event_step": self._last_event_step, **self._config()}

    def load_state_dict(self, state: dict) -> None:
        """Restore masks and bookkeeping; the schedule and the weights' names and shapes must match."""
        for key, value in self._config().items():
            if state.get(key) != value:
                raise ValueError(f"pruner state has {key}={state.get(key)!r}, this pruner has {value!r}")
        masks = state["masks"]
        if set(masks) != set(self._masks):
            raise ValueError(f"pruner state masks {sorted(masks)} do not match the weights {sorted(self._masks)}")
        for name, mask in masks.items():
            if mask.shape != self._masks[name].shape:
                raise ValueError(f"mask {name!r} has shape {tuple(mask.shape)}, "
                                 f"the weight has {tuple(self._masks[name].shape)}")
            self._masks[name].copy_(mask.to(dtype=torch.bool))
        self._n_nonzero = sum(int(torch.count_nonzero(mask)) for mask in self._masks.values())
        self._last_event_step = state["last_event_step"]
