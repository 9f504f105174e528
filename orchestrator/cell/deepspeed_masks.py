"""How a prune event reaches DeepSpeed's copies of a weight.

DeepSpeed keeps a weight in up to three places, by precision and ZeRO stage, and the optimizer writes the module's
weight from its master copy after every step, so zeroing `param.data` alone would be undone at the next step:
- ZeRO-1/2 (fp32, bf16 or under torch_autocast), and BF16_Optimizer: partitioned fp32 masters and AdamW moments
  behind DeepSpeed's public tensor-fragment API (`deepspeed.utils.safe_*_full_*`, found through `_hp_mapping`).
  Those calls are collectives: every rank prunes the same tensors in the same order, which holds because every
  rank holds the same weights and computes the same masks.
- ZeRO-0 with `bf16` (or fp16) weights: `FP16_UnfusedOptimizer` keeps one fp32 master per weight
  (`fp32_groups`, parallel to the module's `fp16_groups`) and the wrapped torch optimizer's state is keyed by
  those masters, not by the module's weights.
- ZeRO-0 with fp32 weights (fp32, or bf16 compute under torch_autocast): the client torch optimizer itself, its
  state keyed by the module's weights.
This target zeroes the pruned entries in each copy that exists and in its AdamW moments.
"""
from __future__ import annotations

import torch

ADAM_STATE_KEYS = ("exp_avg", "exp_avg_sq")


class DeepSpeedMaskTarget:
    def __init__(self, engine) -> None:
        self.engine = engine
        self._fp32_masters: dict[int, torch.Tensor] | None = None

    def _fp32_master(self, param: torch.nn.Parameter) -> torch.Tensor | None:
        """FP16_UnfusedOptimizer's fp32 master of `param` (ZeRO-0 with bf16/fp16 weights), else None. The masters
        keep their identity across checkpoint loads (loaded in place), so the map is built once."""
        optimizer = self.engine.optimizer
        low, high = getattr(optimizer, "fp16_groups", None), getattr(optimizer, "fp32_groups", None)
        if low is None or high is None:
            return None
        if self._fp32_masters is None:
            self._fp32_masters = {id(weight): master for weights, masters in zip(low, high)
                                  for weight, master in zip(weights, masters)}
        return self._fp32_masters.get(id(param))

    def _torch_optimizer(self) -> torch.optim.Optimizer:
        optimizer = self.engine.optimizer
        while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
            optimizer = optimizer.optimizer
        return optimizer

    def zero_pruned(self, name: str, param: torch.nn.Parameter, keep: torch.Tensor) -> None:
        from deepspeed.utils import (safe_get_full_fp32_param, safe_get_full_optimizer_state, safe_set_full_fp32_param,
                                     safe_set_full_optimizer_state)

        keep = keep.to(param.device)
        with torch.no_grad():
            param.data.mul_(keep.to(param.dtype))
            if hasattr(param, "_hp_mapping"):  # ZeRO-1/2 or bf16: partitioned fp32 master and moments
                master = safe_get_full_fp32_param(param)
                safe_set_full_fp32_param(param, master * keep)
                if self.engine.global_steps > 0:  # moments exist on every rank once a step has run
                    _link_loaded_moments(self.engine.optimizer)
                    for key in ADAM_STATE_KEYS:
                        state = safe_get_full_optimizer_state(param, key)
                        safe_set_full_optimizer_state(param, state * keep, key)
                return
            master = self._fp32_master(param)
            if master is not None:
                master.mul_(keep.to(master.dtype))
            state = self._torch_optimizer().state.get(master if master is not None else param, {})
            for value in state.values():
                if torch.is_tensor(value) and value.shape == param.shape:
                    value.mul_(keep.to(value.dtype))


def _link_loaded_moments(optimizer) -> None:
    """After a checkpoint load, DeepSpeed links each weight to its slice of the fp32 moments lazily, inside the next
    optimizer step; a prune event at the first resumed step needs that link before then. This is the call DeepSpeed's
    ZeRO-1/2 and bf16 optimizers make themselves at the top of step(); it does nothing once linked."""
    link = getattr(optimizer, "_lazy_init_hp_params_optimizer_state", None)
    if link is not None:
        link()
