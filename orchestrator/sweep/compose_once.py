"""Each job of a sweep composed by Hydra once, not twice.

Hydra's sweepers compose every job of a batch to check it (`Sweeper.validate_batch_is_legal`: "this repeats work
the launcher will do, but as the launcher may be performing this in a different process"), then hand the batch to
the launcher, which composes each job again. This launcher composes in the same process, right after: at 0.1-0.3 s
a composition here, the second pass was a third of a dry run's time for a large sweep.

`ComposeOnce` wraps the sweep's config loader (the sweeper and the launcher share it through their HydraContext):
every composition it is asked for is kept, and `take` hands a kept one to the launcher once, or composes when none
is kept (a sweeper that does not validate). Pickled (the context travels with every job), it is the plain loader.
"""
from __future__ import annotations

from typing import Any, Sequence

from omegaconf import DictConfig


def _itself(value: Any) -> Any:
    return value


class ComposeOnce:
    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._kept: dict[tuple[int, tuple[str, ...]], DictConfig] = {}

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        config = self._loader.load_sweep_config(master_config, sweep_overrides)
        self._kept[(id(master_config), tuple(sweep_overrides))] = config
        return config

    def take(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        """The job's config as the sweeper composed it (handed out once), else a fresh composition."""
        kept = self._kept.pop((id(master_config), tuple(sweep_overrides)), None)
        return kept if kept is not None else self._loader.load_sweep_config(master_config, list(sweep_overrides))

    def forget(self) -> None:
        self._kept.clear()

    def __getattr__(self, name: str) -> Any:  # everything else is the loader's own
        return getattr(self._loader, name)

    def __reduce__(self):
        return _itself, (self._loader,)


def compose_once(hydra_context: Any) -> ComposeOnce:
    """The context's config loader, wrapped (once)."""
    if not isinstance(hydra_context.config_loader, ComposeOnce):
        hydra_context.config_loader = ComposeOnce(hydra_context.config_loader)
    return hydra_context.config_loader
