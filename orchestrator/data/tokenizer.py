"""Tokenizers: text ↔ token ids. Only the byte-level one for now (vocab 256, nothing to download or train)."""
from __future__ import annotations

from typing import Iterable, Protocol

import numpy as np

TOKENIZERS = ("byte",)


class Tokenizer(Protocol):
    """What the data layer needs from a tokenizer."""

    name: str
    vocab_size: int

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: Iterable[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens: id = byte value, so every text round-trips and the vocabulary is 256."""

    name = "byte"
    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text` as a uint8 array (use `.tolist()` for a list of ints)."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (a list, numpy array or tensor); invalid UTF-8 becomes U+FFFD."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return "ByteTokenizer()"


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer called `name` (config field `data.tokenizer`)."""
    if name == "byte":
        return ByteTokenizer()
    raise ValueError(f"data.tokenizer: unknown tokenizer {name!r}; allowed: {', '.join(TOKENIZERS)}")
