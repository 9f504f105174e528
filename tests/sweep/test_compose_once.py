"""Issue 18 item 4: Hydra composes each job of a sweep once. Its sweepers compose every job of a batch to check it
(`validate_batch_is_legal`), then our launcher needs the same compositions: it takes the sweeper's. And jobs that
differ only in values are composed from one base per set of config-group choices, identical to Hydra's own."""
import pickle

from types import SimpleNamespace

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext
from omegaconf import OmegaConf

from orchestrator.sweep.compose_once import ComposeOnce
from orchestrator.sweep.launcher import RayCellLauncher


class CountingLoader:
    """Stands for Hydra's ConfigLoaderImpl: a fresh config per composition, counted (no `repository`: every job is
    composed whole)."""

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


JOBS = [  # journey80's cells (its windows are a config group), a preset and a new key, Hydra's own keys, a group
    *[["experiment=journey80", f"window={window}", f"pruning.sparsity={sparsity}", "budget.tokens_per_param=20",
       f"seed={seed}"] for window in ("a0_b25", "a25_b75") for sparsity in (0.2, 0.8) for seed in (0, 1)],
    ["seed=3", "model=pico", "+wandb.notes=x"], ["seed=4", "model=pico", "+wandb.notes=y"],
    ["train.workers=2", "hydra.job.chdir=false"], ["optim=adamw", "optim.lr=0.01"],
]


def test_jobs_that_differ_in_values_are_composed_from_one_base_exactly_as_hydra_composes_them():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from hydra.types import RunMode

    from conftest import CONF
    from orchestrator.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", ["hydra.launcher.num_cpus=1"], RunMode.MULTIRUN)
        composing = CountingCompositions(loader)
        fast = ComposeOnce(composing)
        for job in JOBS:
            hydra_own, ours = loader.load_sweep_config(master, job), fast.load_sweep_config(master, job)
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(hydra_own), job
            assert OmegaConf.is_struct(ours)
        # one base per distinct set of config-group (and Hydra) choices: 5 for the 12 jobs, not one per job
        assert composing.compositions == 5
        try:  # a bad value fails as Hydra fails it
            fast.load_sweep_config(master, ["model=pico", "pruning.sparsty=0.4"])
        except ConfigCompositionException as error:
            assert "pruning.sparsty" in str(error)
        else:
            raise AssertionError("an unknown key must fail composition")


class CountingCompositions:
    def __init__(self, loader):
        self._loader, self.compositions = loader, 0

    def load_sweep_config(self, master_config, sweep_overrides):
        self.compositions += 1
        return self._loader.load_sweep_config(master_config, sweep_overrides)

    def __getattr__(self, name):
        return getattr(self._loader, name)
