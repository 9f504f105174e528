"""What the findings share: seed-noise estimates from repeated configs, and the words of a verdict."""
from __future__ import annotations

import json
import math

import numpy as np

from orchestrator.study.figures import duration_label, val_loss

VERDICTS = {True: "holds", False: "does not hold", None: "not testable"}
INCONCLUSIVE = "inconclusive"
DENSE_LADDER_HINT = ("orchestrator-train -m experiment=dense_ladder model=pico,nano,micro,mini "
                     "budget.tokens_per_param=5,10,20")

def pooled_std(samples: list[list[float]]) -> float | None:
    """Pooled sample standard deviation over groups of repeats; None without any group of two or more."""
    dof = sum(len(s) - 1 for s in samples if len(s) > 1)
    if dof == 0:
        return None
    ss = sum(float(np.sum((np.array(s) - np.mean(s)) ** 2)) for s in samples if len(s) > 1)
    return math.sqrt(ss / dof)


def config_key(cell: dict) -> str:
    """The cell config without its seed, as a canonical string."""
    return json.dumps({k: v for k, v in cell["cell"].items() if k != "seed"}, sort_keys=True)


def _repeats(cells: list[dict]) -> list[list[float]]:
    """The val losses of each config run with several seeds."""
    repeats: dict[str, list[float]] = {}
    for cell in cells:
        if val_loss(cell) is not None:
            repeats.setdefault(config_key(cell), []).append(val_loss(cell))
    return [v for v in repeats.values() if len(v) > 1]


def seed_noise(cells: list[dict]) -> tuple[float | None, int]:
    """Pooled std of val loss over configs run with several seeds, and how many such configs there are."""
    groups = _repeats(cells)
    return pooled_std(groups), len(groups)


def budget_key(cell: dict) -> tuple[str, str]:
    """(model, duration): the budget a seed-noise estimate belongs to."""
    return cell["cell"]["model"], duration_label(cell)


def noise_by_budget(cells: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (model, duration) with repeated configs: the pooled seed std, its degrees of freedom and the configs."""
    by_budget: dict[tuple[str, str], list[dict]] = {}
    for cell in cells:
        by_budget.setdefault(budget_key(cell), []).append(cell)
    noise = {}
    for key, group in by_budget.items():
        repeats = _repeats(group)
        if repeats:
            noise[key] = {"noise": pooled_std(repeats), "dof": sum(len(r) - 1 for r in repeats),
                          "configs": len(repeats)}
    return noise


def verdict_of(holds: bool | None) -> dict:
    return {"holds": holds, "verdict": VERDICTS[holds]}


