"""Every config in conf/ composes and validates; bad values are rejected naming the field."""
import pytest

from conftest import CONF, build, compose
from orchestrator.config import ConfigError

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_config_composes_and_validates(group, option):
    overrides = [f"{group}={option}"]
    if (group, option) in (("data", "text"), ("data", "tokens")):
        overrides.append("data.path=/some/corpus.txt")
    config, resolved = build(overrides)
    if group == "window":  # a0_b25 → pruning.start 0.0, pruning.end 0.25
        start, end = (int(part[1:]) / 100 for part in option.split("_"))
        assert (config.pruning.start, config.pruning.end) == (start, end)
    elif group == "experiment":
        assert config.sweep == option or option == "micro_cell"
    else:
        assert resolved[group]
    assert config.budget.dense_steps >= 1


def test_conf_folders_mirror_the_defaults_list():
    root = (CONF / "config.yaml").read_text()
    for group in GROUPS:
        assert f"- {group}:" in root, f"conf/{group}/ is not in config.yaml's defaults list"


BAD = [
    (["pruning.sparsity=1.5"], "pruning.sparsity"),
    (["pruning.sparsity=-0.1"], "pruning.sparsity"),
    (["pruning.start=0.8", "pruning.end=0.2"], "pruning.end"),
    (["pruning.every=0"], "pruning.every"),
    (["pruning=none", "pruning.sparsity=0.5"], "pruning.sparsity"),
    (["pruning.schedule=linear"], "pruning.schedule"),
    (["model.preset=huge"], "model.preset"),
    (["model.seq_len=4096"], "model.seq_len"),
    (["train.batch_size=5", "train.workers=2"], "train.batch_size"),
    (["train.workers=0"], "train.workers"),
    (["train.device=tpu"], "train.device"),
    (["budget.dense_steps=0"], "budget.dense_steps"),
    (["budget.dense_steps=50", "pruning.every=100"], "pruning.every"),
    (["optim.lr=-1"], "optim.lr"),
    (["optim.beta2=1.0"], "optim.beta2"),
    (["deepspeed.zero_stage=4"], "deepspeed.zero_stage"),
    (["deepspeed.zero_stage=3"], "deepspeed.zero_stage"),
    (["wandb.mode=sometimes"], "wandb.mode"),
    (["data.val_fraction=0.9"], "data.val_fraction"),
    (["sweep=a/b"], "sweep"),
]


@pytest.mark.parametrize("overrides,field", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_values_are_rejected_naming_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build(overrides)


@pytest.mark.parametrize("override,key", [("pruning.sparsity=abc", "sparsity"), ("train.workers=two", "workers"),
                                          ("model.nonsense=1", "nonsense"), ("model=huge", "model")])
def test_wrong_types_and_unknown_keys_fail_at_composition(override, key):
    with pytest.raises(Exception, match=key):
        compose([override])


def test_tokens_per_parameter_counts_the_data_s_vocabulary():
    """The LM head is prunable and enters N: a budget in tokens per parameter follows the data's vocabulary."""
    from orchestrator.model_size import linear_params

    common = ["model=micro", "budget.dense_steps=null", "budget.tokens_per_param=20", "train.batch_size=16"]
    byte = build(common)[0]
    tokens = build(common + ["data=tokens", "data.path=/shards", "data.vocab_size=5000", "model.vocab_multiple=64"])[0]
    assert tokens.model_vocab_size() == 5056
    tokens_per_step = 16 * 128
    assert byte.budget.dense_steps == round(20 * linear_params("micro") / tokens_per_step)
    assert tokens.budget.dense_steps == round(20 * linear_params("micro", 5056) / tokens_per_step)
    assert tokens.budget.dense_steps > 2 * byte.budget.dense_steps


def test_float_coordinates_are_canonical():
    """Hydra's range(0.2,0.9,0.3) yields 0.7999999999999999: it must be the cell of 0.8, not another one."""
    from orchestrator.store.cell_id import cell_id

    ugly = build(["pruning=geometric", "pruning.sparsity=0.7999999999999999", "pruning.start=0.25000000000000006"])[0]
    clean = build(["pruning=geometric", "pruning.sparsity=0.8", "pruning.start=0.25"])[0]
    assert (ugly.pruning.sparsity, ugly.pruning.start) == (0.8, 0.25)
    assert cell_id(ugly) == cell_id(clean)
