"""Where a cell's token cache lives and how its corpora are prepared: shared by the cell and by the checks that run
before it (preflight), which must prepare nothing yet see the same settings. `data.format` picks the path: text is
read and tokenized into the cache; token files (data=tokens) are checked and read where they are."""
from __future__ import annotations

from pathlib import Path

from orchestrator.config import Config
from orchestrator.data import (DataError, PreparedData, check_corpus, find_token_files, get_tokenizer,
                               prepare_corpus, prepare_tokens, read_format, read_texts)
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


def _token_settings(config: Config) -> dict:
    """prepare_tokens's keyword arguments: the text settings less the tokenizer, plus the sidecar's overrides."""
    data, settings = config.data, corpus_settings(config)
    settings.pop("tokenizer")
    return settings | {"dtype": data.dtype, "vocab_size": data.vocab_size, "eos_id": data.eos_id}


def prepare_data(config: Config) -> PreparedData:
    """The cell's pre-training corpus, prepared (text: tokenized into the cache once; tokens: checked, indexed)."""
    if config.data.format == "tokens":
        return prepare_tokens(config.data.path, **_token_settings(config))
    prepared = prepare_corpus(config.data.path, **corpus_settings(config))
    _check_declared_vocabulary(config, prepared.vocab_size)
    return prepared


def check_data_corpus(config: Config) -> tuple[int, int, str]:
    """What `prepare_data` would raise, writing nothing; (training tokens, validation tokens, source)."""
    if config.data.format == "tokens":
        data = prepare_tokens(config.data.path, **_token_settings(config), write_index=False)
        return data.n_train_tokens, data.n_val_tokens, data.source
    if config.data.vocab_size is not None:
        _check_declared_vocabulary(config, get_tokenizer(config.data.tokenizer).vocab_size)
    return check_corpus(config.data.path, **corpus_settings(config))


def _check_declared_vocabulary(config: Config, actual: int) -> None:
    """data.vocab_size, given for a tokenizer file (the budget counts it), must be the tokenizer's."""
    declared = config.data.vocab_size
    if declared is not None and declared != actual:
        raise DataError(f"data.vocab_size: {declared}, but the tokenizer {config.data.tokenizer} has {actual} ids")


def glance_at_data(config: Config) -> None:
    """A dry run's look at data.path, reading no more than it must: text is read (missing, empty or not UTF-8 fails);
    token files are listed and their sidecar read, not scanned."""
    if config.data.format == "tokens":
        folder = find_token_files(config.data.path)[1]
        read_format(folder, config.data.dtype, config.data.vocab_size, config.data.eos_id)
    else:
        read_texts(config.data.path)
