"""A cell on pre-tokenized data (data=tokens): the model's vocabulary is the data's, resume is exact, and the ranks
of a worker group read disjoint rows of one global batch."""
import json

import numpy as np
import pytest
import torch

from conftest import build
from orchestrator.cell.run import run_cell
from orchestrator.data import TokenBatches, prepare_tokens
from orchestrator.store.files import MetricsLog

VOCAB, EOS = 1000, 999


@pytest.fixture
def shards(tmp_path):
    """Three uint16 shards of a 9,000-token corpus (documents of 97 tokens) with their tokens.json."""
    tokens = np.random.default_rng(0).integers(0, EOS, 9000, dtype=np.uint16)
    tokens[96::97] = EOS
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, part in enumerate(np.split(tokens, [3000, 6000])):
        part.tofile(folder / f"part-{i}.bin")
    (folder / "tokens.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": VOCAB, "eos_id": EOS}))
    return folder


def run(overrides, **kwargs):
    return run_cell(*build(overrides), **kwargs)


@pytest.mark.parametrize("multiple, vocab", [(1, VOCAB), (64, 1024)])
def test_the_vocabulary_is_the_data_s(tiny, shards, multiple, vocab):
    outcome = run(tiny + ["data=tokens", f"data.path={shards}", f"model.vocab_multiple={multiple}",
                          "pruning=geometric", "pruning.sparsity=0.5"])
    assert outcome.status == "done"
    model = torch.load(outcome.paths.final_model, weights_only=True)
    assert model["token_embedding.weight"].shape[0] == model["lm_head.weight"].shape[0] == vocab
    assert outcome.result["vocab_size"] == vocab and outcome.result["data_vocab_size"] == VOCAB
    # the accounting follows: the prunable weights are the block linears and this LM head
    assert outcome.result["initial_params"] == sum(v.numel() for k, v in model.items()
                                                   if v.dim() == 2 and not k.endswith("embedding.weight"))


def test_resume_on_token_files_is_exact(tiny, shards, tmp_path):
    overrides = tiny + ["data=tokens", f"data.path={shards}", "pruning=geometric", "pruning.sparsity=0.5"]
    whole = run(overrides)
    resumed_overrides = overrides + [f"results_dir={tmp_path / 'resumed'}"]
    assert run(resumed_overrides, stop_after_step=13).status == "interrupted"
    resumed = run(resumed_overrides)
    records = [MetricsLog(o.paths.metrics).read() for o in (whole, resumed)]
    assert records[0] == [r | {"step_time": a["step_time"]} if "step_time" in r else r
                          for r, a in zip(records[1], records[0])]
    a, b = (torch.load(o.paths.final_model, weights_only=True) for o in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_ranks_read_disjoint_rows_of_one_global_batch(shards, tmp_path):
    prepared = prepare_tokens(shards, cache_dir=tmp_path / "cache")
    assert len(prepared.train.spans) == 3
    batches = TokenBatches(prepared.train, seq_len=32)
    for step in range(5):
        whole, _ = batches.batch(step, batch_size=8, seed=3)
        halves = [batches.batch(step, batch_size=8, seed=3, rank=r, world_size=2)[0] for r in (0, 1)]
        assert torch.equal(torch.cat(halves), whole)
        assert not any(torch.equal(a, b) for a in halves[0] for b in halves[1])
