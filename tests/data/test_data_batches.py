"""TokenBatches: each step's batch is a pure function of (seed, step); ranks split it without overlap."""
import numpy as np
import pytest
import torch

from orchestrator.data import DataError, TokenBatches


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "train.bin"
    np.arange(5000, dtype=np.int64).astype(np.uint16).tofile(path)  # token i = i: offsets are visible
    return path


def test_shapes_and_shift(token_file):
    data = TokenBatches(token_file, seq_len=16, dtype="uint16")
    assert data.n_tokens == 5000
    x, y = data.batch(0, batch_size=8, seed=1)
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(y[:, -1], x[:, -1] + 1)
    assert torch.equal(x - x[:, :1], torch.arange(16).expand(8, 16))  # contiguous windows
    assert int(x.min()) >= 0 and int(y.max()) <= 4999


def test_batch_is_a_function_of_seed_and_step(token_file):
    data = TokenBatches(token_file, seq_len=16, dtype="uint16")
    fresh = TokenBatches(token_file, seq_len=16, dtype="uint16")  # e.g. a resumed run: no hidden state
    a = data.batch(7, batch_size=8, seed=3)
    data.batch(8, batch_size=8, seed=3)
    b = fresh.batch(7, batch_size=8, seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(data.batch(8, batch_size=8, seed=3)[0], a[0])
    assert not torch.equal(data.batch(7, batch_size=8, seed=4)[0], a[0])


def test_rank_slices_make_up_the_single_process_batch(token_file):
    data = TokenBatches(token_file, seq_len=16, dtype="uint16")
    for step in (0, 5):
        x, y = data.batch(step, batch_size=8, seed=0)
        parts = [data.batch(step, batch_size=8, seed=0, rank=r, world_size=2) for r in range(2)]
        assert all(p[0].shape == (4, 16) for p in parts)
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)


def test_bad_rank_or_batch_size(token_file):
    data = TokenBatches(token_file, seq_len=16, dtype="uint16")
    with pytest.raises(ValueError, match=r"train\.batch_size"):
        data.batch(0, batch_size=7, seed=0, rank=0, world_size=2)
    with pytest.raises(ValueError, match=r"train\.workers"):
        data.batch(0, batch_size=8, seed=0, rank=2, world_size=2)


def test_eval_batches_are_fixed_disjoint_and_split_by_rank(token_file):
    data = TokenBatches(token_file, seq_len=16, dtype="uint16")
    first = list(data.eval_batches(3, batch_size=8))
    assert len(first) == 3 and all(x.shape == (8, 16) for x, _ in first)
    again = list(TokenBatches(token_file, seq_len=16, dtype="uint16").eval_batches(3, batch_size=8))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    starts = torch.cat([x[:, 0] for x, _ in first])
    assert int(starts[0]) == 0 and bool((starts.diff() >= 16).all())  # evenly spaced, no overlap
    assert all(torch.equal(y[:, :-1], x[:, 1:]) for x, y in first)
    halves = [list(data.eval_batches(3, batch_size=8, rank=r, world_size=2)) for r in range(2)]
    for b, (x, y) in enumerate(first):
        assert torch.equal(torch.cat([halves[0][b][0], halves[1][b][0]]), x)
        assert torch.equal(torch.cat([halves[0][b][1], halves[1][b][1]]), y)


def test_eval_batches_shrink_to_what_fits(tmp_path):
    path = tmp_path / "val.bin"
    np.arange(100, dtype=np.uint8).tofile(path)
    data = TokenBatches(path, seq_len=10, dtype="uint8")
    assert data.eval_batch_count(5, batch_size=4) == 2  # 9 disjoint windows → 2 batches of 4
    assert len(list(data.eval_batches(5, batch_size=4))) == 2
    tiny = TokenBatches(path, seq_len=60, dtype="uint8")  # fewer windows than one batch: overlapping ones
    (x, y), = list(tiny.eval_batches(5, batch_size=4))
    assert x.shape == (4, 60) and int(y.max()) == 99


def test_too_short_file_names_seq_len(tmp_path):
    path = tmp_path / "val.bin"
    np.zeros(17, dtype=np.uint8).tofile(path)
    with pytest.raises(DataError, match=r"model\.seq_len"):
        TokenBatches(path, seq_len=16, dtype="uint8")
    assert TokenBatches(path, seq_len=15, dtype="uint8").n_tokens == 17


def test_batches_from_the_prepared_embedded_corpus(data_cache):
    from orchestrator.data import ByteTokenizer, prepare_corpus

    prepared = prepare_corpus(None, cache_dir=data_cache)
    data = TokenBatches(prepared.train_path, seq_len=64, dtype=prepared.dtype)
    x, _ = data.batch(0, batch_size=4, seed=0)
    text = ByteTokenizer().decode(x.flatten())
    assert sum(c.isalpha() or c.isspace() for c in text) > 0.8 * len(text)
