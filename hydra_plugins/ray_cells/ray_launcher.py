"""Registers the orchestrator's Ray launcher with Hydra as `hydra/launcher=ray`.

A shim only: Hydra 1.3 instantiates Launcher plugins only from the `hydra_plugins.` namespace; the launcher itself
is orchestrator.sweep.launcher.RayCellLauncher and its config orchestrator.launcher_config.RayLauncherConf.
"""
from hydra.core.config_store import ConfigStore

from orchestrator.launcher_config import RayLauncherConf
from orchestrator.sweep.launcher import RayCellLauncher


class RayLauncher(RayCellLauncher):
    """Runs every job of a Hydra multirun as a Ray task (see orchestrator/sweep/launcher.py)."""


ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf, provider="pruning-journey")
