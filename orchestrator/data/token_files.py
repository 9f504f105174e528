"""`data=tokens`: a corpus tokenized elsewhere, as flat little-endian uint16 or uint32 token files: nanoGPT's
`train.bin`/`val.bin`, or shards of an OLMo- or Megatron-style pipeline.

- `data.path` is one file, a directory of `*.bin` shards, or a glob; the files are read in name order as one stream.
- A `tokens.json` sidecar beside them (in the directory, the file's folder, or the glob's folder) gives `dtype`,
  `vocab_size` and optionally `eos_id`; `data.dtype`, `data.vocab_size` and `data.eos_id` override it.
- The split: a directory holding `train.bin` and `val.bin` is split by them. Otherwise the stream is cut at
  1 − data.val_fraction of its tokens: just after the first document end (`eos_id`) from there when `eos_id` is
  known; else at the nearest shard boundary when there are several files and one lies within half the held-out
  share of that point; else at that token.
- Checks, before anything is written, each a DataError naming the file and the field: a size that is not a multiple
  of the dtype's width, an empty file, a missing or contradictory sidecar, a token id ≥ vocab_size.
- Files are memory-mapped, never read whole. The largest token id of each file is the only full pass; it is kept in
  `<data cache>/token_index/` (keyed by the file's path, size and modification time), so a 100 GB corpus costs a
  scan once and nothing at later start-ups. The check before a sweep scans without writing; the first cell writes.
"""
from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orchestrator.data.errors import DataError
from orchestrator.data.prepare import PreparedData, check_long_enough
from orchestrator.data.streams import OpenStream, TokenStream

TOKEN_DTYPES = ("uint16", "uint32")
SIDECAR = "tokens.json"
SHARD_SUFFIX = ".bin"
SCAN_CHUNK = 1 << 24  # tokens per read while scanning


@dataclass(frozen=True)
class TokenFormat:
    dtype: str
    vocab_size: int
    eos_id: int | None


def find_token_files(path: str | os.PathLike) -> tuple[list[Path], Path]:
    """(the token files of `data.path` in reading order, the folder of their sidecar)."""
    text = os.path.expanduser(str(path))
    if glob.has_magic(text):
        files = sorted(Path(f) for f in glob.glob(text) if Path(f).is_file() and Path(f).name != SIDECAR)
        if not files:
            raise DataError(f"data.path: no files match {text}")
        fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), Path(text).parts))
        return files, Path(*fixed) if fixed else Path(".")
    root = Path(text)
    if root.is_file():
        return [root], root.parent
    if not root.is_dir():
        raise DataError(f"data.path: no such file or directory: {root}")
    files = sorted(f for f in root.iterdir() if f.is_file() and f.name.endswith(SHARD_SUFFIX)
                   and not f.name.startswith("."))
    if not files:
        raise DataError(f"data.path: no *{SHARD_SUFFIX} token files in directory {root}")
    return files, root


def read_format(folder: Path, dtype: str | None, vocab_size: int | None, eos_id: int | None) -> TokenFormat:
    """The sidecar's format with the config's overrides; DataError when it is missing, unreadable or contradictory."""
    sidecar, found = folder / SIDECAR, {}
    if sidecar.is_file():
        try:
            found = json.loads(sidecar.read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"data.path: {sidecar} is not readable JSON ({error})") from None
        if not isinstance(found, dict):
            raise DataError(f"data.path: {sidecar} must hold a JSON object {{\"dtype\", \"vocab_size\", \"eos_id\"?}}")
        unknown = sorted(set(found) - {"dtype", "vocab_size", "eos_id"})
        if unknown:
            raise DataError(f"data.path: {sidecar} has unknown keys {unknown} (allowed: dtype, vocab_size, eos_id)")
    elif dtype is None or vocab_size is None:
        raise DataError(f"data.path: no {SIDECAR} in {folder}; write one ({{\"dtype\": \"uint16\", \"vocab_size\": "
                        "50257, \"eos_id\": 50256}}) or set data.dtype and data.vocab_size")
    fmt = TokenFormat(dtype if dtype is not None else found.get("dtype"),
                      vocab_size if vocab_size is not None else found.get("vocab_size"),
                      eos_id if eos_id is not None else found.get("eos_id"))
    where = f"{sidecar} (or data.{{}})" if sidecar.is_file() else "data.{}"
    if fmt.dtype not in TOKEN_DTYPES:
        raise DataError(f"{where.format('dtype')}: dtype must be one of {list(TOKEN_DTYPES)}, got {fmt.dtype!r}")
    if not isinstance(fmt.vocab_size, int) or isinstance(fmt.vocab_size, bool) or fmt.vocab_size < 2:
        raise DataError(f"{where.format('vocab_size')}: vocab_size must be an integer >= 2, got {fmt.vocab_size!r}")
    if fmt.vocab_size > np.iinfo(fmt.dtype).max + 1:
        raise DataError(f"{where.format('vocab_size')}: vocab_size {fmt.vocab_size} does not fit {fmt.dtype} "
                        f"(at most {np.iinfo(fmt.dtype).max + 1}); the sidecar contradicts itself")
    if fmt.eos_id is not None and (not isinstance(fmt.eos_id, int) or not 0 <= fmt.eos_id < fmt.vocab_size):
        raise DataError(f"{where.format('eos_id')}: eos_id must be an integer in [0, vocab_size = "
                        f"{fmt.vocab_size}), got {fmt.eos_id!r}")
    return fmt


def _n_tokens(file: Path, fmt: TokenFormat) -> int:
    size, width = file.stat().st_size, np.dtype(fmt.dtype).itemsize
    if size % width:
        raise DataError(f"data.dtype: {file} holds {size} bytes, not a multiple of {width} ({fmt.dtype}): is the "
                        "dtype right?")
    if size == 0:
        raise DataError(f"data.path: {file} is empty")
    return size // width


def _index_file(cache_dir: Path, file: Path, fmt: TokenFormat) -> Path:
    stat = file.stat()
    key = json.dumps([str(file.resolve()), stat.st_size, stat.st_mtime_ns, fmt.dtype])
    return cache_dir / "token_index" / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.json"


def _max_id(file: Path, n_tokens: int, fmt: TokenFormat, cache_dir: Path) -> tuple[int, bool]:
    """(largest token id in the file, whether it was scanned now rather than read from the index)."""
    try:
        return json.loads(_index_file(cache_dir, file, fmt).read_text())["max_id"], False
    except (OSError, ValueError, KeyError):
        pass
    tokens = np.memmap(file, dtype=fmt.dtype, mode="r", shape=(n_tokens,))
    return max(int(tokens[i:i + SCAN_CHUNK].max()) for i in range(0, n_tokens, SCAN_CHUNK)), True


def _write_index(cache_dir: Path, file: Path, fmt: TokenFormat, max_id: int) -> None:
    target = _index_file(cache_dir, file, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".tmp", delete=False) as handle:
        json.dump({"path": str(file.resolve()), "max_id": max_id}, handle)
    os.replace(handle.name, target)


def _cut(stream: TokenStream, sizes: list[int], fmt: TokenFormat, val_fraction: float) -> int:
    """Where the training split ends in the stream (see the module docstring)."""
    total = stream.n_tokens
    point = min(max(int(total * (1 - val_fraction)), 1), total - 1)
    if fmt.eos_id is not None:
        tokens, position = OpenStream(stream), point
        while position < total:
            chunk = tokens.read(position, min(SCAN_CHUNK, total - position))
            ends = np.flatnonzero(chunk == fmt.eos_id)
            if len(ends):
                cut = position + int(ends[0]) + 1  # the validation split starts with the next document
                return cut if cut < total else point
            position += len(chunk)
        return point
    if len(sizes) > 1:  # the nearest shard boundary, if it is within half the held-out share of the point
        boundaries = np.cumsum(sizes)[:-1]
        nearest = int(boundaries[np.argmin(np.abs(boundaries - point))])
        if abs(nearest - point) <= val_fraction * total / 2:
            return nearest
    return point


@dataclass(frozen=True)
class TokenCorpus:
    """A checked pre-tokenized corpus: its splits as streams, and what the cell records about it."""

    train: TokenStream
    val: TokenStream
    fmt: TokenFormat
    source: str
    fingerprint: str


def prepare_tokens(path: str | os.PathLike, *, dtype: str | None = None, vocab_size: int | None = None,
                   eos_id: int | None = None, val_fraction: float = 0.05, cache_dir: str | os.PathLike,
                   min_split_tokens: int = 0, write_index: bool = True) -> PreparedData:
    """The prepared data of a pre-tokenized corpus (nothing is copied: its splits are spans of the user's files).
    `min_split_tokens` (model.seq_len + 2): both splits must hold at least that many tokens. `write_index` False
    (the check before a sweep) writes nothing."""
    corpus = open_token_corpus(path, dtype=dtype, vocab_size=vocab_size, eos_id=eos_id, val_fraction=val_fraction,
                               cache_dir=cache_dir, min_split_tokens=min_split_tokens, write_index=write_index)
    return PreparedData(train=corpus.train, val=corpus.val, n_train_tokens=corpus.train.n_tokens,
                        n_val_tokens=corpus.val.n_tokens, vocab_size=corpus.fmt.vocab_size, dtype=corpus.fmt.dtype,
                        source=corpus.source, fingerprint=corpus.fingerprint)


def open_token_corpus(path: str | os.PathLike, *, dtype: str | None = None, vocab_size: int | None = None,
                      eos_id: int | None = None, val_fraction: float = 0.05, cache_dir: str | os.PathLike,
                      min_split_tokens: int = 0, write_index: bool = True) -> TokenCorpus:
    """Check `data.path` and describe its splits. `write_index` False (the check before a sweep) writes nothing."""
    files, folder = find_token_files(path)
    fmt = read_format(folder, dtype, vocab_size, eos_id)
    sizes = [_n_tokens(f, fmt) for f in files]
    cache, scanned = Path(cache_dir).expanduser(), []
    for file, n in zip(files, sizes):
        max_id, fresh = _max_id(file, n, fmt, cache)
        if max_id >= fmt.vocab_size:
            raise DataError(f"data.vocab_size: {file} holds token id {max_id}, not below vocab_size = "
                            f"{fmt.vocab_size} ({SIDECAR} or data.vocab_size)")
        if fresh:
            scanned.append((file, max_id))
    names = {f.name for f in files}
    if {"train.bin", "val.bin"} <= names and len(files) > 1:
        by_name = dict(zip((f.name for f in files), zip(files, sizes)))
        train, val = (TokenStream.of_files([str(by_name[n][0])], [by_name[n][1]], fmt.dtype)
                      for n in ("train.bin", "val.bin"))
    else:
        stream = TokenStream.of_files([str(f) for f in files], sizes, fmt.dtype)
        cut = _cut(stream, sizes, fmt, val_fraction)
        train, val = stream.slice(0, cut), stream.slice(cut, stream.n_tokens)
    source = f"token files {files[0]}" if len(files) == 1 else f"{len(files)} token files in {folder}"
    check_long_enough(train.n_tokens, val.n_tokens, source, min_split_tokens)
    if write_index:
        for file, max_id in scanned:
            _write_index(cache, file, fmt, max_id)
    identity = [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    fingerprint = hashlib.blake2b(json.dumps([identity, fmt.__dict__, repr(val_fraction)]).encode(),
                                  digest_size=16).hexdigest()
    return TokenCorpus(train, val, fmt, source, fingerprint)
