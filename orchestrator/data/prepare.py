"""Tokenize a corpus once into cached token files: `train.bin`, `val.bin` (flat numpy arrays) and `meta.json`.

The cache folder is `<cache_dir>/<name>-<fingerprint>`; the fingerprint covers the source files (content hash for
the embedded corpus; path, size and mtime for user files), the tokenizer, the validation fraction and the format
version. A folder is written under a temporary name and renamed into place in one step, so readers only ever see
complete folders; when two processes prepare the same corpus at once, the first rename wins and the other process
uses its files (they are identical). The text is read, tokenized and checked before any folder is created, so bad
data (missing, empty, not UTF-8, too short for `min_split_tokens`) raises DataError with the cache untouched.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.data.errors import DataError
from orchestrator.data.sources import EMBEDDED_CORPUS, read_texts, source_files
from orchestrator.data.split import split_documents
from orchestrator.data.streams import TokenStream
from orchestrator.data.tokenizer import Tokenizer, get_tokenizer

FORMAT_VERSION = 1
DOCUMENT_SEPARATOR = "\n\n"  # tokens placed between consecutive documents of a split
ENCODE_BATCH = 1024  # documents per batch handed to the tokenizer


@dataclass(frozen=True)
class PreparedData:
    """A prepared corpus: where its tokens are (a stream per split) and what they hold."""

    train: TokenStream
    val: TokenStream
    n_train_tokens: int
    n_val_tokens: int
    vocab_size: int
    dtype: str  # numpy dtype name of the token files, e.g. "uint8"
    source: str  # human-readable description of where the text came from
    fingerprint: str

    @property
    def train_path(self) -> str:
        """The training split's file (a text corpus prepared here is one file per split)."""
        return _single_file(self.train)

    @property
    def val_path(self) -> str:
        return _single_file(self.val)


def _single_file(stream: TokenStream) -> str:
    if len(stream.spans) != 1 or stream.spans[0].start != 0:
        raise ValueError(f"this split is {stream.describe()}, not one whole file: use its TokenStream")
    return stream.spans[0].path


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every token id."""
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def _file_identity(path: str | os.PathLike | None) -> list:
    if path is None:  # the package file: its mtime changes with every install, its content does not
        return [["embedded", hashlib.blake2b(EMBEDDED_CORPUS.read_bytes(), digest_size=16).hexdigest()]]
    return [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in source_files(path)]


def fingerprint(path: str | os.PathLike | None, tokenizer: str, val_fraction: float) -> str:
    """Hex digest identifying the prepared data of (source files, tokenizer, val_fraction)."""
    key = {"format": FORMAT_VERSION, "files": _file_identity(path), "tokenizer": tokenizer,
           "val_fraction": repr(float(val_fraction))}
    return hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=16).hexdigest()


def _folder_name(path: str | os.PathLike | None, fp: str) -> str:
    name = "enwiki_sample" if path is None else Path(path).expanduser().name
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('.') or 'corpus'}-{fp[:16]}"


def write_split(file: Path, documents: list[np.ndarray], separator: np.ndarray, dtype: np.dtype) -> int:
    """Write documents joined by the separator as one flat array; returns the number of tokens."""
    n = 0
    with open(file, "wb") as f:
        for i, tokens in enumerate(documents):
            for part in ((separator, tokens) if i else (tokens,)):
                f.write(np.ascontiguousarray(part, dtype=dtype).tobytes())
                n += len(part)
        f.flush()
        os.fsync(f.fileno())
    return n


def _tokenize_splits(documents: list[str], tok: Tokenizer,
                     val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Token arrays of the train and validation documents (a lone document is cut at 1 - val_fraction)."""
    if len(documents) == 1:
        tokens = tok.encode(documents[0])
        if len(tokens) < 2:
            raise DataError("data.path: the corpus holds a single token; it cannot be split into train and "
                            "validation")
        cut = min(max(int(len(tokens) * (1 - val_fraction)), 1), len(tokens) - 1)
        return [tokens[:cut]], [tokens[cut:]]
    train, val = split_documents(documents, val_fraction)
    return _encode_all(train, tok, "tokenizing the training split"), _encode_all(val, tok, "tokenizing validation")


def _encode_all(documents: list[str], tok: Tokenizer, what: str) -> list[np.ndarray]:
    """Token arrays of the documents, encoded in batches (in parallel for a tokenizers file), with a progress bar on
    a terminal."""
    from tqdm import tqdm

    encoded: list[np.ndarray] = []
    with tqdm(total=len(documents), desc=what, unit="doc", disable=None, leave=False) as bar:
        for first in range(0, len(documents), ENCODE_BATCH):
            encoded += tok.encode_batch(documents[first:first + ENCODE_BATCH])
            bar.update(min(ENCODE_BATCH, len(documents) - first))
    return encoded


def _load(folder: Path, fp: str) -> PreparedData | None:
    """The prepared data in `folder` if it is complete and matches the fingerprint, else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    itemsize = np.dtype(meta.get("dtype", "uint8")).itemsize
    train, val = folder / "train.bin", folder / "val.bin"
    if (meta.get("fingerprint") != fp or not train.is_file() or not val.is_file()
            or train.stat().st_size != meta["n_train_tokens"] * itemsize
            or val.stat().st_size != meta["n_val_tokens"] * itemsize):
        return None
    return PreparedData(train=TokenStream.of_file(train, meta["dtype"]), val=TokenStream.of_file(val, meta["dtype"]),
                        n_train_tokens=meta["n_train_tokens"],
                        n_val_tokens=meta["n_val_tokens"], vocab_size=meta["vocab_size"], dtype=meta["dtype"],
                        source=meta["source"], fingerprint=fp)


@dataclass(frozen=True)
class TokenizedCorpus:
    """A corpus read and tokenized in memory, not yet written."""

    train: list[np.ndarray]
    val: list[np.ndarray]
    separator: np.ndarray
    dtype: np.dtype
    vocab_size: int
    source: str

    def n_tokens(self, documents: list[np.ndarray]) -> int:
        return sum(len(d) for d in documents) + len(self.separator) * max(len(documents) - 1, 0)


def tokenize_corpus(path: str | os.PathLike | None, tokenizer: str, val_fraction: float) -> TokenizedCorpus:
    documents, source = read_texts(path)
    tok = get_tokenizer(tokenizer)
    train, val = _tokenize_splits(documents, tok, val_fraction)
    return TokenizedCorpus(train=train, val=val, separator=tok.encode(DOCUMENT_SEPARATOR),
                            dtype=token_dtype(tok.vocab_size), vocab_size=tok.vocab_size, source=source)


def _write(folder: Path, corpus: TokenizedCorpus, tokenizer: str, val_fraction: float, fp: str) -> None:
    """Write the three files into `folder` (a fresh, private directory)."""
    n_train = write_split(folder / "train.bin", corpus.train, corpus.separator, corpus.dtype)
    n_val = write_split(folder / "val.bin", corpus.val, corpus.separator, corpus.dtype)
    meta = {"format": FORMAT_VERSION, "fingerprint": fp, "source": corpus.source, "tokenizer": tokenizer,
            "vocab_size": corpus.vocab_size, "dtype": corpus.dtype.name, "val_fraction": float(val_fraction),
            "n_train_tokens": n_train, "n_val_tokens": n_val, "n_train_documents": len(corpus.train),
            "n_val_documents": len(corpus.val), "document_separator": DOCUMENT_SEPARATOR}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def check_long_enough(n_train: int, n_val: int, source: str, min_split_tokens: int) -> None:
    for split, tokens in (("training", n_train), ("validation", n_val)):
        if tokens < min_split_tokens:
            raise DataError(f"data.path: the {split} split of {source} has {tokens} tokens, fewer than "
                            f"model.seq_len + 2 = {min_split_tokens}; use more text or a shorter model.seq_len")


def _set_aside(folder: Path, cache: Path) -> None:
    """Move an incomplete folder (not one this code wrote: it renames only complete folders) out of the way."""
    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".stale", dir=cache))
    try:
        os.replace(folder, trash / "old")
    except FileNotFoundError:
        pass
    shutil.rmtree(trash, ignore_errors=True)


def _cached(path: str | os.PathLike | None, tokenizer: str, val_fraction: float,
            cache_dir: str | os.PathLike) -> tuple[Path, str, PreparedData | None]:
    """(folder, fingerprint, the prepared data in that folder or None); reads only file metadata."""
    if not 0.0 < val_fraction < 0.5:
        raise DataError(f"data.val_fraction: must be in (0, 0.5), got {val_fraction}")
    name = get_tokenizer(tokenizer).name  # an unknown or unloadable tokenizer fails before any file is read
    fp = fingerprint(path, name, val_fraction)  # a tokenizer file enters by its content
    folder = Path(cache_dir).expanduser() / _folder_name(path, fp)
    return folder, fp, _load(folder, fp)


def check_corpus(path: str | os.PathLike | None, *, tokenizer: str = "byte", val_fraction: float = 0.05,
                 cache_dir: str | os.PathLike, min_split_tokens: int = 0) -> tuple[int, int, str]:
    """What `prepare_corpus` would raise for this corpus, writing nothing: from the cache when it holds the corpus,
    else by reading and tokenizing it in memory. Returns (training tokens, validation tokens, source)."""
    _, _, prepared = _cached(path, tokenizer, val_fraction, cache_dir)
    if prepared is not None:
        counts = prepared.n_train_tokens, prepared.n_val_tokens, prepared.source
    else:
        corpus = tokenize_corpus(path, tokenizer, val_fraction)
        counts = corpus.n_tokens(corpus.train), corpus.n_tokens(corpus.val), corpus.source
    check_long_enough(*counts, min_split_tokens)
    return counts


def prepare_corpus(path: str | os.PathLike | None, *, tokenizer: str = "byte", val_fraction: float = 0.05,
                   cache_dir: str | os.PathLike, min_split_tokens: int = 0) -> PreparedData:
    """Token files for `data.path` (None = the embedded corpus), built on first use and reused afterwards.
    `min_split_tokens` (model.seq_len + 2 for training): both splits must hold at least that many tokens."""
    folder, fp, prepared = _cached(path, tokenizer, val_fraction, cache_dir)
    if prepared is not None:
        check_long_enough(prepared.n_train_tokens, prepared.n_val_tokens, prepared.source, min_split_tokens)
        return prepared
    corpus = tokenize_corpus(path, tokenizer, val_fraction)  # bad text fails here, before anything is written
    check_long_enough(corpus.n_tokens(corpus.train), corpus.n_tokens(corpus.val), corpus.source, min_split_tokens)
    return _store(corpus, folder.parent, folder, tokenizer, val_fraction, fp)


def _store(corpus: TokenizedCorpus, cache: Path, folder: Path, tokenizer: str, val_fraction: float,
           fp: str) -> PreparedData:
    """Write the corpus under a temporary name in `cache`, then rename it into place as `folder`."""
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=cache))
    try:
        _write(staging, corpus, tokenizer, val_fraction, fp)
        try:
            os.replace(staging, folder)
        except OSError:  # another process renamed its (identical) folder into place first, or a stale one is there
            if _load(folder, fp) is None:
                _set_aside(folder, cache)
                os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    prepared = _load(folder, fp)
    if prepared is None:
        raise DataError(f"data.cache_dir: prepared data in {folder} is incomplete")
    return prepared
