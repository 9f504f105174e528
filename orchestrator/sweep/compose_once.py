"""Each job of a sweep composed by Hydra once, and jobs that differ only in values composed from one base.

Hydra's sweepers compose every job of a batch to check it (`Sweeper.validate_batch_is_legal`: "this repeats work
the launcher will do, but as the launcher may be performing this in a different process"), then hand the batch to
the launcher, which composes each job again. This launcher composes in the same process, right after.

`ComposeOnce` wraps the sweep's config loader (the sweeper and the launcher share it through their HydraContext):
- every composition it makes is kept, and `take` hands a kept one to the launcher once (or composes when none is
  kept: a sweeper that does not validate);
- a job's composition is Hydra's own for its config-group choices (`model=pico`, `window=a25_b75`, …), made once per
  distinct set of them, plus its value overrides (`seed=3`, `pruning.sparsity=0.4`) applied to a copy by Hydra's own
  override code, as Hydra applies them after composing the defaults. A composition costs 0.1-0.3 s here; a copy and
  a few overrides, a few ms. Jobs with a `hydra.searchpath` are composed whole (their groups may live elsewhere).
Pickled (the context travels with every job), it is the plain loader.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf


def _itself(value: Any) -> Any:
    return value


class ComposeOnce:
    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._kept: dict[tuple[int, tuple[str, ...]], DictConfig] = {}
        self._bases: dict[tuple[int, tuple[str, ...]], DictConfig] = {}
        self._parser = OverridesParser.create()

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        config = self._compose(master_config, list(sweep_overrides))
        self._kept[(id(master_config), tuple(sweep_overrides))] = config
        return config

    def take(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        """The job's config as the sweeper composed it (handed out once), else a fresh composition."""
        kept = self._kept.pop((id(master_config), tuple(sweep_overrides)), None)
        return kept if kept is not None else self._compose(master_config, list(sweep_overrides))

    def forget(self) -> None:
        self._kept.clear()
        self._bases.clear()

    def _compose(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        if OmegaConf.select(master_config, "hydra.searchpath") or not hasattr(self._loader, "repository"):
            return self._loader.load_sweep_config(master_config, sweep_overrides)
        parsed = self._parser.parse_overrides(sweep_overrides)
        values, choices = [], []
        for override in parsed:  # each override classified once (a group lookup in Hydra's repository)
            if self._is_value_override(override):
                values.append(override)
            else:
                choices.append(override.input_line)
        key = (id(master_config), tuple(choices))
        if key not in self._bases:
            self._bases[key] = self._loader.load_sweep_config(master_config, choices)
        config = copy.deepcopy(self._bases[key])
        ConfigLoaderImpl._apply_overrides_to_config(values, config)  # what Hydra does after composing the defaults
        task = [o for o in parsed if not o.is_hydra_override()]
        config.hydra.overrides.task = [o.input_line for o in task]
        naming = config.hydra.job.config.override_dirname
        config.hydra.job.override_dirname = get_overrides_dirname(
            overrides=task, kv_sep=naming.kv_sep, item_sep=naming.item_sep, exclude_keys=naming.exclude_keys)
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config

    def _is_value_override(self, override: Override) -> bool:
        """A plain `key=value` on the job's own config (not a config group, a package, a dict or a Hydra key)."""
        return (not override.is_hydra_override() and override.package is None
                and not isinstance(override.value(), dict)
                and not self._loader.repository.group_exists(override.key_or_group))

    def __getattr__(self, name: str) -> Any:  # everything else is the loader's own
        return getattr(self._loader, name)

    def __reduce__(self):
        return _itself, (self._loader,)


def compose_once(hydra_context: Any) -> ComposeOnce:
    """The context's config loader, wrapped (once)."""
    if not isinstance(hydra_context.config_loader, ComposeOnce):
        hydra_context.config_loader = ComposeOnce(hydra_context.config_loader)
    return hydra_context.config_loader
