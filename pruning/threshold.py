"""The exact global k-th smallest magnitude over many tensors, and exact global pruning masks, in bounded memory.

`kth_smallest_magnitude(tensors, k)` equals `torch.cat([t.abs().flatten() for t in tensors]).kthvalue(k).values`
without materialising that concatenation (4 bytes × all prunable weights, plus the copy and int64 indices that
`kthvalue` makes). Selection by bracketing:

1. Sample m magnitudes uniformly over all N elements (so each tensor proportionally to its size) and take the
   sample order statistics around rank q·m, q = k/N, with a safety margin of 4 standard deviations of the sample
   quantile (σ = √(m q (1-q)) ranks) plus 2: the pivots lo ≤ hi.
2. One pass over the tensors, per tensor and in chunks of at most `chunk_elems` elements, counts #(|w| < lo) and
   #(|w| ≤ hi) exactly and gathers the candidates lo ≤ |w| ≤ hi (while they number ≤ chunk_elems). If
   #(< lo) < k ≤ #(≤ hi), the answer is the (k - #(< lo))-th candidate: done, in one pass.
3. Otherwise (an unlucky sample, or heavy ties such as the exact zeros left by earlier pruning making the candidates
   too many) the pivots' counts #(≤ lo), #(< hi) are completed. If #(< p) < k ≤ #(≤ p) the answer is the pivot p
   itself (ties settle without being gathered); otherwise it lies strictly inside one open interval (L, H) between
   pivots whose element count is known exactly. Re-pivot with sample points inside it (drawing fresh ones by
   rejection if needed) until the interval holds ≤ chunk_elems elements, then gather those and select.

The interval only shrinks and always holds the answer, so the result is exact whatever the sample; the sample only
decides the speed. Sampling uses `generator` (default: a fresh one seeded 0), never the global RNG, so pruning
does not perturb the training's random streams. Extra memory: the sample, one chunk of temporaries and at most
chunk_elems candidates. Magnitudes are compared in the promoted dtype of all tensors, as `torch.cat` would.

Everything runs on the device that holds the weights (the first tensor's): the sample is drawn, sorted and searched
there, counts accumulate there, and the host reads back a handful of numbers per pass (pivots, totals), not one per
tensor, so a GPU prune event does not stall on host round trips. Which tensor each sample point falls in is drawn on
the host (a chain of binomials over the tensor sizes, from `generator`); where it falls, on the device (from a
device generator seeded from `generator`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

QUANTILE_MARGIN_SIGMAS = 4.0
QUANTILE_MARGIN_RANKS = 2
MIN_PIVOT_SAMPLE = 64
MAX_REJECTION_DRAWS = 1 << 20


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
        if self.lower is None and self.upper is None:
            return torch.ones_like(values, dtype=torch.bool)
        if self.lower is None:
            return values < self.upper
        if self.upper is None:
            return values > self.lower
        return (values > self.lower).logical_and_(values < self.upper)


@dataclass(frozen=True)
class _Scan:
    """One pass over all magnitudes for pivots lo ≤ hi: #(< p) and #(≤ p) for both, and the candidates in [lo, hi]
    (None when they were more than the gather limit)."""

    pivots: tuple[float, float]
    below: tuple[int, int]
    up_to: tuple[int, int]
    candidates: torch.Tensor | None


def common_dtype(tensors: Sequence[torch.Tensor]) -> torch.dtype:
    """The dtype torch.cat would give these tensors."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def _chunks(tensor: torch.Tensor, chunk_elems: int) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset, view) over the flattened tensor in flat-index order, each view ≤ chunk_elems elements."""
    flat = tensor.detach().reshape(-1)
    for begin in range(0, flat.numel(), chunk_elems):
        yield begin, flat[begin:begin + chunk_elems]


def _magnitude_chunks(tensor: torch.Tensor, chunk_elems: int, dtype: torch.dtype) -> Iterator[torch.Tensor]:
    """|chunk| for each chunk of `_chunks`, in `dtype` (one chunk-sized temporary at a time)."""
    for _, chunk in _chunks(tensor, chunk_elems):
        yield chunk.abs().to(dtype)


def _check(tensors: Sequence[torch.Tensor], chunk_elems: int) -> int:
    if len(tensors) == 0:
        raise ValueError("tensors must hold at least one tensor")
    if not isinstance(chunk_elems, int) or chunk_elems < 1:
        raise ValueError(f"chunk_elems must be an integer >= 1, got {chunk_elems!r}")
    return sum(t.numel() for t in tensors)


def _counts_per_tensor(sizes: list[int], draws: int, generator: torch.Generator) -> list[int]:
    """How many of `draws` uniform draws over all elements fall in each tensor: a multinomial over the sizes, drawn
    as a chain of binomials (one host draw per tensor)."""
    counts, left, remaining = [], draws, sum(sizes)
    for size in sizes[:-1]:
        count = 0
        if left and size:
            count = int(torch.binomial(torch.tensor([float(left)], dtype=torch.float64, device="cpu"),
                                       torch.tensor([size / remaining], dtype=torch.float64, device="cpu"),
                                       generator=generator))  # on the host, whatever torch's default device
        counts.append(count)
        left, remaining = left - count, remaining - size
    return counts + [left]


def _device_generator(device: torch.device, generator: torch.Generator) -> torch.Generator:
    if device.type == "cpu":
        return generator
    return torch.Generator(device=device).manual_seed(int(torch.randint(1 << 62, (1,), generator=generator)))


def _sample_magnitudes(
    tensors: Sequence[torch.Tensor], size: int, generator: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """`size` magnitudes drawn uniformly with replacement from all elements, on the first tensor's device."""
    device = tensors[0].device
    counts = _counts_per_tensor([t.numel() for t in tensors], size, generator)
    draw = _device_generator(device, generator)
    parts = []
    for tensor, count in zip(tensors, counts):
        if count:
            local = torch.randint(tensor.numel(), (count,), device=device, generator=draw).to(tensor.device)
            parts.append(tensor.detach().reshape(-1)[local].abs().to(dtype).to(device))
    return torch.cat(parts)


def _pivots(sorted_sample: torch.Tensor, quantile: float) -> tuple[float, float]:
    """Sample order statistics lo ≤ hi around rank quantile·m, with the safety margin (one host read, which also
    refuses NaN: a sort puts it last)."""
    m = sorted_sample.numel()
    margin = QUANTILE_MARGIN_SIGMAS * math.sqrt(m * quantile * (1.0 - quantile)) + QUANTILE_MARGIN_RANKS
    rank = quantile * m
    ranks = [min(max(r, 0), m - 1) for r in (math.floor(rank - margin), math.ceil(rank + margin))]
    lo, hi, last = sorted_sample[ranks + [m - 1]].double().tolist()
    if math.isnan(last):
        raise ValueError("tensors hold NaN values; magnitudes must not be NaN")
    return lo, hi


def _count_pass(tensors: Sequence[torch.Tensor], chunk_elems: int, dtype: torch.dtype, tests) -> list[int]:
    """For each predicate of `tests` (magnitudes → bool tensor), how many magnitudes satisfy it: counted on the
    first tensor's device, read back once."""
    counts = torch.zeros(len(tests), dtype=torch.int64, device=tensors[0].device)
    for tensor in tensors:
        for magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            counts += torch.stack([torch.count_nonzero(test(magnitudes)) for test in tests]).to(counts.device)
    return counts.tolist()


def _scan(tensors: Sequence[torch.Tensor], lo: float, hi: float, chunk_elems: int, dtype: torch.dtype) -> _Scan:
    """Counts #(< lo), #(≤ hi) and gathers lo ≤ |w| ≤ hi in one pass; completes #(≤ lo), #(< hi) from the
    candidates, or with a second counting pass when the candidates overflowed `chunk_elems`."""
    device = tensors[0].device
    counts = torch.zeros(2, dtype=torch.int64, device=device)
    gathered, candidates = 0, []
    for tensor in tensors:
        for magnitudes in _magnitude_chunks(tensor, chunk_elems, dtype):
            is_below_lo, is_up_to_hi = magnitudes < lo, magnitudes <= hi
            counts += torch.stack([torch.count_nonzero(is_below_lo), torch.count_nonzero(is_up_to_hi)]).to(device)
            if candidates is not None:
                found = magnitudes[is_up_to_hi.logical_xor_(is_below_lo)]  # lo ≤ |w| ≤ hi
                gathered += found.numel()
                if gathered <= chunk_elems:
                    candidates.append(found.to(device))
                else:
                    candidates = None  # too many (heavy ties or an unlucky sample): counts only
    if candidates is not None:
        found = torch.cat(candidates) if candidates else torch.empty(0, dtype=dtype, device=device)
        ties = torch.stack([torch.count_nonzero(found == lo), torch.count_nonzero(found == hi)])
        below_lo, up_to_hi, lo_ties, hi_ties = torch.cat([counts, ties]).tolist()
        return _Scan((lo, hi), (below_lo, up_to_hi - hi_ties), (below_lo + lo_ties, up_to_hi), found)
    below_lo, up_to_hi = counts.tolist()
    up_to_lo, below_hi = _count_pass(tensors, chunk_elems, dtype, (lambda m: m <= lo, lambda m: m < hi))
    return _Scan((lo, hi), (below_lo, below_hi), (up_to_lo, up_to_hi), None)


def _narrow(interval: _Interval, scan: _Scan, k: int) -> float | _Interval:
    """Either the exact answer (a float) or the open interval between pivots that holds the k-th smallest."""
    lower, count_to_lower = interval.lower, interval.count_to_lower
    for pivot, below, up_to in zip(scan.pivots, scan.below, scan.up_to):
        if k <= below:
            return _Interval(lower, pivot, count_to_lower, below)
        if k <= up_to:
            return pivot
        lower, count_to_lower = pivot, up_to
    return _Interval(lower, interval.upper, count_to_lower, interval.count_below_upper)


def _sample_inside(
    tensors: Sequence[torch.Tensor], interval: _Interval, sample: torch.Tensor, generator: torch.Generator,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Sorted sample points inside the interval: those of `sample`, else fresh draws kept by rejection (a host read
    per round: this path is rare)."""
    inside = sample[interval.contains(sample)]
    wanted = min(MIN_PIVOT_SAMPLE, interval.size)
    total = sum(t.numel() for t in tensors)
    # enough draws to expect 2·wanted hits, given the acceptance rate interval.size / total
    draws_per_round = min(max(sample.numel(), math.ceil(2 * wanted * total / interval.size)), MAX_REJECTION_DRAWS)
    while inside.numel() < wanted:
        draws = _sample_magnitudes(tensors, draws_per_round, generator, dtype)
        inside = torch.cat([inside, draws[interval.contains(draws)]])
    return torch.sort(inside).values


def _kth_inside(
    tensors: Sequence[torch.Tensor], interval: _Interval, k: int, chunk_elems: int, dtype: torch.dtype
) -> float:
    """Gathers the candidates strictly inside the interval (≤ chunk_elems of them) and selects among them."""
    device = tensors[0].device
    gathered = torch.cat([m[interval.contains(m)].to(device)
                          for t in tensors for m in _magnitude_chunks(t, chunk_elems, dtype)])
    if gathered.numel() != interval.size:  # NaN is neither above nor below any bound
        raise ValueError("tensors hold NaN values; magnitudes must not be NaN")
    value, has_nan = torch.stack([gathered.kthvalue(k - interval.count_to_lower).values.double(),
                                  torch.isnan(gathered).any().double()]).tolist()
    if has_nan:
        raise ValueError("tensors hold NaN values; magnitudes must not be NaN")
    return value


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
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    interval = _Interval(None, None, 0, total)
    if total <= min(sample_size, chunk_elems):
        return _kth_inside(tensors, interval, k, chunk_elems, dtype)  # small: the candidates are everything
    sample = torch.sort(_sample_magnitudes(tensors, sample_size, generator, dtype)).values
    while True:
        scan = _scan(tensors, *_pivots(sample, (k - interval.count_to_lower) / interval.size), chunk_elems, dtype)
        if scan.candidates is not None and scan.below[0] < k <= scan.up_to[1]:
            return float(scan.candidates.kthvalue(k - scan.below[0]).values)  # the common case: one pass
        narrowed = _narrow(interval, scan, k)
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
    device = tensors[0].device
    already_pruned = total - int(sum(torch.count_nonzero(m).to(device) for m in current_masks))
    if not isinstance(n_prune, int) or not already_pruned <= n_prune <= total:
        raise ValueError(f"n_prune must be an integer in [{already_pruned}, {total}], got {n_prune!r}")
    masks = [m.detach().to(dtype=torch.bool, device=t.device).clone(memory_format=torch.contiguous_format)
             for m, t in zip(current_masks, tensors)]
    if n_prune == already_pruned:
        return masks
    dtype = common_dtype(tensors)
    threshold = kth_smallest_magnitude(tensors, n_prune, chunk_elems=chunk_elems, generator=generator)

    # Pass 1: prune every kept |w| < v; count the kept ties |w| == v of each chunk (counted on the device, read once).
    newly_pruned, tie_counts = torch.zeros((), dtype=torch.int64, device=device), []
    for tensor, mask in zip(tensors, masks):
        keep = mask.view(-1)
        for begin, chunk in _chunks(tensor, chunk_elems):
            part, magnitudes = keep[begin:begin + chunk.numel()], chunk.abs().to(dtype)
            is_below = magnitudes < threshold
            newly_pruned += torch.count_nonzero(part & is_below).to(device)
            tie_counts.append(torch.count_nonzero((magnitudes == threshold).logical_and_(part)).to(device))
            part.logical_and_(is_below.logical_not_())
    newly_pruned, *ties_per_chunk = torch.stack([newly_pruned, *tie_counts]).tolist()
    ties_to_take = n_prune - already_pruned - newly_pruned
    if ties_to_take < 0:  # entries pruned before, yet not zero, lie above v: v undercounts the smallest magnitudes
        raise RuntimeError(f"pruned entries must hold exact zeros: with them counted as pruned, {-ties_to_take} more "
                           f"than n_prune={n_prune} entries lie below the new threshold |w| = {threshold}")
    # Pass 2: take the ties in tensor order, then flat-index order, revisiting only chunks that hold some.
    chunk_ties = iter(ties_per_chunk)
    for tensor, mask in zip(tensors, masks):
        keep = mask.view(-1)
        for begin, chunk in _chunks(tensor, chunk_elems):
            if ties_to_take == 0:
                return masks
            if next(chunk_ties) == 0:
                continue
            part = keep[begin:begin + chunk.numel()]
            ties = (chunk.abs().to(dtype) == threshold).logical_and_(part).nonzero().view(-1)[:ties_to_take]
            part[ties] = False
            ties_to_take -= ties.numel()
    if ties_to_take:
        raise RuntimeError(f"{ties_to_take} ties at |w| = {threshold} could not be pruned: were pruned entries "
                           "not exactly zero?")
    return masks
