"""prepare_corpus: user text and the embedded corpus become cached token files, split by document."""
import gzip
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from orchestrator.data import DataError, PreparedData, epochs_for, prepare_corpus, read_texts
from orchestrator.data.split import is_validation, split_documents

DOCS = [f"Document {i}: " + "lorem ipsum dolor sit amet " * (5 + i) for i in range(60)]


def _write_dir(root: Path, docs=DOCS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        sub = root / ("b" if i % 2 else "a")
        sub.mkdir(exist_ok=True)
        (sub / f"doc{i:03d}.txt").write_text(doc, encoding="utf-8")
    return root


def _tokens(path: str, dtype: str) -> np.ndarray:
    return np.fromfile(path, dtype=dtype)


def test_embedded_corpus_prepares_deterministically(tmp_path, data_cache):
    first = prepare_corpus(None, cache_dir=data_cache)
    second = prepare_corpus(None, cache_dir=tmp_path / "other")
    assert isinstance(first, PreparedData) and first.dtype == "uint8" and first.vocab_size == 256
    assert first.n_train_tokens > 1_000_000 and first.n_val_tokens > 10_000
    assert first.fingerprint == second.fingerprint
    for a, b in [(first.train_path, second.train_path), (first.val_path, second.val_path)]:
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert (Path(first.train_path).parent / "meta.json").read_bytes() == \
        (Path(second.train_path).parent / "meta.json").read_bytes()
    assert os.path.getsize(first.train_path) == first.n_train_tokens


def test_second_call_reuses_the_cache(tmp_path):
    corpus = _write_dir(tmp_path / "corpus")
    first = prepare_corpus(corpus, cache_dir=tmp_path / "cache")
    stamps = {p: os.stat(p).st_mtime_ns for p in (first.train_path, first.val_path)}
    again = prepare_corpus(str(corpus), cache_dir=tmp_path / "cache")
    assert again == first
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [Path(first.train_path).parent.name]


def test_cache_key_changes_with_settings_and_content(tmp_path):
    corpus = _write_dir(tmp_path / "corpus")
    base = prepare_corpus(corpus, cache_dir=tmp_path / "cache")
    other_fraction = prepare_corpus(corpus, val_fraction=0.2, cache_dir=tmp_path / "cache")
    assert other_fraction.fingerprint != base.fingerprint
    (corpus / "a" / "doc000.txt").write_text("changed text, longer than before", encoding="utf-8")
    assert prepare_corpus(corpus, cache_dir=tmp_path / "cache").fingerprint != base.fingerprint


def test_split_is_by_document_and_both_sides_non_empty(tmp_path):
    corpus = _write_dir(tmp_path / "corpus")
    prepared = prepare_corpus(corpus, val_fraction=0.2, cache_dir=tmp_path / "cache")
    documents, _ = read_texts(corpus)
    train_text = _tokens(prepared.train_path, prepared.dtype).tobytes().decode()
    val_text = _tokens(prepared.val_path, prepared.dtype).tobytes().decode()
    train_docs, val_docs = train_text.split("\n\n"), val_text.split("\n\n")
    assert train_docs and val_docs
    assert sorted(train_docs + val_docs) == sorted(documents)  # every document whole, in exactly one split
    assert val_docs == [d for d in documents if is_validation(d, 0.2)]
    assert 0.05 < len(val_docs) / len(documents) < 0.4
    assert prepared.n_train_tokens + prepared.n_val_tokens + 2 == sum(len(d) for d in documents) + 2 * 59


def test_split_always_leaves_both_sides_non_empty():
    docs = ["one", "two"]
    for fraction in (0.001, 0.49):
        train, val = split_documents(docs, fraction)
        assert train and val and sorted(train + val) == docs
    assert split_documents(["x"] * 5, 0.001) == (["x"] * 4, ["x"])  # nothing hashed to validation: last moves


def test_single_user_file_is_cut_by_tokens(tmp_path):
    text = "The quick brown fox jumps over the lazy dog. " * 100
    (tmp_path / "book.txt").write_text(text, encoding="utf-8")
    prepared = prepare_corpus(tmp_path / "book.txt", val_fraction=0.1, cache_dir=tmp_path / "cache")
    cut = int(len(text) * 0.9)
    assert (prepared.n_train_tokens, prepared.n_val_tokens) == (cut, len(text) - cut)
    joined = _tokens(prepared.train_path, "uint8").tobytes() + _tokens(prepared.val_path, "uint8").tobytes()
    assert joined.decode() == text  # a user file's text is kept exactly
    assert "book.txt" in prepared.source


def test_user_directory_reads_txt_md_and_gz_sorted(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "b.md").write_text("# Bee\nmarkdown", encoding="utf-8")
    (root / "a.txt").write_text("plain text", encoding="utf-8")
    (root / "sub" / "c.txt.gz").write_bytes(gzip.compress("zipped text".encode()))
    (root / "ignored.csv").write_text("x,y")
    (root / ".hidden.txt").write_text("hidden")
    (root / "empty.txt").write_text("  \n")
    documents, source = read_texts(root)
    assert documents == ["plain text", "# Bee\nmarkdown", "zipped text"]
    assert "3 non-empty files" in source
    prepared = prepare_corpus(root, cache_dir=tmp_path / "cache")
    assert prepared.n_train_tokens > 0 and prepared.n_val_tokens > 0


def _expect_data_path_error(path, match=""):
    with pytest.raises(DataError, match=r"data\.path") as info:
        read_texts(path)
    assert str(path) in str(info.value) and match in str(info.value)
    with pytest.raises(DataError, match=r"data\.path"):
        prepare_corpus(path, cache_dir=Path(path).parent / "cache")


def test_bad_paths_raise_data_errors_naming_data_path(tmp_path):
    _expect_data_path_error(tmp_path / "missing.txt", "no such file")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / "notes.csv").write_text("not text")
    _expect_data_path_error(tmp_path / "empty_dir", "no *.txt")
    (tmp_path / "blank.txt").write_text(" \n\t\n")
    _expect_data_path_error(tmp_path / "blank.txt", "empty")
    (tmp_path / "blanks").mkdir()
    (tmp_path / "blanks" / "a.txt").write_text("")
    _expect_data_path_error(tmp_path / "blanks", "empty")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    _expect_data_path_error(tmp_path / "latin1.txt", "not UTF-8")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "good.txt").write_text("fine")
    (tmp_path / "mixed" / "bad.txt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"data\.path.*bad\.txt\.gz"):
        read_texts(tmp_path / "mixed")


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


@pytest.mark.parametrize("fraction", [0.0, 0.5, -0.1, 1.0, float("nan")])
def test_val_fraction_is_validated(tmp_path, fraction):
    with pytest.raises(DataError, match=r"data\.val_fraction"):
        prepare_corpus(None, val_fraction=fraction, cache_dir=tmp_path)


def test_unknown_tokenizer_fails_before_reading(tmp_path):
    with pytest.raises(ValueError, match=r"data\.tokenizer"):
        prepare_corpus(tmp_path / "missing", tokenizer="bpe", cache_dir=tmp_path)


def test_concurrent_prepares_agree(tmp_path):
    corpus = _write_dir(tmp_path / "corpus")
    results, errors = [], []

    def prepare():
        try:
            results.append(prepare_corpus(corpus, cache_dir=tmp_path / "cache"))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=prepare) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4 and len(set(results)) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [Path(results[0].train_path).parent.name]


def test_stale_cache_folder_is_rebuilt(tmp_path):
    corpus = _write_dir(tmp_path / "corpus")
    prepared = prepare_corpus(corpus, cache_dir=tmp_path / "cache")
    Path(prepared.val_path).write_bytes(b"truncated")
    assert prepare_corpus(corpus, cache_dir=tmp_path / "cache") == prepared
    assert os.path.getsize(prepared.val_path) == prepared.n_val_tokens


def test_epochs_for():
    assert epochs_for(3000, 1000) == 3.0
    assert epochs_for(0, 10) == 0.0
    with pytest.raises(ValueError):
        epochs_for(10, 0)
