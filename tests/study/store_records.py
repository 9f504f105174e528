"""Cell records for the report's tests, shaped like real ones: each starts from a result.json of the committed
reproduction store (a pruned journey80 cell, a dense ladder cell) and changes only the fields a test plants, so a
test cannot pass on a shape the cells never have (result.json nests the grid coordinates under `cell`)."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "docs" / "reproduction" / "store"
TOKENS_PER_STEP = 16 * 128


@lru_cache(maxsize=2)
def _template(sweep: str) -> dict:
    path = sorted((STORE / sweep).glob("*/result.json"))[0]
    return json.loads(path.read_text(encoding="utf-8"))


def result_record(*, val_loss: float, sparsity: float = 0.0, window: tuple[float, float] = (0.25, 0.75),
                  seed: int = 0, model: str = "micro", initial: float = 212992.0, avg: float | None = None,
                  final: float | None = None, tokens: float = 2e6, tokens_per_param: float | None = None,
                  dense_steps: int | None = None, schedule: str | None = None, status: str = "done",
                  cell_id: str | None = None) -> dict:
    """A result.json record (as load_cells returns it, without metrics) with the planted fields. The budget C
    (`dense_steps`) defaults to the cell's steps, so cells of other token counts are other configs, as they are."""
    dense = sparsity == 0.0 or schedule == "none"
    record = copy.deepcopy(_template("dense_ladder" if dense else "journey80"))
    schedule = schedule or ("none" if dense else "geometric")
    steps = max(1, round(tokens / TOKENS_PER_STEP))
    dense_steps = steps if dense_steps is None else dense_steps
    record["cell"].update(model=model, schedule=schedule, sparsity=sparsity, start=window[0], end=window[1],
                          seed=seed, tokens_per_param=tokens_per_param, dense_steps=dense_steps)
    avg = initial if dense else (avg if avg is not None else initial * (1 - 0.6 * sparsity))
    record.update(status=status, val_loss=val_loss, initial_params=int(initial), prunable_params=int(initial),
                  avg_params=float(avg), final_params=int(final if final is not None else initial * (1 - sparsity)),
                  tokens=int(tokens), steps=steps, planned_steps=steps, pretrain_flops=6.0 * avg * tokens,
                  cell_id=cell_id or (f"{model}-{schedule}-s{sparsity:g}-w{window[0]:g}-{window[1]:g}-"
                                      f"C{dense_steps}-tpp{tokens_per_param}-seed{seed}-n{initial:g}-d{tokens:g}"))
    for key in ("attention_flops", "total_flops"):
        record.pop(key, None)
    return record
