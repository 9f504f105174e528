"""Trunk ids and prefix identities: golden ids of fixed configs, and the full list of what a trunk id hashes and
what it ignores; the sweep's device override of `train.device=auto`.

A trunk (orchestrator.sweep.trunks) is the dense prefix that wsd cells with equal prefix identities share until
they fork. Its id names its directory in the store (`.trunks/<trunk_id>`), and a child checks the id recorded in the
sweep's sharing plan against its own (orchestrator/cell/trunk.py): a key the id hashes but should not (the pruning
window, fine-tuning, the decay) splits cells that train the same prefix into separate trunks, and a key it ignores
but should not (the seed, the learning rate, the logging cadence its records carry) lets cells with different
prefixes fork from one trunk. The golden ids pin the hash itself: the readable part is checkable by eye
(`<preset>-trunk-W<warmup steps>-to<last fork>-seed<seed>`), the 8 hex digits are recorded.
"""
import functools
import re

import pytest
import torch
from conftest import build

from orchestrator.config import Config
from orchestrator.store.cell_id import PREFIX_BOOKKEEPING, cell_id, prefix_identity, set_sweep_device, trunk_id

WSD = ["train.device=cpu", "optim.schedule=wsd"]  # the micro preset, C = 1000, warmup_fraction 0.05 → W = 50


@functools.lru_cache(maxsize=None)
def config_of(*overrides: str) -> Config:
    return build(list(overrides))[0]


def wsd(*overrides: str) -> Config:
    return config_of(*WSD, *overrides)


GOLDEN = [
    # W = round(0.05 · 1000) = 50; one fork at 300 → "to300"
    ((), (300,), "micro-trunk-W50-to300-seed0-ac2638ff"),
    # three forks: the readable part names the LAST one (400), not the first or the second
    ((), (200, 300, 400), "micro-trunk-W50-to400-seed0-ab0d8379"),
    # W given in steps (7), another preset and seed
    (("model=nano", "seed=2", "optim.warmup_steps=7"), (100, 250), "nano-trunk-W7-to250-seed2-0714785d"),
]


@pytest.mark.parametrize("overrides, forks, expected", GOLDEN, ids=[g[2].rsplit("-", 1)[0] for g in GOLDEN])
def test_golden_trunk_ids(overrides, forks, expected):
    assert trunk_id(wsd(*overrides), forks) == expected


def test_the_readable_part_names_the_last_fork_of_many():
    # forks (10, 20, 30, 40): the trunk trains to 40; "to40" whatever the digest
    readable = trunk_id(wsd(), (10, 20, 30, 40)).rsplit("-", 1)[0]
    assert readable == "micro-trunk-W50-to40-seed0"


def test_the_digest_is_8_lowercase_hex_digits():
    digest = trunk_id(wsd(), (300,)).rsplit("-", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{8}", digest)


def test_the_forks_are_hashed_not_only_the_last_one():
    # the same last fork with other checkpoints on the way is another trunk (it saves other steps)
    ids = {trunk_id(wsd(), forks) for forks in [(400,), (300, 400), (200, 400), (200, 300, 400)]}
    assert len(ids) == 4
    assert all(i.startswith("micro-trunk-W50-to400-seed0-") for i in ids)


# key → overrides (on top of WSD) that change it and must change the trunk id: everything a dense prefix computes
# with, plus the bookkeeping its logged records depend on (PREFIX_BOOKKEEPING)
HASHED = {
    "seed": ["seed=1"],
    "model.preset": ["model=nano"],
    "model.seq_len": ["model.seq_len=64"],
    "data.tokenizer": ["data.tokenizer=enwiki-bpe"],
    "data.val_fraction": ["data.val_fraction=0.1"],
    "train.batch_size": ["train.batch_size=16"],
    "train.device": ["train.device=cuda"],
    "optim.lr": ["optim.lr=3e-4"],
    "optim.beta1": ["optim.beta1=0.8"],
    "optim.beta2": ["optim.beta2=0.99"],
    "optim.eps": ["optim.eps=1e-6"],
    "optim.weight_decay": ["optim.weight_decay=0.0"],
    "optim.grad_clip": ["optim.grad_clip=0.5"],
    "optim.warmup_steps": ["optim.warmup_steps=7"],  # W = 7 instead of 50
    "optim.warmup_fraction": ["optim.warmup_fraction=0.1"],  # W = 100 instead of 50
    "budget.dense_steps (W = warmup_fraction × C)": ["budget.dense_steps=2000"],  # W = 100 instead of 50
    "deepspeed.zero_stage": ["deepspeed=zero1"],
    "train.log_every": ["train.log_every=1"],
    "train.eval_every": ["train.eval_every=7"],
    "train.eval_batches": ["train.eval_batches=9"],
    "train.workers": ["train.workers=2"],
}

# key → overrides that change it and must leave the trunk id alone: what acts only from the fork on (pruning,
# budget, decay, fine-tuning), and the bookkeeping a cell's records do not carry
IGNORED = {
    "pruning.schedule": ["pruning.schedule=cubic"],
    "pruning.sparsity": ["pruning.sparsity=0.8"],
    "pruning.start": ["pruning.start=0.1"],
    "pruning.end": ["pruning.end=0.9"],
    "pruning.every": ["pruning.every=50"],
    "budget.compute": ["budget.compute=total"],
    "optim.decay_fraction": ["optim.decay_fraction=0.5"],
    "optim.min_lr_ratio": ["optim.min_lr_ratio=0.0"],
    "finetune.steps (on)": ["finetune.steps=10"],
    "finetune.lr (on)": ["finetune.steps=10", "finetune.lr=1e-2"],
    "finetune.warmup_fraction (on)": ["finetune.steps=10", "finetune.warmup_fraction=0.3"],
    "results_dir": ["results_dir=/elsewhere"],
    "sweep": ["sweep=another"],
    "dry_run": ["dry_run=true"],
    "share_trunks": ["share_trunks=true"],
    "wandb.mode": ["wandb.mode=disabled"],
    "train.checkpoint_every": ["train.checkpoint_every=13"],
    "train.threads": ["train.threads=3"],
    "train.max_restarts": ["train.max_restarts=0"],
    "train.compile": ["train.compile=true"],
    "train.gpus_per_worker": ["train.gpus_per_worker=0.25"],
    "data.cache_dir": ["data.cache_dir=/tmp/another-cache"],
}


@pytest.mark.parametrize("key", sorted(HASHED))
def test_a_hashed_key_changes_the_trunk_id(key):
    base, changed = wsd(), wsd(*HASHED[key])
    assert changed != base  # the override took
    assert prefix_identity(changed) != prefix_identity(base)
    assert trunk_id(changed, (300,)) != trunk_id(base, (300,))


@pytest.mark.parametrize("key", sorted(IGNORED))
def test_an_ignored_key_keeps_the_trunk_id(key):
    base, changed = wsd(), wsd(*IGNORED[key])
    assert changed != base  # the override took
    assert prefix_identity(changed) == prefix_identity(base)
    assert trunk_id(changed, (200, 300, 400)) == trunk_id(base, (200, 300, 400)) \
        == "micro-trunk-W50-to400-seed0-ab0d8379"


def test_fine_tuning_is_left_out_whatever_its_length():
    # finetune.steps 10 and 20 keep the finetune section in the cell's semantic fields; the prefix drops it
    ten, twenty = wsd("finetune.steps=10"), wsd("finetune.steps=20")
    assert cell_id(ten) != cell_id(twenty)  # different cells...
    assert trunk_id(ten, (300,)) == trunk_id(twenty, (300,)) == "micro-trunk-W50-to300-seed0-ac2638ff"  # one trunk
    assert "finetune" not in prefix_identity(ten)


def test_the_prefix_identity_lists_its_sections_and_bookkeeping():
    config = wsd("train.log_every=3", "train.eval_every=11", "train.eval_batches=5", "train.workers=2")
    identity = prefix_identity(config)
    assert sorted(identity) == ["bookkeeping", "data", "deepspeed", "model", "optim", "seed", "train"]
    assert identity["bookkeeping"] == {"log_every": 3, "eval_every": 11, "eval_batches": 5, "workers": 2}
    assert PREFIX_BOOKKEEPING == ("log_every", "eval_every", "eval_batches", "workers")
    # the decay keys are gone, the warmup is W in steps (0.05 × 1000), the schedule stays
    assert sorted(identity["optim"]) == ["beta1", "beta2", "eps", "grad_clip", "lr", "schedule", "warmup_steps",
                                         "weight_decay"]
    assert identity["optim"]["warmup_steps"] == 50


def test_a_cosine_cells_prefix_identity_is_defined_without_its_decay_keys():
    # under cosine the cell's semantic fields have no decay_fraction (cosine drops the wsd keys): dropping the
    # decay keys must tolerate a key that is not there
    identity = prefix_identity(config_of("train.device=cpu"))
    assert "decay_fraction" not in identity["optim"] and "min_lr_ratio" not in identity["optim"]
    assert identity["bookkeeping"] == {"log_every": 10, "eval_every": 100, "eval_batches": 4, "workers": 1}


def test_a_sweeps_device_cpu_names_auto_cells_as_cpu_cells(monkeypatch):
    # a GPU driver naming the cells of a CPU sweep: `auto` is what the workers resolve it to, not this machine's
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    auto = config_of("train.device=auto", "optim.schedule=wsd")
    cpu, cuda = wsd(), config_of("train.device=cuda", "optim.schedule=wsd")
    assert cell_id(auto) == cell_id(cuda)  # this machine's hardware
    set_sweep_device("cpu")
    assert cell_id(auto) == cell_id(cpu) != cell_id(cuda)
    assert trunk_id(auto, (300,)) == trunk_id(cpu, (300,)) == "micro-trunk-W50-to300-seed0-ac2638ff"
    set_sweep_device("cuda")
    assert cell_id(auto) == cell_id(cuda)
    set_sweep_device(None)
    assert cell_id(auto) == cell_id(cuda)


@pytest.mark.parametrize("device", ["gpu", "CPU", "CUDA", "auto", ""])
def test_a_sweeps_device_is_cuda_or_cpu_exactly(device):
    with pytest.raises(ValueError, match=re.escape(f"a sweep's device is 'cuda' or 'cpu', got {device!r}")):
        set_sweep_device(device)
