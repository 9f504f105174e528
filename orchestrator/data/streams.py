"""A split of a corpus as one stream of tokens: spans of flat token files read back to back.

A text corpus prepared by this package is one file per split; a pre-tokenized corpus (`data=tokens`) may be many
shards, and its split may cut one of them. `TokenStream` describes either as (file, first token, end token) spans,
picklable and cheap: nothing is opened until `TokenBatches` memory-maps the spans.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


MAX_OPEN_SPANS = 64


@dataclass(frozen=True)
class Span:
    """Tokens [start, stop) of the flat token file `path`."""

    path: str
    start: int
    stop: int

    @property
    def n_tokens(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class TokenStream:
    spans: tuple[Span, ...]
    dtype: str  # numpy dtype name of the files: uint8, uint16 or uint32

    @classmethod
    def of_file(cls, path: str | os.PathLike, dtype: str) -> TokenStream:
        """The whole of one token file."""
        return cls((Span(str(path), 0, os.path.getsize(path) // np.dtype(dtype).itemsize),), np.dtype(dtype).name)

    @classmethod
    def of_files(cls, paths: list[str], sizes: list[int], dtype: str) -> TokenStream:
        """Whole files of `sizes` tokens, one after the other."""
        return cls(tuple(Span(str(p), 0, n) for p, n in zip(paths, sizes)), np.dtype(dtype).name)

    @property
    def n_tokens(self) -> int:
        return sum(span.n_tokens for span in self.spans)

    def slice(self, first: int, last: int) -> TokenStream:
        """Tokens [first, last) of the stream."""
        spans, offset = [], 0
        for span in self.spans:
            begin, end = max(first - offset, 0), min(last - offset, span.n_tokens)
            if begin < end:
                spans.append(Span(span.path, span.start + begin, span.start + end))
            offset += span.n_tokens
        return TokenStream(tuple(spans), self.dtype)

    def describe(self) -> str:
        files = sorted({span.path for span in self.spans})
        where = files[0] if len(files) == 1 else f"{len(files)} files ({files[0]} …)"
        return f"{self.n_tokens} tokens of {where}"


class OpenStream:
    """The spans of a TokenStream read as one array. Spans are memory-mapped when first read and at most
    MAX_OPEN_SPANS stay mapped (each map holds a file descriptor: a corpus of thousands of shards would exhaust
    them); nothing is read until indexed."""

    def __init__(self, stream: TokenStream) -> None:
        self._spans, self._dtype = stream.spans, np.dtype(stream.dtype)
        self._starts = np.cumsum([0] + [span.n_tokens for span in stream.spans])
        self.n_tokens = int(self._starts[-1])
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()

    def _map(self, index: int) -> np.ndarray:
        if index in self._open:
            self._open.move_to_end(index)
            return self._open[index]
        span = self._spans[index]
        n_file = os.path.getsize(span.path) // self._dtype.itemsize
        tokens = np.memmap(span.path, dtype=self._dtype, mode="r", shape=(n_file,))[span.start:span.stop]
        self._open[index] = tokens
        if len(self._open) > MAX_OPEN_SPANS:
            self._open.popitem(last=False)
        return tokens

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) of the stream, across span boundaries."""
        index = int(np.searchsorted(self._starts, start, side="right")) - 1
        parts = []
        while length > 0:
            local = start - int(self._starts[index])
            part = self._map(index)[local:local + length]
            parts.append(part)
            start, length, index = start + len(part), length - len(part), index + 1
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def windows(self, offsets: np.ndarray, length: int) -> np.ndarray:
        """(len(offsets), length) tokens: row i is tokens [offsets[i], offsets[i] + length)."""
        if len(self._spans) == 1:  # one span: one fancy index
            return self._map(0)[offsets[:, None] + np.arange(length)]
        return np.stack([self.read(int(offset), length) for offset in offsets])
