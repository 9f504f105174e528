"""The embedded corpus and the tokenizer: real English text ships with the project; bytes round-trip."""
import gzip

import numpy as np
import pytest

from orchestrator.data import ByteTokenizer, get_tokenizer, read_texts
from orchestrator.data.sources import EMBEDDED_CORPUS


@pytest.fixture(scope="module")
def embedded():
    return read_texts(None)


def test_embedded_corpus_is_at_least_a_megabyte_of_articles(embedded):
    documents, source = embedded
    assert len(documents) >= 100
    assert sum(len(d.encode("utf-8")) for d in documents) >= 1_000_000
    assert "Wikipedia" in source and "CC BY-SA" in source


def test_embedded_corpus_is_clean_english_prose(embedded):
    documents, _ = embedded
    titles = [d.split("\n", 1)[0] for d in documents]
    assert {"Anarchism", "Albert Einstein", "Algorithm"} <= set(titles)
    text = "\n".join(documents)
    words = text.lower().split()
    for common in ("the", "of", "and", "is", "in"):
        assert words.count(common) > 1000, common
    for markup in ("{{", "}}", "[[", "]]", "<ref", "&nbsp;", "'''", "==", "[http", "thumb|"):
        assert markup not in text, markup
    assert all("\n\n" not in d and d == d.strip() for d in documents)


def test_embedded_file_is_a_deterministic_gzip():
    raw = EMBEDDED_CORPUS.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # mtime 0: re-running the extraction reproduces the file
    assert gzip.decompress(raw).decode("utf-8").count("\n\n") >= 99


@pytest.mark.parametrize("text", ["hello world", "", "naïve café — 東京 🚀\n\ttab", "a\x00b"])
def test_byte_tokenizer_round_trips(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert ids.dtype == np.uint8 and len(ids) == len(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.decode(ids.tolist()) == text


def test_byte_tokenizer_basics():
    tok = get_tokenizer("byte")
    assert isinstance(tok, ByteTokenizer) and tok.name == "byte" and tok.vocab_size == 256
    assert tok.encode("Aé").tolist() == [65, 0xC3, 0xA9]
    assert tok.decode([0xC3]) == "\ufffd"  # half a character decodes to the replacement character


def test_unknown_tokenizer_names_the_field():
    with pytest.raises(ValueError, match=r"data\.tokenizer.*'gpt2'.*byte"):
        get_tokenizer("gpt2")
