"""Issue 18 item 4: Hydra composes each job of a sweep once. Its sweepers compose every job of a batch to check it
(`validate_batch_is_legal`), then our launcher needs the same compositions: it takes the sweeper's."""
import pickle

from types import SimpleNamespace

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext
from omegaconf import OmegaConf

from orchestrator.sweep.compose_once import ComposeOnce
from orchestrator.sweep.launcher import RayCellLauncher


class CountingLoader:
    """Stands for Hydra's ConfigLoaderImpl: a fresh config per composition, counted."""

    def __init__(self):
        self.compositions = 0

    def load_sweep_config(self, master_config, sweep_overrides):
        self.compositions += 1
        return OmegaConf.create({"overrides": list(sweep_overrides), "hydra": {"job": {}}})

    def get_sources(self):
        return ["its own"]


def test_the_launcher_takes_the_compositions_the_sweeper_made_to_check_the_batch():
    loader = CountingLoader()
    context, master = HydraContext(config_loader=loader, callbacks=None), OmegaConf.create({"hydra": {}})
    launcher = RayCellLauncher()
    launcher.setup(hydra_context=context, task_function=print, config=master)
    sweeper = SimpleNamespace(hydra_context=context, config=master)  # what BasicSweeper.setup shares with it
    batch = [["seed=0"], ["seed=1"], ["seed=2"]]

    Sweeper.validate_batch_is_legal(sweeper, batch)  # what every sweeper calls before launching a batch
    configs = launcher._job_configs(batch, initial_job_idx=10)
    assert loader.compositions == 3, "each job composed once: by the sweeper's check, then taken by the launcher"
    assert [c.overrides for c in configs] == batch and [c.hydra.job.num for c in configs] == [10, 11, 12]

    # a job nobody checked is composed by the launcher; a taken one is not handed out twice
    assert launcher._job_configs([["seed=3"], ["seed=0"]], initial_job_idx=0)[1].overrides == ["seed=0"]
    assert loader.compositions == 5
    # the rest of the loader is its own, and the context travels to the jobs with the plain loader in it
    assert isinstance(context.config_loader, ComposeOnce) and context.config_loader.get_sources() == ["its own"]
    assert type(pickle.loads(pickle.dumps(context)).config_loader) is CountingLoader
