"""After each pruning event, the masks THEMSELVES hold the scheduled counts, worked out by hand.

The pruner's own n_nonzero() / density() are bookkeeping (N_total - n_prune, the formula it pruned with), so
checking them against the schedule is circular. Here the kept and pruned entries are counted from the masks and
from the weights, and the kept set is checked against an independent top-k of the magnitudes before the event.

The pruner keeps round(kept_k · N) weights after event k (pruning/magnitude.py `target_kept`).
"""
import pytest
import torch
import torch.nn as nn

from pruning.magnitude import GlobalMagnitudePruner, prunable_weights

N = 10 * 20 + 20 * 30 + 30 * 5  # 950 prunable weights (the three kernels; biases are never pruned)

# geometric, s = 0.8, 5 events: kept_k = 0.2^((k+1)/5) → 0.724780, 0.525306, 0.380731, 0.275946, 0.2;
# × 950 = 688.54, 499.04, 361.69, 262.15, 190 → kept 689, 499, 362, 262, 190
GEOMETRIC_KEPT = [689, 499, 362, 262, 190]
# cubic, s = 0.8, 4 events: sparsity_k = 0.8·(1 - (1 - (k+1)/4)³) = 0.4625, 0.7, 0.7875, 0.8;
# kept × 950 = 0.5375·950 = 510.625, 0.3·950 = 285, 0.2125·950 = 201.875, 0.2·950 = 190 → 511, 285, 202, 190
CUBIC_KEPT = [511, 285, 202, 190]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))


def counted(masks: dict) -> tuple[int, int]:
    """(kept, pruned) counted from the masks."""
    kept = sum(int(mask.sum()) for mask in masks.values())
    pruned = sum(int((~mask).sum()) for mask in masks.values())
    return kept, pruned


@pytest.mark.parametrize("schedule, sparsity, t_end, expected_kept", [
    ("geometric", 0.8, 50, GEOMETRIC_KEPT),
    ("cubic", 0.8, 40, CUBIC_KEPT),
    ("one_shot", 0.3, 10, [665]),  # round(0.7·950) = 665
])
def test_masks_hold_the_scheduled_counts_after_each_event(schedule, sparsity, t_end, expected_kept):
    model = make_model()
    weights = prunable_weights(model)
    assert sum(w.numel() for w in weights.values()) == N
    pruner = GlobalMagnitudePruner(weights, schedule=schedule, sparsity=sparsity, t_start=10, t_end=t_end, every=10)
    generator = torch.Generator().manual_seed(1)
    seen = []
    for step in range(t_end + 20):
        before = torch.cat([w.detach().abs().flatten() for w in weights.values()])  # pruned entries are 0 here
        fired = pruner.update(step)
        kept, pruned = counted(pruner.masks)
        if fired:
            seen.append(kept)
            assert kept + pruned == N
            assert pruned == N - expected_kept[len(seen) - 1], (step, pruned)
            # the weights agree with the masks: exactly the pruned entries are zero (random weights are never 0)
            zeros = sum(int((w == 0).sum()) for w in weights.values())
            assert zeros == pruned
            # and the kept entries are the `kept` largest magnitudes before the event (no ties among random floats)
            kept_flat = torch.cat([mask.flatten() for mask in pruner.masks.values()])
            top = torch.zeros(N, dtype=torch.bool)
            top[torch.topk(before, kept).indices] = True
            assert torch.equal(kept_flat, top)
        else:  # between events the masks do not move
            assert kept == (expected_kept[len(seen) - 1] if seen else N)
        with torch.no_grad():  # a training step: magnitudes reorder between events
            for w in weights.values():
                w.add_(torch.randn(w.shape, generator=generator) * 0.05)
        pruner.apply_masks()
    assert seen == expected_kept


def test_rerunning_the_last_event_keeps_the_counts():
    # 5 geometric events from step 0 end at round(0.2·950) = 190 kept, 760 pruned; the last event again changes nothing
    model = make_model()
    weights = prunable_weights(model)
    pruner = GlobalMagnitudePruner(weights, schedule="geometric", sparsity=0.8, t_start=0, t_end=40, every=10)
    for step in range(0, 41, 10):
        pruner.update(step)
    assert counted(pruner.masks) == (190, 760)
    assert pruner.update(40)
    assert counted(pruner.masks) == (190, 760)
