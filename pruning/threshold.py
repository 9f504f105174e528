"""The exact global k-th smallest magnitude over many tensors, and exact global pruning masks, in bounded memory.

`kth_smallest_magnitude(tensors, k)` equals `torch.cat([t.abs().flatten() for t in tensors]).kthvalue(k).values`
without materialising that concatenation (4 bytes × all prunable weights, plus the copy and int64 indices that
`kthvalue` makes). Selection by bracketing:

1. Sample m magnitudes uniformly over all N elements (so each tensor proportionally to its size) and take the
   sample order statistics around rank q·m, q = k/N, with a safety margin of 4 standard deviations of the sample
   quantile (σ = √(m q (1-q)) ranks) plus 2: the pivots lo ≤ hi.
2. Count exactly, per tensor and in chunks of at most `chunk_elems` elements, #(|w| < p) and #(|w| ≤ p) for each
   pivot p. If #(< p) < k ≤ #(≤ p), the answer is p itself (this is where heavy ties, e.g. exact zeros left by
   earlier pruning, are settled without gathering them). Otherwise the answer lies strictly inside one open
   interval (L, H) between pivots, whose element count is known exactly.
3. While that interval holds more than `chunk_elems` elements (an unlucky sample), re-pivot with sample points
   inside it (drawing fresh ones by rejection if the first sample has too few there). Then gather only the
   candidates L < |w| < H and take the (k - #(≤ L))-th of them.

The interval only shrinks and always holds the answer, so the result is exact whatever the sample; the sample only
decides the speed. Sampling uses `generator` (default: a fresh one seeded 0), never the global RNG, so pruning
does not perturb the training's random streams. Extra memory: the sample, one chunk of temporaries and ≤ chunk_elems candidates.
Magnitudes are compared in the promoted dtype of all tensors, as `torch.cat` would.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

QUANTILE_MARGIN_SIGMAS = 4.0
QUANTILE_MARGIN_RANKS = 2
MIN_PIVOT_SAMPLE = 64


@dataclass(frozen=True)
class _Interval:
    """The open interval (lower, upper) of magnitudes known to contain the k-th smallest.

    count_to_lower = #(|w| ≤ lower), count_below_upper = #(|w| < upper); None bounds are -inf / +inf.
    """

    lower: float | None
    upper: float | None
    count_to_lower: int
    count_below_upper: int

    @property
    def size(self) -> int:
        return self.count_below_upper - self.count_to_lower

    def contains(self, values: torch.Tensor) -> torch.Tensor:
        inside = torch.ones_like(values, dtype=torch.bool)
        if self.lower is not None:
            inside &= values > self.lower
        if self.upper is not None:
            inside &= values < self.upper
        return inside


def common_dtype(tensors: Sequence[torch.Tensor]) -> torch.dtype:
    """The dtype torch.cat would give these tensors."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def _magnitude_chunks(
    tensor: torch.Tensor, chunk_elems: int, dtype: torch.dtype
) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, |chunk|) over the flattened tensor, each chunk ≤ chunk_elems elements, in `dtype`."""
    flat = tensor.detach().reshape(-1)
    for begin in range(0, flat.numel(), chunk_elems):
        yield begin, flat[begin:begin + chunk_elems].abs().to(dtype)


def _check(tensors: Sequence[torch.Tensor], chunk_elems: int) -> int:
    if len(tensors) == 0:
        raise ValueError("tensors must hold at least one tensor")
    if not isinstance(chunk_elems, int) or chunk_elems < 1:
        raise ValueError(f"chunk_elems must be an integer >= 1, got {chunk_elems!r}")
    return sum(t.numel() for t in tensors)


def _sample_magnitudes(
    tensors: Sequence[torch.Tensor], size: int, generator: torch.Generator | None, dtype: torch.dtype
) -> torch.Tensor:
    """`size` magnitudes drawn uniformly with replacement from all elements (proportionally to tensor sizes)."""
    sizes = torch.tensor([t.numel() for t in tensors], dtype=torch.int64)
    offsets = torch.cumsum(sizes, 0)  # end offset of each tensor
    indices = torch.sort(torch.randint(int(offsets[-1]), (size,), generator=generator)).values
    owner = torch.searchsorted(offsets, indices, right=True)  # which tensor each index falls in
    parts = []
    for i, tensor in enumerate(tensors):
        local = indices[owner == i] - (offsets[i] - sizes[i])
        if local.numel():
            parts.append(tensor.detach().reshape(-1)[local.to(tensor.device)].abs().to(dtype).cpu())
    return torch.cat(parts)


def _count_around(
    tensors: Sequence[torch.Tensor], pivots: list[float], chunk_elems: int, dtype: torch.dtype
) -> list[tuple[int, int]]:
    """[(#(|w| < p), #(|w| ≤ p)) for p in pivots], counted exactly chunk by chunk."""
    totals = torch.zeros(len(pivots), 2, dtype=torch.int64)
    for tensor in tensors:
        counts = torch.zeros(len(pivots), 2, dtype=torch.int64, device=tensor.device)
        for _, magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            for i, pivot in enumerate(pivots):
                counts[i, 0] += torch.count_nonzero(magnitudes < pivot)
                counts[i, 1] += torch.count_nonzero(magnitudes <= pivot)
        totals += counts.cpu()
    return [(int(below), int(up_to)) for below, up_to in totals]


def _pivots(sorted_sample: torch.Tensor, quantile: float) -> list[float]:
    """Sample order statistics around rank quantile·m with the safety margin; distinct and ascending."""
    m = sorted_sample.numel()
    margin = QUANTILE_MARGIN_SIGMAS * math.sqrt(m * quantile * (1.0 - quantile)) + QUANTILE_MARGIN_RANKS
    rank = quantile * m
    low, high = math.floor(rank - margin), math.ceil(rank + margin)
    pivots = sorted({float(sorted_sample[min(max(r, 0), m - 1)]) for r in (low, high)})
    if any(math.isnan(p) for p in pivots):
        raise ValueError("tensors hold NaN values; magnitudes must not be NaN")
    return pivots


def _narrow(interval: _Interval, pivots: list[float], counts: list[tuple[int, int]], k: int):
    """Either the exact answer (a float) or the open interval between pivots that holds the k-th smallest."""
    lower, count_to_lower = interval.lower, interval.count_to_lower
    for pivot, (below, up_to) in zip(pivots, counts):
        if k <= below:
            return _Interval(lower, pivot, count_to_lower, below)
        if k <= up_to:
            return pivot
        lower, count_to_lower = pivot, up_to
    return _Interval(lower, interval.upper, count_to_lower, interval.count_below_upper)


def _sample_inside(
    tensors: Sequence[torch.Tensor], interval: _Interval, sample: torch.Tensor,
    generator: torch.Generator | None, dtype: torch.dtype,
) -> torch.Tensor:
    """Sorted sample points inside the interval: those of `sample`, else fresh draws kept by rejection."""
    inside = sample[interval.contains(sample)]
    wanted = min(MIN_PIVOT_SAMPLE, interval.size)
    while inside.numel() < wanted:
        draws = _sample_magnitudes(tensors, max(sample.numel(), 1), generator, dtype)
        inside = torch.cat([inside, draws[interval.contains(draws)]])
    return torch.sort(inside).values


def _kth_inside(
    tensors: Sequence[torch.Tensor], interval: _Interval, k: int, chunk_elems: int, dtype: torch.dtype
) -> float:
    """Gathers the candidates strictly inside the interval (≤ chunk_elems of them) and selects among them."""
    candidates = []
    for tensor in tensors:
        for _, magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            candidates.append(magnitudes[interval.contains(magnitudes)])
    gathered = torch.cat([c.cpu() for c in candidates])
    if gathered.numel() != interval.size:
        raise ValueError("tensors hold NaN values; magnitudes must not be NaN")
    return float(gathered.kthvalue(k - interval.count_to_lower).values)


def kth_smallest_magnitude(
    tensors: Sequence[torch.Tensor], k: int, *, sample_size: int = 1 << 20, chunk_elems: int = 1 << 24,
    generator: torch.Generator | None = None,
) -> float:
    """The k-th smallest (1-based) of all |w| over `tensors`, exactly; see the module docstring."""
    total = _check(tensors, chunk_elems)
    if not isinstance(k, int) or not 1 <= k <= total:
        raise ValueError(f"k must be an integer in [1, {total}] (the number of elements), got {k!r}")
    if not isinstance(sample_size, int) or sample_size < 1:
        raise ValueError(f"sample_size must be an integer >= 1, got {sample_size!r}")
    dtype = common_dtype(tensors)
    if generator is None:
        generator = torch.Generator().manual_seed(0)  # never draw from (and so perturb) the global RNG
    interval = _Interval(None, None, 0, total)
    if total <= min(sample_size, chunk_elems):
        return _kth_inside(tensors, interval, k, chunk_elems, dtype)  # small: the candidates are everything
    sample = torch.sort(_sample_magnitudes(tensors, sample_size, generator, dtype)).values
    while True:
        quantile = (k - interval.count_to_lower) / interval.size
        pivots = _pivots(sample, quantile)
        narrowed = _narrow(interval, pivots, _count_around(tensors, pivots, chunk_elems, dtype), k)
        if isinstance(narrowed, float):
            return narrowed
        interval = narrowed
        if interval.size <= chunk_elems:
            return _kth_inside(tensors, interval, k, chunk_elems, dtype)
        sample = _sample_inside(tensors, interval, sample, generator, dtype)


def select_prune_masks(
    tensors: Sequence[torch.Tensor], n_prune: int, *, current_masks: Sequence[torch.Tensor] | None = None,
    chunk_elems: int = 1 << 24, generator: torch.Generator | None = None,
) -> list[torch.Tensor]:
    """Keep-masks (bool, one per tensor) that prune exactly `n_prune` elements in total by global magnitude.

    With v the n_prune-th smallest magnitude: every |w| < v is pruned, then among |w| == v ties are pruned in
    tensor order, then flat-index order, until exactly n_prune are pruned.
    `current_masks` (keep-masks of an earlier event) make masks only shrink: the entries they prune count toward
    n_prune and stay pruned. Those entries must hold exact zeros (the pruner keeps them so); zeros being the
    smallest magnitudes, v is still the n_prune-th smallest of all |w|.
    """
    total = _check(tensors, chunk_elems)
    if current_masks is None:
        current_masks = [torch.ones_like(t, dtype=torch.bool) for t in tensors]
    if len(current_masks) != len(tensors):
        raise ValueError(f"current_masks must hold one mask per tensor ({len(tensors)}), got {len(current_masks)}")
    for i, (mask, tensor) in enumerate(zip(current_masks, tensors)):
        if mask.shape != tensor.shape:
            raise ValueError(f"current_masks[{i}] must have shape {tuple(tensor.shape)}, got {tuple(mask.shape)}")
    already_pruned = sum(int(m.numel() - torch.count_nonzero(m)) for m in current_masks)
    if not isinstance(n_prune, int) or not already_pruned <= n_prune <= total:
        raise ValueError(f"n_prune must be an integer in [{already_pruned}, {total}], got {n_prune!r}")
    masks = [m.detach().to(dtype=torch.bool, device=t.device).clone(memory_format=torch.contiguous_format)
             for m, t in zip(current_masks, tensors)]
    if n_prune == already_pruned:
        return masks
    dtype = common_dtype(tensors)
    threshold = kth_smallest_magnitude(tensors, n_prune, chunk_elems=chunk_elems, generator=generator)

    # Prune every kept |w| < v; count how many kept ties |w| == v remain to be taken.
    ties_to_take = n_prune - already_pruned
    for tensor, mask in zip(tensors, masks):
        keep = mask.view(-1)
        for begin, magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            part = keep[begin:begin + magnitudes.numel()]
            ties_to_take -= int(torch.count_nonzero(part & (magnitudes < threshold)))
            part &= magnitudes >= threshold
    # Then take the ties in tensor order, flat-index order.
    for tensor, mask in zip(tensors, masks):
        keep = mask.view(-1)
        for begin, magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            if ties_to_take == 0:
                return masks
            part = keep[begin:begin + magnitudes.numel()]
            ties = (part & (magnitudes == threshold)).nonzero().view(-1)[:ties_to_take]
            part[ties] = False
            ties_to_take -= ties.numel()
    if ties_to_take:
        raise RuntimeError(f"{ties_to_take} ties at |w| = {threshold} could not be pruned: were pruned entries "
                           "not exactly zero?")
    return masks
