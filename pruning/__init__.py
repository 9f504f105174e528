"""Pruning for sparse pre-training; imports torch (and model/) only.

- `pruning.schedules`: kept fraction after each event (geometric, cubic, one-shot) and the step → density map.
- `pruning.plan`: the iso-compute planner (start/end as fractions of compute) → `Plan`.
- `pruning.threshold`: the exact global k-th smallest magnitude and exact pruning masks, in bounded memory.
- `pruning.magnitude`: `GlobalMagnitudePruner`, `prunable_weights`, `MaskTarget`, `TorchOptimizerTarget`.
- `pruning.accounting`: `ParamAccountant` (N_initial, N_current, N_final, N_avg from the real masks).
"""
