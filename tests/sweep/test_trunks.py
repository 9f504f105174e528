"""The fork tree of a sweep that shares dense trunks (orchestrator/sweep/trunks.py): which cells fork where, what it
saves (journey80 under wsd, worked out from the planner's rounding), and the dry run's sharing.json."""
import dataclasses
import json

import pytest
import yaml
from conftest import CONF, TINY, build

from orchestrator.config import ConfigError, PruningConfig
from orchestrator.sweep.trunks import plan_sharing

WSD = ["optim.schedule=wsd", "share_trunks=true"]


def journey80_wsd_cells(*extra: str) -> list:
    """journey80_wsd's 80 cells: its two budgets composed by Hydra, its windows (conf/window/) and sparsities set on
    them as Hydra's sweeper would (composing 80 configs costs ~20 s; this, ~1 s)."""
    params = yaml.safe_load((CONF / "experiment" / "journey80.yaml").read_text())["hydra"]["sweeper"]["params"]
    windows = [yaml.safe_load((CONF / "window" / f"{w}.yaml").read_text()) for w in params["window"].split(",")]
    cells = []
    for budget in str(params["budget.tokens_per_param"]).split(","):
        config = build(["experiment=journey80_wsd", f"budget.tokens_per_param={budget}", "window=a0_b25",
                        "pruning.sparsity=0.2", "train.device=cpu", *extra])[0]
        for window in windows:
            for sparsity in str(params["pruning.sparsity"]).split(","):
                pruning = dataclasses.replace(config.pruning, start=float(window["start"]), end=float(window["end"]),
                                              sparsity=float(sparsity))
                cells.append(dataclasses.replace(config, pruning=PruningConfig(**vars(pruning))))
    return cells


def test_journey80_under_wsd_shares_one_trunk_per_budget_and_saves_what_the_sums_predict():
    """Per budget C (1040 and 2080 dense steps at micro), 12 cells prune from 0.25 C, 8 from 0.5 C, 4 from 0.75 C
    (the windows a25_*, a50_*, a75_b100 × 4 sparsities); their fork steps are a·C rounded to pruning.every = 10,
    exact here. One trunk of 0.75 C replaces 10 C of dense prefix: 9.25 C saved per budget."""
    cells = journey80_wsd_cells()
    assert len(cells) == 80 and all(c.optim.schedule == "wsd" and c.share_trunks for c in cells)
    sharing = plan_sharing(cells)
    by_budget = {t.config.budget.dense_steps: t for t in sharing.trunks}
    assert sorted(by_budget) == [1040, 2080]  # the warmup is 5 % of each C: two prefixes, one trunk each
    for dense_steps, trunk in by_budget.items():
        quarter = dense_steps // 4
        assert trunk.forks == (quarter, 2 * quarter, 3 * quarter) and trunk.steps == 3 * quarter
        counts = {fork: list(trunk.children.values()).count(fork) for fork in trunk.forks}
        assert counts == {quarter: 12, 2 * quarter: 8, 3 * quarter: 4}
    assert len(sharing.alone) == 32  # the a0_* windows: they prune from step 0
    saved = sum(10 * c - 3 * c // 4 for c in (1040, 2080))  # 9620 + 19240 dense-equivalent steps
    assert sharing.compute_unshared - sharing.compute_shared == pytest.approx(saved, abs=1e-6)
    assert sharing.compute_unshared == pytest.approx(sum(c.budget.dense_steps for c in cells), rel=0.01)
    assert sharing.saved_fraction == pytest.approx(1 - sharing.compute_shared / sharing.compute_unshared)
    assert sharing.saved_fraction >= 0.20  # the target; 23.1 %


def test_one_warmup_in_steps_lets_the_two_budgets_share_one_trunk():
    sharing = plan_sharing(journey80_wsd_cells("optim.warmup_steps=52"))
    (trunk,) = sharing.trunks
    assert trunk.forks == (260, 520, 780, 1040, 1560) and len(trunk.children) == 48
    assert sharing.compute_unshared - sharing.compute_shared == pytest.approx(10 * 1040 + 10 * 2080 - 1560)
    assert sharing.saved_fraction > plan_sharing(journey80_wsd_cells()).saved_fraction


def cells_of(*variants: list[str]) -> list:
    return [build([*TINY, *WSD, "train.device=cpu", *variant])[0] for variant in variants]


def test_a_cell_forks_only_before_its_own_decay_and_only_with_company():
    # TINY: C = 24, every 2. Window [0.25, 0.75] forks at 6; [0.5, 1] at 12; [0, .5] prunes from step 0: alone;
    # dense: no prune event, alone; a window starting after 0.8 T's decay start trains alone.
    windows = [["pruning.start=0.25", "pruning.end=0.75"], ["pruning.start=0.5", "pruning.end=1.0"],
               ["pruning.start=0.0", "pruning.end=0.5"], ["pruning=none"],
               ["pruning=one_shot", "pruning.start=0.95", "pruning.end=1.0"]]
    sharing = plan_sharing(cells_of(*windows))
    (trunk,) = sharing.trunks
    assert trunk.forks == (6, 12) and trunk.steps == 12 and len(sharing.alone) == 3
    lone = plan_sharing(cells_of(windows[0], ["pruning.start=0.25", "pruning.end=0.75", "seed=1"]))
    assert lone.trunks == () and len(lone.alone) == 2  # other seeds, other prefixes: a trunk of one saves nothing


def test_what_changes_the_prefix_separates_trunks_and_what_does_not_keeps_one():
    base = ["pruning.start=0.25", "pruning.end=0.75"]
    # budgets of 24 and 40 steps share a prefix when their warmup is the same number of steps (0.1 × C is not)
    longer = base + ["pruning.sparsity=0.75", "budget.dense_steps=40", "optim.decay_fraction=0.3",
                     "optim.min_lr_ratio=0.0"]
    assert plan_sharing(cells_of(base, longer)).trunks == ()
    same = plan_sharing(cells_of(base + ["optim.warmup_steps=2"], longer + ["optim.warmup_steps=2"]))
    assert len(same.trunks) == 1 and same.trunks[0].forks == (6, 10)
    for change in (["optim.lr=3e-4"], ["train.log_every=3"], ["train.batch_size=8"], ["optim.warmup_steps=5"]):
        assert plan_sharing(cells_of(base, ["pruning.start=0.5", "pruning.end=1.0", *change])).trunks == (), change


def test_share_trunks_under_the_cosine_schedule_is_rejected_naming_the_fields():
    with pytest.raises(ConfigError, match=r"share_trunks .*optim\.schedule=wsd.*optim\.schedule='cosine'"):
        build(["share_trunks=true"])


def job_configs(common: list[str], variants: list[list[str]]) -> list:
    """The configs the launcher's hooks get: composed with their `hydra` node, one per cell."""
    from hydra import compose, initialize_config_dir

    from orchestrator.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return [compose(config_name="config", overrides=common + variant, return_hydra_config=True)
                for variant in variants]


WINDOWS = [["pruning.start=0.25", "pruning.end=0.75"], ["pruning.start=0.5", "pruning.end=1.0"],
           ["pruning.start=0.0", "pruning.end=0.5"]]


def test_a_dry_run_writes_sharing_json_and_prints_the_saving(tmp_path, capsys):
    from orchestrator.sweep.train import start_sweep, validate_or_exit

    store = tmp_path / "store"
    configs = job_configs([*TINY, *WSD, "dry_run=true", f"results_dir={store}", "sweep=s"], WINDOWS)
    validate_or_exit(configs)
    assert not store.exists()  # validation writes nothing: the sweep might still not run (no cluster)
    start_sweep(configs)  # the launcher's on_sweep_start, once Ray is up
    sharing = json.loads((store / "s" / "sharing.json").read_text())
    assert {"compute_unshared", "compute_shared", "saved_fraction", "trunks"} <= set(sharing)
    assert sharing["saved_fraction"] == pytest.approx(1 - sharing["compute_shared"] / sharing["compute_unshared"])
    assert sharing["trunks"][0]["forks"] == [6, 12]
    out = capsys.readouterr().out
    assert "sharing dense trunks" in out and f"{100 * sharing['saved_fraction']:.1f} % saved" in out
    assert str(store / "s" / "sharing.json") in out


def test_a_sweep_that_shares_trunks_for_real_is_accepted_and_plans_them_when_it_starts(tmp_path):
    """Training the trunks and forking the cells from them: tests/cell/test_trunk_cell.py."""
    from orchestrator.sweep.train import start_sweep, validate_or_exit

    store = tmp_path / "store"
    configs = job_configs([*TINY, *WSD, f"results_dir={store}", "sweep=s"], WINDOWS)
    validate_or_exit(configs)
    assert not store.exists()
    start_sweep(configs)
    assert json.loads((store / "s" / "sharing.json").read_text())["trunks"][0]["forks"] == [6, 12]


@pytest.mark.slow
def test_a_ray_sweep_trains_its_shared_trunk_once_and_forks_its_cells_from_it(tmp_path):
    """As users run it: the sweep writes sharing.json when it starts; its two cells (Ray runs them side by side) need
    one trunk: the first to reach it trains it under its lock (the other waits for it, or finds it done), then both
    fork from it at step 6."""
    from test_ray_sweep import RAY, multirun

    store = tmp_path / "store"
    sweep = multirun(*TINY, *RAY, *WSD, "pruning=geometric", "pruning.start=0.25", "pruning.end=0.75",
                     "pruning.sparsity=0.5,0.75", f"results_dir={store}", "sweep=s")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    sharing = json.loads((store / "s" / "sharing.json").read_text())
    (trunk,) = sharing["trunks"]
    assert trunk["forks"] == [6] and len(trunk["children"]) == 2
    results = [json.loads(p.read_text()) for p in (store / "s").glob("*/result.json")]
    assert sorted(r["status"] for r in results) == ["done", "done"]
    assert all(r["trunk"] == {"cell_id": trunk["trunk_id"], "fork_step": 6} for r in results)
    trunk_result = json.loads((store / "s" / ".trunks" / trunk["trunk_id"] / "result.json").read_text())
    assert trunk_result["status"] == "done" and trunk_result["steps"] == 6
    assert "total: 2 done" in sweep.stderr


def test_a_sweep_on_a_uri_store_says_its_cells_train_alone_instead_of_a_saving(capsys):
    from orchestrator.sweep.train import start_sweep

    configs = job_configs([*TINY, *WSD, "results_dir=s3://bucket/store", "sweep=s"], WINDOWS)
    start_sweep(configs)  # a URI store has no manifest nor sharing.json: nothing is written
    out = capsys.readouterr().out
    assert "share_trunks=true, but the cells of s3://bucket/store/s train alone" in out
    assert "sharing dense trunks" not in out
