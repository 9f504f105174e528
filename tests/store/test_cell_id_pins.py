"""Cell ids: golden ids of fixed configs, and the full list of what an id hashes and what it ignores.

An id names the cell's directory in the store: a key it hashes but should not (train.workers, say) makes a rerun
with another worker count retrain every cell; a key it ignores but should not makes two different cells share a
directory. Every leaf of Config is listed below as hashed or ignored, so a new config key must be placed in one.
The golden ids (the readable part checkable by eye, the hash recorded) pin the hash itself: a change of what goes
into it moves every id of every store. tests/test_budget_compute.py pins the default and journey80 cells.
"""
import dataclasses
import functools

import pytest
from conftest import build

from orchestrator.config import Config
from orchestrator.store.cell_id import cell_id

CPU = ["train.device=cpu"]  # `auto` resolves to the machine's device, which is part of the id

GOLDEN = [
    (["pruning=cubic", "pruning.sparsity=0.8"], "micro-cubic-s0.8-w0.25-0.75-C1000-seed0-8041d7d1"),
    (["pruning=one_shot"], "micro-one_shot-s0.5-at0.5-C1000-seed0-3090edb8"),
    (["pruning=none"], "micro-dense-C1000-seed0-2204be58"),
    (["experiment=spdf", "pruning.sparsity=0.75"], "micro-static-s0.75-C600-ft200-seed0-095c70b0"),
    (["experiment=p2"], "micro-dense-C2000-width0.25-D300-seed0-4049f21d"),
    (["experiment=p2", "structured.method=2:4"], "micro-dense-C2000-2of4-D300-seed0-aa43e631"),
    (["model=nano", "seed=3", "budget.dense_steps=2500", "pruning.every=50", "window=a0_b50"],
     "nano-geometric-s0.5-w0-0.5-C2500-seed3-d532b7fc"),
    (["budget.dense_steps=null", "budget.tokens_per_param=20"], "micro-geometric-s0.5-w0.25-0.75-C1040-seed0-7a18b5c5"),
]


@functools.lru_cache(maxsize=None)
def config_of(*overrides: str) -> Config:
    return build(CPU + list(overrides))[0]


@pytest.mark.parametrize("overrides, expected", GOLDEN, ids=[g[1].rsplit("-", 1)[0] for g in GOLDEN])
def test_golden_cell_ids(overrides, expected):
    assert cell_id(config_of(*overrides)) == expected


def test_a_wsd_cell_hashes_its_warmup_in_steps_however_it_was_given():
    # wsd's warmup is W = optim.warmup_steps, else optim.warmup_fraction × C: the same W is the same cell
    wsd = config_of("optim.schedule=wsd")  # C 1000, warmup_fraction 0.05: W = 50
    assert cell_id(wsd) == "micro-geometric-s0.5-w0.25-0.75-C1000-seed0-a04ffd02"
    assert cell_id(config_of("optim.schedule=wsd", "optim.warmup_steps=50")) == cell_id(wsd)
    assert cell_id(config_of("optim.schedule=wsd", "optim.warmup_steps=50", "optim.warmup_fraction=0.3")) \
        == cell_id(wsd)
    assert cell_id(config_of("optim.schedule=wsd", "optim.warmup_fraction=0.1")) != cell_id(wsd)


def test_a_gpu_cell_is_another_cell():
    # the same config on a GPU runs in bf16 autocast: another cell, with the same readable part
    cpu, gpu = cell_id(config_of()), cell_id(config_of("train.device=cuda"))
    assert gpu == "micro-geometric-s0.5-w0.25-0.75-C1000-seed0-654e10a9"
    assert gpu.rsplit("-", 1)[0] == cpu.rsplit("-", 1)[0] and gpu != cpu


# key → an override that changes it and leaves the id alone (bookkeeping: where results go, how often to log,
# evaluate and checkpoint, how many processes and threads, W&B, compiling: none changes what the cell computes)
IGNORED = {
    "results_dir": ["results_dir=/elsewhere"],
    "sweep": ["sweep=another"],
    "dry_run": ["dry_run=true"],
    # a child forked from a shared trunk is bit-identical to the cell trained alone: the same cell
    "share_trunks": ["optim.schedule=wsd", "share_trunks=true"],
    "wandb.mode": ["wandb.mode=disabled"],
    "wandb.project": ["wandb.project=another"],
    "wandb.entity": ["wandb.entity=someone"],
    "wandb.tags": ["wandb.tags=[a,b]"],
    "train.eval_every": ["train.eval_every=7"],
    "train.eval_batches": ["train.eval_batches=9"],
    "train.log_every": ["train.log_every=1"],
    "train.checkpoint_every": ["train.checkpoint_every=13"],
    "train.threads": ["train.threads=3"],
    "train.workers": ["train.workers=2"],  # a rerun with another worker count must find its cells done
    "train.max_restarts": ["train.max_restarts=0"],
    "train.compile": ["train.compile=true"],
    "train.gpus_per_worker": ["train.gpus_per_worker=0.25"],  # how Ray packs cells on GPUs, not what they compute
    "data.cache_dir": ["data.cache_dir=/tmp/another-cache"],
    # off sections: their keys change nothing while fine-tuning / structured pruning is off
    "finetune.lr": ["finetune.lr=1e-2"],
    "finetune.warmup_fraction": ["finetune.warmup_fraction=0.3"],
    "finetune.data_path": ["finetune.data_path=/some/file.txt"],
    "finetune.eval_fraction": ["finetune.eval_fraction=0.5"],
    "structured.ratio": ["structured.ratio=0.5"],
    "structured.lr": ["structured.lr=1e-2"],
    "structured.warmup_fraction": ["structured.warmup_fraction=0.2"],
    "structured.post_steps": ["structured.post_steps=50"],
    # the wsd schedule's keys change nothing under the paper's cosine (the default)
    "optim.decay_fraction": ["optim.decay_fraction=0.5"],
    # auto on a CPU is fp32: the same cell as asking for fp32
    "deepspeed.precision": ["deepspeed.precision=fp32"],
}

# key → (base overrides, an override that changes the key): each must change the id
HASHED = {
    "seed": ([], ["seed=1"]),
    "model.preset": ([], ["model=nano"]),
    "model.seq_len": ([], ["model.seq_len=64"]),
    "model.vocab_multiple": ([], ["model.vocab_multiple=64"]),
    "data.path": ([], ["data=text", "data.path=/some/corpus.txt"]),
    "data.tokenizer": ([], ["data.tokenizer=enwiki-bpe"]),
    "data.val_fraction": ([], ["data.val_fraction=0.1"]),
    "data.format": ([], ["data=tokens", "data.path=/some/tokens.bin"]),
    "data.dtype": (["data=tokens", "data.path=/some/tokens.bin"], ["data.dtype=uint32"]),
    "data.vocab_size": (["data=tokens", "data.path=/some/tokens.bin"], ["data.vocab_size=300"]),
    "data.eos_id": (["data=tokens", "data.path=/some/tokens.bin"], ["data.eos_id=0"]),
    "pruning.schedule": ([], ["pruning.schedule=cubic"]),
    "pruning.sparsity": ([], ["pruning.sparsity=0.8"]),
    "pruning.start": ([], ["pruning.start=0.1"]),
    "pruning.end": ([], ["pruning.end=0.9"]),
    "pruning.every": ([], ["pruning.every=50"]),
    "budget.dense_steps": ([], ["budget.dense_steps=2000"]),
    "budget.tokens_per_param": (["budget.dense_steps=null", "budget.tokens_per_param=20"],
                                ["budget.tokens_per_param=40"]),
    "budget.compute": ([], ["budget.compute=total"]),
    "train.batch_size": ([], ["train.batch_size=16"]),
    "train.device": ([], ["train.device=cuda"]),
    "optim.lr": ([], ["optim.lr=3e-4"]),
    "optim.min_lr_ratio": ([], ["optim.min_lr_ratio=0.0"]),
    "optim.warmup_fraction": ([], ["optim.warmup_fraction=0.1"]),
    "optim.beta1": ([], ["optim.beta1=0.8"]),
    "optim.beta2": ([], ["optim.beta2=0.99"]),
    "optim.eps": ([], ["optim.eps=1e-6"]),
    "optim.weight_decay": ([], ["optim.weight_decay=0.0"]),
    "optim.grad_clip": ([], ["optim.grad_clip=0.5"]),
    "optim.schedule": ([], ["optim.schedule=wsd"]),
    "optim.warmup_steps": (["optim.schedule=wsd"], ["optim.warmup_steps=7"]),  # null with cosine
    "deepspeed.zero_stage": ([], ["deepspeed=zero1"]),
    "finetune.steps": ([], ["finetune.steps=10"]),
    "structured.method": (["pruning=none"], ["structured.method=width", "structured.post_steps=50"]),
}

# the keys that IGNORED leaves alone only while their section is off (or only on a CPU): hashed once it is on
FINETUNE_ON = ["finetune.steps=10"]
STRUCTURED_ON = ["pruning=none", "structured.method=width", "structured.post_steps=50"]
HASHED_WHEN_ON = {
    "finetune.lr": (FINETUNE_ON, ["finetune.lr=1e-2"]),
    "finetune.warmup_fraction": (FINETUNE_ON, ["finetune.warmup_fraction=0.3"]),
    "finetune.data_path": (FINETUNE_ON, ["finetune.data_path=/some/file.txt"]),
    "finetune.eval_fraction": (FINETUNE_ON, ["finetune.eval_fraction=0.5"]),
    "structured.ratio": (STRUCTURED_ON, ["structured.ratio=0.5"]),
    "structured.lr": (STRUCTURED_ON, ["structured.lr=1e-2"]),
    "structured.warmup_fraction": (STRUCTURED_ON, ["structured.warmup_fraction=0.2"]),
    "structured.post_steps": (STRUCTURED_ON, ["structured.post_steps=100"]),
    "deepspeed.precision": ([], ["deepspeed.precision=bf16"]),  # not what a CPU resolves `auto` to
    "optim.decay_fraction": (["optim.schedule=wsd"], ["optim.decay_fraction=0.5"]),
}


def leaf_keys(schema: type, prefix: str = "") -> set[str]:
    keys = set()
    for field in dataclasses.fields(schema):
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if dataclasses.is_dataclass(default):
            keys |= leaf_keys(type(default), f"{prefix}{field.name}.")
        else:
            keys.add(prefix + field.name)
    return keys


def test_every_config_key_is_listed_as_hashed_or_ignored():
    assert not set(IGNORED) & set(HASHED)
    assert set(IGNORED) | set(HASHED) == leaf_keys(Config)
    assert set(HASHED_WHEN_ON) <= set(IGNORED)


@pytest.mark.parametrize("key", sorted(IGNORED))
def test_an_ignored_key_keeps_the_id(key):
    base = [o for o in IGNORED[key] if o.startswith("optim.schedule=")]  # share_trunks needs wsd
    assert cell_id(config_of(*IGNORED[key])) == cell_id(config_of(*base))


@pytest.mark.parametrize("key", sorted(HASHED) + [f"{key} (on)" for key in sorted(HASHED_WHEN_ON)])
def test_a_hashed_key_changes_the_id(key):
    base, change = HASHED_WHEN_ON[key[:-5]] if key.endswith(" (on)") else HASHED[key]
    config, changed = config_of(*base), config_of(*base, *change)
    assert changed != config  # the override took
    assert cell_id(changed) != cell_id(config)
