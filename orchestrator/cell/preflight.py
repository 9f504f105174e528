"""Checks that run before any compute and write nothing: the command line's overrides parse, the store can be
written, a result the rerun would read is readable, and the corpus is readable and long enough.

    reject_malformed_overrides(sys.argv[1:])   # before Hydra: its parse errors do not always name the key
    check_before_compute(config)               # all of the below, for one cell
    check_store_writable(config)               # results_dir (and data.cache_dir) can be created or written
    check_result_readable(config)              # the cell's result.json, if there is one, is JSON
    check_data(config)                         # DataError naming data.path: missing, empty, not UTF-8, too short
"""
from __future__ import annotations

import os
from pathlib import Path

from orchestrator.config import Config, ConfigError


class MalformedOverride(ConfigError):
    """A command-line override that Hydra cannot parse; the message quotes it whole, key included."""


def reject_malformed_overrides(argv: list[str]) -> None:
    """MalformedOverride for the first override of a Hydra command line that does not parse, quoting it whole.

    Hydra's own message for `pruning.sparsity=[0.1` is "no viable alternative at input '[0.1'", which names
    neither the key nor the override; `=foo` becomes "Could not override ''". Flags (-m, --cfg job, …) are
    Hydra's to judge and are left alone."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        overrides = get_args_parser().parse_known_args(argv)[0].overrides or []
    except SystemExit:  # a flag Hydra's own parser rejects: Hydra reports it
        return
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parsed = parser.parse_overrides([override])[0]
        except OverrideParseException as error:
            lines = [line for line in str(error).splitlines()
                     if line.strip() and not line.startswith(("Error parsing override", "See https://"))]
            reason = lines[0].strip() if lines else "it does not parse"
            raise MalformedOverride(f"override {override!r} is malformed: {reason} (expected key=value, e.g. "
                                    f"pruning.sparsity=0.5, or a sweep: pruning.sparsity=0.2,0.5)") from None
        if not parsed.key_or_group:
            raise MalformedOverride(f"override {override!r} has no key before '=' (expected key=value, e.g. "
                                    f"pruning.sparsity=0.5)")


def check_store_writable(config: Config) -> None:
    """ConfigError unless results_dir (and an explicit data.cache_dir; by default it is inside results_dir) is a
    folder this process can write, or one it could create. A URI results_dir must be one pyarrow can open (whether
    it accepts writes is known only when the first file goes up)."""
    from orchestrator.store.remote import check_uri
    from orchestrator.store.uri import is_uri

    if is_uri(config.results_dir):
        try:
            check_uri(config.results_dir)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    else:
        check_writable_folder(config.results_dir, "results_dir")
    if config.data.cache_dir is not None:
        check_writable_folder(config.data.cache_dir, "data.cache_dir")


def check_writable_folder(path: str, field: str) -> None:
    """ConfigError naming `field` unless `path` is a writable folder or could be created as one; creates nothing.

    It looks at the nearest folder that exists (the path itself or an ancestor) with os.access. That cannot be
    perfect: permissions can change after the check, and ACLs, quotas, a full disk or a network filesystem can refuse
    a write that os.access allows (root passes every os.access check). It catches the common mistakes — a path
    through a regular file, a read-only location — before any compute instead of after it."""
    target = Path(path).expanduser().absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "it is" if existing == target else f"{existing} is"
        raise ConfigError(f"{field} must be a folder this process can write, got {path!r}: {where} a file, "
                          f"not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "it is not writable" if existing == target else f"{existing} is not writable, it cannot be created"
        raise ConfigError(f"{field} must be a folder this process can write, got {path!r}: {what}")


def check_result_readable(config: Config) -> None:
    """ConfigError naming the file when the cell's result.json exists but does not parse: the rerun's skip logic
    (done or diverged cells are skipped) reads it first, and a sweep should stop here rather than in every cell."""
    from orchestrator.store.cell_id import cell_id
    from orchestrator.store.files import CellPaths
    from orchestrator.store.remote import RemoteCell

    identity = cell_id(config)
    remote = RemoteCell.of(config.results_dir, config.sweep, identity)
    paths = CellPaths.of(config.results_dir, config.sweep, identity)
    result = f"{remote.uri}/result.json" if remote is not None else str(paths.result)
    try:
        remote.read_result() if remote is not None else paths.is_finished()
    except (OSError, ValueError) as error:  # store.CorruptStoreFile names the file; an OSError may not
        message = str(error) if result in str(error) else f"cannot read {result} ({error})"
        raise ConfigError(f"results_dir: {message}") from None


def check_data(config: Config) -> None:
    """The DataError the cell's data preparation would raise, writing nothing (the cell writes the token cache, and
    only for good data). It reads and tokenizes the corpus unless the cache already holds it: a second pass over
    new data, paid once, so that nothing is written before every check has passed."""
    from orchestrator.cell.corpus import check_data_corpus, corpus_settings
    from orchestrator.data import DataError, check_corpus

    settings = corpus_settings(config)
    _, n_val, source = check_data_corpus(config)
    check_finetune_split(config, n_val, source)
    if config.finetune.steps and config.finetune.data_path is not None:
        try:
            check_corpus(config.finetune.data_path, **settings)
        except DataError as error:
            raise as_finetune_error(error) from None


def as_finetune_error(error):
    """The data layer names `data.path`; for the fine-tuning corpus the field is `finetune.data_path`."""
    from orchestrator.data import DataError

    message = str(error)
    if not message.startswith("data.path"):
        return error
    return DataError("finetune.data_path" + message.removeprefix("data.path"))


def check_finetune_split(config: Config, n_val_tokens: int, source: str) -> None:
    """Fine-tuning without finetune.data_path trains on the head of the validation split and evaluates on its tail
    (finetune.eval_fraction of it): each must hold a context."""
    from orchestrator.data import DataError

    finetune, needed = config.finetune, config.model.context + 2
    if not finetune.steps or finetune.data_path is not None:
        return
    for part, share in (("head (fine-tuning)", 1 - finetune.eval_fraction), ("tail (its evaluation)",
                                                                             finetune.eval_fraction)):
        tokens = round(share * n_val_tokens)
        if tokens < needed:
            raise DataError(f"finetune.eval_fraction: the validation split of {source} has {n_val_tokens} tokens, "
                            f"its {part} {tokens}, fewer than model.seq_len + 2 = {needed}; use more text, a "
                            "shorter model.seq_len, another finetune.eval_fraction or finetune.data_path")


def check_before_compute(config: Config) -> None:
    """Every check of one cell that can fail before its compute starts (a dry run reads its data itself)."""
    check_store_writable(config)
    if not config.dry_run:
        check_result_readable(config)
        check_data(config)
