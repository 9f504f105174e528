"""Where a cell's token cache lives and how its corpora are prepared: shared by the cell and by the checks that run
before it (preflight), which must prepare nothing yet see the same settings."""
from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.store.remote import staging_root
from orchestrator.store.uri import is_uri


def data_cache_dir(config: Config) -> Path:
    if config.data.cache_dir:
        return Path(config.data.cache_dir)
    local_store = staging_root(config.results_dir) if is_uri(config.results_dir) else Path(config.results_dir)
    return local_store / ".data_cache"


def corpus_settings(config: Config) -> dict:
    """How a cell's corpora (data.path, finetune.data_path) are prepared: prepare_corpus's and check_corpus's
    keyword arguments."""
    return {"tokenizer": config.data.tokenizer, "val_fraction": config.data.val_fraction,
            "cache_dir": data_cache_dir(config), "min_split_tokens": config.model.context + 2}
