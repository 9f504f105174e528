"""Issue 18 item 4: the launcher's hooks (validate_jobs, on_sweep_start, job_cost, on_job_failed) share one
composition and one plan per cell: a sweep of N cells builds N Configs and plans N cells, not N per hook."""
import orchestrator.sweep.composed as composed_module
from conftest import TINY, compose
from orchestrator.model_size import linear_params
from orchestrator.sweep.cells import cell_cost, record_manifest, validate_cells
from orchestrator.sweep.composed import composed, forget_composed


def test_every_hook_shares_one_composition_and_one_plan_per_cell(tmp_path, monkeypatch):
    cells = [compose(TINY + ["pruning=geometric", f"pruning.sparsity={s}", f"results_dir={tmp_path}"])
             for s in (0.25, 0.5, 0.75)]
    calls = {"build": 0, "plan": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(composed_module, "build_config", counted("build", composed_module.build_config))
    monkeypatch.setattr(composed_module, "plan_cell", counted("plan", composed_module.plan_cell))
    forget_composed()
    validated = validate_cells(cells)
    recorded = record_manifest(cells)
    costs = [cell_cost(cell) for cell in cells]
    assert calls == {"build": 3, "plan": 3}
    assert recorded == validated and len(set(costs)) == 3
    config, plan = composed(cells[2])
    assert config is validated[2]
    assert costs[2] == plan.total_steps * config.train.batch_size * config.model.context * linear_params(
        config.model.preset, config.model_vocab_size())

    # a different object with the same content is composed afresh (never mistaken for another job's config)
    twin = compose(TINY + ["pruning=geometric", "pruning.sparsity=0.75", f"results_dir={tmp_path}"])
    assert composed(twin)[0] == config and calls["build"] == 4
    forget_composed()
    composed(cells[0])
    assert calls["build"] == 5, "forget_composed lets the sweep's cells go"
