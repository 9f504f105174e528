"""data=tokens: flat uint16/uint32 token files with a tokens.json sidecar, as one file, shards, a glob or nanoGPT's
train.bin/val.bin; memory-mapped, split deterministically, checked before anything is written."""
import json

import numpy as np
import pytest

import orchestrator.data.token_files as token_files
from orchestrator.data import DataError, TokenBatches, prepare_tokens

VOCAB, EOS = 1000, 999


def corpus(n_tokens: int = 6000, seed: int = 0, document: int = 97) -> np.ndarray:
    """Random ids below EOS, with EOS closing every `document` tokens."""
    tokens = np.random.default_rng(seed).integers(0, EOS, n_tokens, dtype=np.uint16)
    tokens[document - 1::document] = EOS
    return tokens


def write(folder, parts: dict[str, np.ndarray], sidecar: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, tokens in parts.items():
        tokens.tofile(folder / name)
    if sidecar is not None:
        (folder / "tokens.json").write_text(json.dumps(sidecar))
    return folder


SIDECAR = {"dtype": "uint16", "vocab_size": VOCAB, "eos_id": EOS}


def batches_of(prepared, steps=range(5), seq_len=32):
    train, val = (TokenBatches(stream, seq_len=seq_len) for stream in (prepared.train, prepared.val))
    return ([train.batch(step, batch_size=4, seed=1) for step in steps],
            list(val.eval_batches(2, batch_size=4)))


def same(a, b) -> bool:
    return all((x == u).all() and (y == v).all() for (x, y), (u, v) in zip(a, b))


def test_one_file_and_its_shards_give_the_same_batches(tmp_path):
    tokens = corpus()
    single = write(tmp_path / "single", {"corpus.bin": tokens}, SIDECAR)
    sharded = write(tmp_path / "shards", {f"part-{i:02d}.bin": part for i, part in
                                          enumerate(np.split(tokens, [1000, 2500, 4000]))}, SIDECAR)
    one = prepare_tokens(single / "corpus.bin", cache_dir=tmp_path / "cache")
    many = prepare_tokens(sharded, cache_dir=tmp_path / "cache")
    globbed = prepare_tokens(str(sharded / "part-*.bin"), cache_dir=tmp_path / "cache")
    assert one.n_train_tokens == many.n_train_tokens == globbed.n_train_tokens
    assert len(many.train.spans) > 1 and one.vocab_size == many.vocab_size == VOCAB
    (train_a, val_a), (train_b, val_b) = batches_of(one), batches_of(many)
    assert same(train_a, train_b) and same(val_a, val_b)
    assert int(tokens[one.n_train_tokens - 1]) == EOS  # the split falls just after a document end


def test_batches_across_a_shard_boundary_are_the_concatenated_tokens(tmp_path):
    tokens = corpus(600)
    folder = write(tmp_path, {"a.bin": tokens[:250], "b.bin": tokens[250:]}, {"dtype": "uint16", "vocab_size": VOCAB})
    prepared = prepare_tokens(folder, val_fraction=0.4, cache_dir=tmp_path / "cache")
    assert prepared.n_train_tokens == 250  # no eos_id: cut at the shard boundary nearest 60 %
    whole = TokenBatches(prepared.train.slice(0, 250), seq_len=16)
    assert whole.n_tokens == 250
    from orchestrator.data.streams import OpenStream, TokenStream

    both = OpenStream(TokenStream.of_files([str(folder / "a.bin"), str(folder / "b.bin")], [250, 350], "uint16"))
    assert (both.read(240, 20) == tokens[240:260]).all()
    assert (both.windows(np.array([0, 245, 500]), 10) == np.stack([tokens[o:o + 10] for o in (0, 245, 500)])).all()


def test_nanogpt_train_and_val_files_are_the_split(tmp_path):
    folder = write(tmp_path, {"train.bin": corpus(5000), "val.bin": corpus(800, seed=1)}, SIDECAR)
    prepared = prepare_tokens(folder, cache_dir=tmp_path / "cache")
    assert (prepared.n_train_tokens, prepared.n_val_tokens) == (5000, 800)
    assert prepared.train_path.endswith("train.bin") and prepared.val_path.endswith("val.bin")


def test_a_single_file_without_document_ends_is_cut_at_the_token(tmp_path):
    folder = write(tmp_path, {"x.bin": corpus(1000)}, {"dtype": "uint16", "vocab_size": VOCAB})
    prepared = prepare_tokens(folder, val_fraction=0.1, cache_dir=tmp_path / "cache")
    assert (prepared.n_train_tokens, prepared.n_val_tokens) == (900, 100)


def test_uint32_and_config_overrides(tmp_path):
    tokens = (corpus(3000).astype(np.uint32) * 70)  # ids up to ~70k: beyond uint16
    folder = write(tmp_path, {"x.bin": tokens})
    prepared = prepare_tokens(folder, dtype="uint32", vocab_size=70_000, cache_dir=tmp_path / "cache")
    assert prepared.dtype == "uint32" and prepared.vocab_size == 70_000
    batches = TokenBatches(prepared.train, seq_len=64)
    assert max(int(batches.batch(step, batch_size=8, seed=0)[0].max()) for step in range(5)) > 65_535


def test_the_index_is_scanned_once_and_a_changed_file_is_scanned_again(tmp_path, monkeypatch):
    folder = write(tmp_path, {"x.bin": corpus()}, SIDECAR)
    scans = []
    original = token_files._max_id

    def counting(file, n_tokens, fmt, cache_dir):
        value, fresh = original(file, n_tokens, fmt, cache_dir)
        scans.append(fresh)
        return value, fresh

    monkeypatch.setattr(token_files, "_max_id", counting)
    prepare_tokens(folder, cache_dir=tmp_path / "cache", write_index=False)
    assert not (tmp_path / "cache").exists()  # the check before a sweep writes nothing
    prepare_tokens(folder, cache_dir=tmp_path / "cache")
    prepare_tokens(folder, cache_dir=tmp_path / "cache")
    assert scans == [True, True, False]
    corpus(seed=3).tofile(folder / "x.bin")  # new content, new mtime
    prepare_tokens(folder, cache_dir=tmp_path / "cache")
    assert scans[-1] is True


@pytest.mark.parametrize("case, field, planted", [
    ("id above the vocabulary", "data.vocab_size", lambda d: write(d, {"x.bin": np.full(500, 1500, np.uint16)},
                                                                  SIDECAR)),
    ("odd byte count", "data.dtype", lambda d: (write(d, {}, SIDECAR), (d / "x.bin").write_bytes(b"\x01" * 1001))),
    ("no sidecar", "tokens.json", lambda d: write(d, {"x.bin": corpus()})),
    ("sidecar not JSON", "tokens.json", lambda d: (write(d, {"x.bin": corpus()}), (d / "tokens.json").write_text("{"))),
    ("vocabulary beyond the dtype", "vocab_size", lambda d: write(d, {"x.bin": corpus()},
                                                                 {"dtype": "uint16", "vocab_size": 70_000})),
    ("unknown dtype", "dtype", lambda d: write(d, {"x.bin": corpus()}, {"dtype": "int8", "vocab_size": VOCAB})),
    ("unknown key", "unknown keys", lambda d: write(d, {"x.bin": corpus()}, SIDECAR | {"bos": 1})),
    ("eos outside the vocabulary", "eos_id", lambda d: write(d, {"x.bin": corpus()}, SIDECAR | {"eos_id": VOCAB})),
    ("an empty shard", "empty", lambda d: write(d, {"a.bin": corpus(), "b.bin": np.zeros(0, np.uint16)},
                                                SIDECAR)),
    ("no shards", "no *.bin", lambda d: write(d, {}, SIDECAR)),
    ("context longer than the corpus", "model.seq_len", lambda d: write(d, {"x.bin": corpus(300)}, SIDECAR)),
])
def test_bad_token_data_is_refused_naming_the_field_and_writing_nothing(tmp_path, case, field, planted):
    folder = tmp_path / "data"
    folder.mkdir()
    planted(folder)
    with pytest.raises(DataError, match=field.replace("*", r"\*")) as error:
        prepare_tokens(folder, cache_dir=tmp_path / "cache", min_split_tokens=130)
    assert str(folder) in str(error.value)
    assert not (tmp_path / "cache").exists()


def test_two_equal_shards_are_not_split_in_halves(tmp_path):
    """The nearest shard boundary is the cut only when it is near the asked fraction."""
    folder = write(tmp_path, {"a.bin": corpus(2000), "b.bin": corpus(2000, seed=1)},
                   {"dtype": "uint16", "vocab_size": VOCAB})
    prepared = prepare_tokens(folder, val_fraction=0.05, cache_dir=tmp_path / "cache")
    assert (prepared.n_train_tokens, prepared.n_val_tokens) == (3800, 200)


def test_many_shards_are_read_with_a_bounded_number_mapped(tmp_path, monkeypatch):
    import orchestrator.data.streams as streams

    monkeypatch.setattr(streams, "MAX_OPEN_SPANS", 2)
    tokens = corpus(5000)
    folder = write(tmp_path, {f"p{i:02d}.bin": part for i, part in enumerate(np.array_split(tokens, 25))}, SIDECAR)
    stream = streams.TokenStream.of_files(sorted(str(f) for f in folder.glob("*.bin")),
                                          [len(p) for p in np.array_split(tokens, 25)], "uint16")
    opened = streams.OpenStream(stream)
    offsets = np.random.default_rng(0).integers(0, 5000 - 300, 50)
    assert (opened.windows(offsets, 300) == np.stack([tokens[o:o + 300] for o in offsets])).all()
    assert len(opened._open) <= 2
