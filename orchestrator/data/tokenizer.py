"""Tokenizers: text ↔ token ids. `byte` (the default: vocab 256, nothing to download or train), the BPE that ships
with the embedded corpus (`enwiki-bpe`, trained by `corpus/train_bpe.py`), or any Hugging Face `tokenizers` file
(`data.tokenizer=/path/to/tokenizer.json`: BPE, WordPiece, Unigram, as `tokenizers` saves them)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from orchestrator.data.errors import DataError

BUNDLED = {"enwiki-bpe": Path(__file__).resolve().parent / "corpus" / "enwiki_bpe.json"}
TOKENIZERS = ("byte", *BUNDLED, "<path>.json")


class Tokenizer(Protocol):
    """What the data layer needs from a tokenizer."""

    name: str
    vocab_size: int

    def encode(self, text: str) -> np.ndarray: ...

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]: ...

    def decode(self, ids: Iterable[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens: id = byte value, so every text round-trips and the vocabulary is 256."""

    name = "byte"
    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text` as a uint8 array (use `.tolist()` for a list of ints)."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [self.encode(text) for text in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (a list, numpy array or tensor); invalid UTF-8 becomes U+FFFD."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "ByteTokenizer()"


class FileTokenizer:
    """A Hugging Face `tokenizers` tokenizer from its JSON file. Its name carries a hash of the file's content, so a
    changed tokenizer makes a new token cache. Batches are encoded in parallel (the library's threads)."""

    def __init__(self, path: str | Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(path).expanduser()
        try:
            content = path.read_bytes()
            self._tokenizer = HFTokenizer.from_str(content.decode("utf-8"))
        except Exception as error:  # OSError, UnicodeDecodeError, or the library's own Exception for bad JSON
            raise DataError(f"data.tokenizer: cannot load {path} as a tokenizers file: {error}") from None
        self.path = path
        self.vocab_size = max(self._tokenizer.get_vocab(with_added_tokens=True).values(), default=0) + 1
        self.name = f"tokenizer:{hashlib.blake2b(content, digest_size=16).hexdigest()}"
        self._dtype = np.uint16 if self.vocab_size <= 2**16 else np.uint32

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tokenizer.encode(text, add_special_tokens=False).ids, dtype=self._dtype)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=self._dtype)
                for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def __repr__(self) -> str:
        return f"FileTokenizer({str(self.path)!r})"


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer of config field `data.tokenizer`: `byte`, a bundled name, or the path of a tokenizer.json."""
    if name == "byte":
        return ByteTokenizer()
    if name in BUNDLED:
        return FileTokenizer(BUNDLED[name])
    if str(name).endswith(".json"):
        return FileTokenizer(name)
    raise DataError(f"data.tokenizer: unknown tokenizer {name!r}; allowed: byte, {', '.join(BUNDLED)}, or the path "
                    "of a tokenizers .json file")
