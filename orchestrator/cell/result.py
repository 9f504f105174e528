"""result.json: what a cell produced, in the store format of DESIGN (status done|failed|diverged, losses,
parameter counts from the real masks, tokens, steps, and the cell's grid coordinates)."""
from __future__ import annotations

import math
import traceback

from orchestrator.model_size import attention_flops_per_token
from orchestrator.data import epochs_for
from orchestrator.store.cell_id import cell_coordinates
from orchestrator.store.provenance import code_version
from pruning.accounting import ParamAccountant


def _finite_or_none(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def cell_result(job, *, status: str, steps: int, final_loss: float, val_loss: float,
                accountant: ParamAccountant, n_prunable: int, wall_seconds: float,
                resumed_from: list[int], finetune: dict | None = None, trunk: dict | None = None) -> dict:
    tokens = steps * job.tokens_per_step
    pretrain_flops = 6.0 * accountant.avg_params * tokens
    attention_flops = float(attention_flops_per_token(job.config.model.preset, job.config.model.context) * tokens)
    result = {
        "status": status,
        "cell_id": job.cell_id,
        "sweep": job.config.sweep,
        "cell": cell_coordinates(job.config),
        "final_loss": _finite_or_none(final_loss),
        "val_loss": _finite_or_none(val_loss),
        "avg_params": accountant.avg_params,
        "initial_params": n_prunable,  # the prunable weights the model was initialised with (before any event)
        "final_params": accountant.final_params,
        "prunable_params": n_prunable,
        "tokens": tokens,
        "steps": steps,
        "planned_steps": job.plan.total_steps,
        "epochs": epochs_for(tokens, job.data.n_train_tokens),
        "wall_seconds": wall_seconds,  # of the last attempt only, when resumed
        "resumed_from_steps": resumed_from,  # the checkpoint steps this cell was resumed from, oldest first
        # pre-training compute as budget.compute=linear counts it (density-weighted): Σ_t nonzero prunable
        # weights(t) × 6 FLOPs per weight per token — the linear kernels' FLOPs, attention scores and embeddings out
        "pretrain_flops": pretrain_flops,
        # the attention scores' FLOPs (Kaplan et al.: 6·n_layer·context·d_model per token), never pruned;
        # budget.compute=total plans at equal total_flops
        "attention_flops": attention_flops,
        "total_flops": pretrain_flops + attention_flops,
        "budget_compute": job.config.budget.compute,
        "lr_schedule": job.config.optim.schedule,  # cosine | wsd: never compare cells across the two
        "vocab_size": job.vocab_size,  # the model's: the data's, padded up to model.vocab_multiple
        "data_vocab_size": job.data.vocab_size,
        "code": code_version(),  # the commit (or package version) that trained it
    }
    if trunk is not None:  # forked from a shared dense trunk: its steps up to fork_step are this cell's
        result["trunk"] = trunk
    if finetune is not None:
        result["finetune"] = {**finetune, "final_loss": _finite_or_none(finetune["final_loss"]),
                              "val_loss": _finite_or_none(finetune["val_loss"]),
                              "tokens": finetune["steps"] * job.tokens_per_step}
    return result


def failed_result(config, cell_id: str, error: BaseException) -> dict:
    return {
        "status": "failed",
        "cell_id": cell_id,
        "sweep": config.sweep,
        "cell": cell_coordinates(config),
        "error": f"{type(error).__name__}: {error}",
        "code": code_version(),
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }
