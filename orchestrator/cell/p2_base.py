"""A P² cell (Chen et al. 2024, "Scaling Law for Post-training after Model Pruning"): the dense base cell (the
same config with `structured.method=none`, a regular cell of the same sweep, trained first and skipped when done),
then structured pruning of its final model, then `structured.post_steps` steps of post-training.

Every rank rebuilds the pruned model the same way (same weights, same calibration batch), and so does a resumed
run, before it loads the post-training checkpoint into it.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from model.gpt import GPT, GPTConfig
from orchestrator.config import Config, StructuredConfig
from orchestrator.data import TokenBatches, TokenStream
from pruning.structured import block_linear_weights, count_block_linear, structured_prune

CALIBRATION_SEED = 0xCA1  # the calibration batch's seed, apart from any training batch's


def base_config(config: Config, resolved: dict) -> tuple[Config, dict]:
    """The dense cell whose final model a P² cell prunes: the same config without the structured stage."""
    return replace(config, structured=StructuredConfig()), resolved | {"structured": vars(StructuredConfig())}


def base_summary(base_result: dict, base_cell_id: str, final_model: str) -> dict:
    """What the P² cell needs of its base: its final model, and L0 (its validation loss) for the law."""
    if base_result.get("status") != "done" or base_result.get("val_loss") is None:
        raise RuntimeError(f"the dense base cell {base_cell_id} ended {base_result.get('status')!r} without a "
                           "validation loss: there is no trained model to prune")
    return {"cell_id": base_cell_id, "model": final_model, "val_loss": base_result["val_loss"]}


def calibration_tokens(config: Config, train: TokenStream) -> torch.Tensor:
    data = TokenBatches(train, seq_len=config.model.context)
    return data.batch(0, batch_size=config.train.batch_size, seed=CALIBRATION_SEED + config.seed)[0]


def pruned_model(config: Config, model_config: GPTConfig, base: dict,
                 train: TokenStream) -> tuple[GPT, dict[str, torch.Tensor] | None, dict]:
    """(the pruned model, its 2:4 masks or None, the record of what was pruned for result.json)."""
    dense = GPT(model_config)
    dense.load_state_dict(torch.load(base["model"], weights_only=True))
    structured = config.structured
    ratio = None if structured.method == "2:4" else structured.ratio
    tokens = None if structured.method == "2:4" else calibration_tokens(config, train)
    pruned = structured_prune(dense, tokens, structured.method, ratio)
    masks = pruned.report.get("masks")
    record = {"method": structured.method, "target_ratio": ratio if ratio is not None else 0.5,
              "ratio": pruned.ratio, "n0": count_block_linear(dense),
              "n_pruned": count_block_linear(pruned.model, masks), "l0": base["val_loss"],
              "base_cell_id": base["cell_id"], "pruned_config": vars(pruned.model.config)}
    return pruned.model, masks, record


def mask_names_in(model: torch.nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, torch.nn.Parameter]:
    """The weights of `model` the masks belong to (block linears, by name)."""
    weights = block_linear_weights(model)
    return {name: weights[name] for name in masks}
