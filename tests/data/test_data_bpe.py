"""Text through a real subword tokenizer, offline: the BPE that ships with the embedded corpus (and any
tokenizers .json file) → token files → batches → text again; the cache follows the tokenizer's content."""
import json
import shutil

import numpy as np
import pytest

from orchestrator.data import DataError, TokenBatches, get_tokenizer, prepare_corpus, read_texts
from orchestrator.data.corpus.train_bpe import OUT, VOCAB_SIZE, train_bpe
from orchestrator.data.prepare import DOCUMENT_SEPARATOR
from orchestrator.data.split import split_documents


def test_the_shipped_bpe_is_what_its_recipe_trains():
    assert json.loads(train_bpe().to_str()) == json.loads(OUT.read_text())
    assert get_tokenizer("enwiki-bpe").vocab_size == VOCAB_SIZE


def test_text_to_bpe_tokens_to_batches_and_back(tmp_path):
    tokenizer = get_tokenizer("enwiki-bpe")
    prepared = prepare_corpus(None, tokenizer="enwiki-bpe", cache_dir=tmp_path)
    assert prepared.vocab_size == VOCAB_SIZE and prepared.dtype == "uint16"
    documents, _ = read_texts(None)
    train_documents, _ = split_documents(documents, 0.05)
    tokens = np.fromfile(prepared.train_path, dtype=prepared.dtype)
    assert tokenizer.decode(tokens) == DOCUMENT_SEPARATOR.join(train_documents)
    assert len(tokens) < 0.5 * sum(len(d.encode()) for d in train_documents)  # subwords, not bytes
    x, y = TokenBatches(prepared.train, seq_len=64).batch(0, batch_size=4, seed=0)
    assert int(x.max()) < VOCAB_SIZE and (x[:, 1:] == y[:, :-1]).all()
    assert tokenizer.decode(x[0]) in tokenizer.decode(tokens)


def test_the_cache_follows_the_tokenizer_file_s_content(tmp_path):
    path = tmp_path / "tok.json"
    shutil.copy(OUT, path)
    first = prepare_corpus(None, tokenizer=str(path), cache_dir=tmp_path / "cache")
    assert prepare_corpus(None, tokenizer="enwiki-bpe", cache_dir=tmp_path / "cache").fingerprint == first.fingerprint
    train_bpe(vocab_size=1024).save(str(path))
    second = prepare_corpus(None, tokenizer=str(path), cache_dir=tmp_path / "cache")
    assert second.fingerprint != first.fingerprint and second.vocab_size == 1024


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"version": "1.0"}'])
def test_a_tokenizer_that_does_not_load_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"data\.tokenizer: cannot load .*broken\.json"):
        prepare_corpus(None, tokenizer=str(path), cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    with pytest.raises(DataError, match=r"data\.tokenizer: cannot load .*missing\.json"):
        get_tokenizer(str(tmp_path / "missing.json"))
