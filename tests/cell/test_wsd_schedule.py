"""The warmup–stable–decay schedule (optim.schedule=wsd) at chosen steps, worked out by hand, and the property trunk
sharing relies on: before its own decay begins, a cell's learning rate does not depend on its length T.

A cell of T = 250 steps, W = 50 warmup steps, decay_fraction 0.2: K = round(0.2·250) = 50 decay steps from
D = 250 - 50 = 200. lr = peak·(t+1)/50 for t < 50, the peak for 50 <= t < 200, then
peak·(1 - 0.9·(t - 199)/50) (min_lr_ratio 0.1), reaching 0.1·peak at t = 249 and staying there.
"""
import pytest
from conftest import build

from orchestrator.cell.lr_schedule import WSDSchedule, wsd_decay_start, wsd_learning_rate
from orchestrator.cell.phases import pretrain_schedule
from orchestrator.config import ConfigError

PEAK = 1e-3
EXACT = 1e-12


def lr(step: int, total_steps: int | None = 250, warmup_steps: int = 50, decay_fraction: float = 0.2) -> float:
    return wsd_learning_rate(step, total_steps=total_steps, peak_lr=PEAK, warmup_steps=warmup_steps,
                             decay_fraction=decay_fraction, min_lr_ratio=0.1)


@pytest.mark.parametrize("step, expected", [
    (0, 2e-5),  # the first warmup step trains: 1/50 of the peak
    (24, 5e-4),  # 25/50
    (49, 1e-3),  # the last warmup step reaches the peak
    (50, 1e-3), (120, 1e-3), (199, 1e-3),  # stable: the peak, held
    (200, 9.82e-4),  # D, the first decay step: 1 - 0.9·1/50 = 0.982
    (224, 5.5e-4),  # 1 - 0.9·25/50 = 0.55
    (249, 1e-4),  # the last step (T - 1): min_lr_ratio × peak
    (250, 1e-4), (400, 1e-4),  # held after the end
])
def test_wsd_at_chosen_steps(step, expected):
    assert lr(step) == pytest.approx(expected, rel=EXACT)


def test_the_decay_spans_the_rounded_last_fraction_of_the_steps():
    assert wsd_decay_start(250, 0.2) == 200 and wsd_decay_start(251, 0.2) == 201  # K = round(50.2) = 50
    assert wsd_decay_start(3, 0.2) == 2  # at least one decay step: the last step is at the minimum
    assert lr(2, total_steps=3, warmup_steps=0) == pytest.approx(1e-4, rel=EXACT)


def test_before_its_decay_the_learning_rate_does_not_depend_on_the_cell_s_length():
    """Cells of T = 250, 400, 1000 and a trunk that never decays (T = None) agree, bit for bit, up to the first
    decay step of the shortest: the property that lets them share a dense trunk."""
    for step in range(200):
        values = {lr(step, total_steps=total) for total in (250, 400, 1000, None)}
        assert len(values) == 1, step
    assert lr(200, total_steps=250) < lr(200, total_steps=400) == lr(10_000, total_steps=None) == PEAK


def test_a_warmup_longer_than_the_stable_part_is_cut_by_the_decay():
    # W = 50 over T = 40 with decay_fraction 0.5 (D = 20): the smaller of the two ramps, ending at the minimum
    assert lr(19, total_steps=40, decay_fraction=0.5) == pytest.approx(PEAK * 20 / 50, rel=EXACT)
    assert lr(20, total_steps=40, decay_fraction=0.5) == pytest.approx(PEAK * 21 / 50, rel=EXACT)
    assert lr(39, total_steps=40, decay_fraction=0.5) == pytest.approx(1e-4, rel=EXACT)


def test_the_warmup_is_given_in_steps_or_as_a_fraction_of_the_dense_budget_never_of_t():
    base = ["optim.schedule=wsd", "budget.dense_steps=1000", "pruning.every=10"]
    sparse, dense = (build(base + extra)[0] for extra in (["pruning.sparsity=0.8"], ["pruning=none"]))
    from orchestrator.cell.run import plan_cell

    long, short = (pretrain_schedule(c, plan_cell(c).total_steps) for c in (sparse, dense))
    assert long.total_steps > short.total_steps and long.warmup_steps == short.warmup_steps == 50  # 0.05 × C
    assert pretrain_schedule(build(base + ["optim.warmup_steps=7"])[0], 1234).warmup_steps == 7
    assert isinstance(long, WSDSchedule) and long.decay_start == long.total_steps - round(0.2 * long.total_steps)


@pytest.mark.parametrize("overrides, field", [
    (["optim.schedule=linear"], "optim.schedule"),
    (["optim.schedule=wsd", "optim.decay_fraction=0"], "optim.decay_fraction"),
    (["optim.schedule=wsd", "optim.decay_fraction=1.5"], "optim.decay_fraction"),
    (["optim.warmup_steps=10"], "optim.warmup_steps"),  # cosine's warmup is a fraction of T
    (["optim.schedule=wsd", "optim.warmup_steps=-1"], "optim.warmup_steps"),
    (["optim.schedule=wsd", "optim.warmup_steps=900"], "optim.warmup_steps"),  # past the decay of a C-step cell
    (["optim.schedule=wsd", "optim.warmup_fraction=0.9"], "optim.warmup_fraction"),
])
def test_bad_wsd_values_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as error:
        build(overrides)
    if field == "optim.schedule":
        assert "['cosine', 'wsd']" in str(error.value)


def test_a_wsd_cell_trains_on_its_schedule_and_records_it(tiny):
    from orchestrator.cell.run import run_cell
    from orchestrator.store.files import MetricsLog

    config, resolved = build(tiny + ["optim.schedule=wsd", "pruning.sparsity=0.75"])
    outcome = run_cell(config, resolved)
    assert outcome.status == "done"
    total = outcome.result["steps"]
    schedule = pretrain_schedule(config, total)  # W = round(0.1 × 24) = 2
    logged = {r["step"]: r["lr"] for r in MetricsLog(outcome.paths.metrics).read() if "lr" in r}
    assert logged == {step: schedule(step - 1) for step in range(1, total + 1)}  # record `step` = after step - 1
    assert logged[total] == pytest.approx(0.1 * PEAK, rel=EXACT) and max(logged.values()) == PEAK
    assert outcome.result["lr_schedule"] == "wsd" and outcome.result["cell"]["lr_schedule"] == "wsd"
    assert "schedule: wsd" in outcome.paths.config.read_text()


def test_cosine_cells_keep_their_coordinates_and_wsd_cells_say_so():
    from orchestrator.store.cell_id import cell_coordinates

    cosine, wsd = (cell_coordinates(build(o)[0]) for o in ([], ["optim.schedule=wsd"]))
    assert "lr_schedule" not in cosine and wsd == cosine | {"lr_schedule": "wsd"}
