"""How a prune event reaches DeepSpeed's copies of a weight.

Under ZeRO-1/2 (and the bf16 optimizer) the optimizer updates fp32 master partitions and copies them back into the
module's weights, so zeroing `param.data` alone would be undone at the next step. This target zeroes the pruned
entries in the module weight, the fp32 master copy and the AdamW moments through DeepSpeed's public tensor-fragment
API (`deepspeed.utils.safe_*_full_*`). Those calls are collectives: every rank prunes the same tensors in the same
order, which holds because every rank holds the same weights and computes the same masks.
"""
from __future__ import annotations

import torch

ADAM_STATE_KEYS = ("exp_avg", "exp_avg_sq")


class DeepSpeedMaskTarget:
    def __init__(self, engine) -> None:
        self.engine = engine

    def _torch_optimizer(self) -> torch.optim.Optimizer:
        optimizer = self.engine.optimizer
        while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
            optimizer = optimizer.optimizer
        return optimizer

    def zero_pruned(self, name: str, param: torch.nn.Parameter, keep: torch.Tensor) -> None:
        from deepspeed.utils import (
            safe_get_full_fp32_param,
            safe_get_full_optimizer_state,
            safe_set_full_fp32_param,
            safe_set_full_optimizer_state,
        )

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
            state = self._torch_optimizer().state.get(param, {})
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
