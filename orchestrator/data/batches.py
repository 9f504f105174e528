"""Training and evaluation batches from a prepared token stream, a pure function of (seed, step).

The global batch of a step is drawn from (seed, step) alone and every data-parallel rank takes its contiguous
slice of rows, so: the ranks' slices together are exactly the one-process batch; a run resumed at step t sees the
same batches as one that never stopped; there is no sampler state to checkpoint.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterator

import numpy as np
import numpy.typing as npt
import torch

from orchestrator.data.errors import DataError
from orchestrator.data.streams import OpenStream, TokenStream


def _step_seed(seed: int, step: int) -> int:
    """A 64-bit seed mixing (seed, step) so that nearby pairs give unrelated streams."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(step)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _rank_rows(batch_size: int, rank: int, world_size: int) -> slice:
    """Rows [rank·b/ws, (rank+1)·b/ws) of a global batch of b rows."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"train.workers: rank {rank} is outside world size {world_size}")
    if batch_size < 1 or batch_size % world_size:
        raise ValueError(f"train.batch_size: {batch_size} must be a positive multiple of the world size "
                         f"{world_size}")
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


class TokenBatches:
    """(x, y) windows of `seq_len` tokens from a token stream (one file, or spans of many); y is x shifted by one."""

    def __init__(self, source: TokenStream | str | os.PathLike, *, seq_len: int, dtype: npt.DTypeLike | None = None,
                 token_range: tuple[float, float] = (0.0, 1.0)) -> None:
        """`source` is a TokenStream, or the path of one flat token file of `dtype`. `token_range` (fractions of the
        stream) restricts the windows to that part of it: fine-tuning trains on the head of a held-out split and
        evaluates on its tail."""
        stream = source if isinstance(source, TokenStream) else TokenStream.of_file(source, np.dtype(dtype).name)
        self.seq_len = int(seq_len)
        self.dtype = np.dtype(stream.dtype)
        if self.seq_len < 1:
            raise DataError(f"model.seq_len: must be at least 1, got {seq_len}")
        first, last = (round(fraction * stream.n_tokens) for fraction in token_range)
        n_tokens = last - first
        if n_tokens < self.seq_len + 2:
            raise DataError(f"model.seq_len: {self.seq_len} needs at least {self.seq_len + 2} tokens, but "
                            f"{stream.describe()} holds {n_tokens} (tokens {first}:{last}); lower model.seq_len or "
                            "give more data (data.path)")
        self._tokens = OpenStream(stream.slice(first, last))

    @property
    def n_tokens(self) -> int:
        """Tokens in the file."""
        return self._tokens.n_tokens

    def _windows(self, offsets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """x = tokens[o : o+L], y = tokens[o+1 : o+L+1] for each offset o; both (len(offsets), L) int64."""
        chunk = torch.from_numpy(self._tokens.windows(offsets, self.seq_len + 1).astype(np.int64))  # (B, L+1)
        return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()  # (B, L), (B, L)

    def batch(self, step: int, *, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of step `step`'s global batch: (x, y), each (batch_size / world_size, seq_len) int64.

        The global batch holds `batch_size` windows at offsets drawn uniformly from [0, n_tokens - seq_len - 1]
        by a generator seeded from (seed, step) only.
        """
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        rows = _rank_rows(batch_size, rank, world_size)
        rng = np.random.Generator(np.random.PCG64(_step_seed(seed, step)))
        offsets = rng.integers(0, self.n_tokens - self.seq_len, size=batch_size, dtype=np.int64)
        return self._windows(offsets[rows])

    def eval_batch_count(self, n_batches: int, *, batch_size: int) -> int:
        """How many batches `eval_batches` yields: n_batches, fewer if the file holds fewer disjoint windows,
        never less than one."""
        if n_batches < 1:
            raise ValueError(f"train.eval_batches: must be at least 1, got {n_batches}")
        disjoint_windows = (self.n_tokens - 1) // self.seq_len
        return max(1, min(n_batches, disjoint_windows // batch_size))

    def eval_batches(self, n_batches: int, *, batch_size: int, rank: int = 0,
                     world_size: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A fixed set of evaluation batches (the same at every call): this rank's rows of each.

        The `eval_batch_count(...)` × batch_size windows are evenly spaced over the whole file, first one at
        offset 0; they do not overlap unless the file is shorter than one batch of windows.
        """
        rows = _rank_rows(batch_size, rank, world_size)
        count = self.eval_batch_count(n_batches, batch_size=batch_size)
        offsets = np.linspace(0, self.n_tokens - self.seq_len - 1, count * batch_size).round().astype(np.int64)
        for b in range(count):
            yield self._windows(offsets[b * batch_size:(b + 1) * batch_size][rows])
