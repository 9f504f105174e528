"""Pins for pruning/threshold.py: exact results against brute force on the paths the sampling search can take
(one pass, tie settling, overflowing candidates, re-pivoting by rejection), the input checks' messages, the
documented pivot rule, the generator contract, the memory bound on gathered candidates, and exact masks."""
import math
import re

import pytest
import torch

import pruning.threshold as th
from pruning.threshold import kth_smallest_magnitude, select_prune_masks

NAN_MESSAGE = "^" + re.escape("tensors hold NaN values; magnitudes must not be NaN") + "$"


def reference(tensors, k):
    """The k-th smallest magnitude of the concatenation (torch.cat promotes mixed dtypes)."""
    return torch.cat([t.abs().flatten() for t in tensors]).kthvalue(k).values.item()


def reference_masks(tensors, n_prune, current_masks=None):
    """Keep-masks by hand: already-pruned entries first, then the kept ones by (magnitude, tensor, flat index)."""
    magnitudes = torch.cat([t.abs().flatten() for t in tensors]).double()
    if current_masks is not None:
        kept = torch.cat([m.bool().flatten() for m in current_masks])
        magnitudes = torch.where(kept, magnitudes, torch.full_like(magnitudes, -1.0))
    order = torch.sort(magnitudes, stable=True).indices
    keep = torch.ones(magnitudes.numel(), dtype=torch.bool)
    keep[order[:n_prune]] = False
    masks, begin = [], 0
    for t in tensors:
        masks.append(keep[begin:begin + t.numel()].view(t.shape))
        begin += t.numel()
    return masks


def gen_state(generator):
    return generator.get_state().clone()


class Calls:
    """Counts the module's internal passes (looked up through the module at call time) and checks that a scan never
    holds more than chunk_elems candidates."""

    def __init__(self, monkeypatch):
        self.counts = {}
        self.scans = []
        self.sample_sizes = []
        for name in ("_scan", "_count_pass", "_kth_inside", "_sample_inside", "_sample_magnitudes"):
            monkeypatch.setattr(th, name, self._wrap(name, getattr(th, name)))

    def _wrap(self, name, original):
        def wrapper(*args, **kwargs):
            self.counts[name] = self.counts.get(name, 0) + 1
            if name == "_sample_magnitudes":
                self.sample_sizes.append(args[1])
            result = original(*args, **kwargs)
            if name == "_scan":
                chunk_elems = args[3]
                assert result.candidates is None or result.candidates.numel() <= chunk_elems
                self.scans.append(result)
            return result
        return wrapper

    def clear(self):
        self.counts.clear()
        self.scans.clear()
        self.sample_sizes.clear()

    def __getitem__(self, name):
        return self.counts.get(name, 0)


@pytest.fixture
def calls(monkeypatch):
    return Calls(monkeypatch)


# ---------------------------------------------------------------------------------------------------------------
# input checks: the messages are part of the contract


def test_empty_tensor_list_is_refused_with_its_message():
    message = "^tensors must hold at least one tensor$"
    with pytest.raises(ValueError, match=message):
        kth_smallest_magnitude([], 1)
    with pytest.raises(ValueError, match=message):
        select_prune_masks([], 0)


@pytest.mark.parametrize("chunk_elems", [0, -3, 2.5, "8", None])
def test_bad_chunk_elems_is_refused_with_its_message(chunk_elems):
    message = "^" + re.escape(f"chunk_elems must be an integer >= 1, got {chunk_elems!r}") + "$"
    tensors = [torch.randn(10), torch.randn(3)]
    with pytest.raises(ValueError, match=message):
        kth_smallest_magnitude(tensors, 2, chunk_elems=chunk_elems)
    with pytest.raises(ValueError, match=message):
        select_prune_masks(tensors, 2, chunk_elems=chunk_elems)


@pytest.mark.parametrize("sample_size", [0, -1, 2.5, "4"])
def test_bad_sample_size_is_refused_with_its_message(sample_size):
    message = "^" + re.escape(f"sample_size must be an integer >= 1, got {sample_size!r}") + "$"
    with pytest.raises(ValueError, match=message):
        kth_smallest_magnitude([torch.randn(100)], 5, sample_size=sample_size, chunk_elems=10)


@pytest.mark.parametrize("k", [0, 14, 2.0, None])
def test_bad_k_is_refused_with_its_message(k):
    message = "^" + re.escape(f"k must be an integer in [1, 13] (the number of elements), got {k!r}") + "$"
    with pytest.raises(ValueError, match=message):
        kth_smallest_magnitude([torch.randn(10), torch.randn(3)], k)


def test_bad_current_masks_are_refused_with_their_messages():
    tensors = [torch.randn(4), torch.randn(2, 3)]
    with pytest.raises(ValueError, match=r"^current_masks must hold one mask per tensor \(2\), got 1$"):
        select_prune_masks(tensors, 1, current_masks=[torch.ones(4, dtype=torch.bool)])
    with pytest.raises(ValueError, match=r"^current_masks\[1\] must have shape \(2, 3\), got \(3, 2\)$"):
        select_prune_masks(tensors, 1, current_masks=[torch.ones(4, dtype=torch.bool),
                                                      torch.ones(3, 2, dtype=torch.bool)])
    with pytest.raises(ValueError, match=r"^n_prune must be an integer in \[1, 10\], got 0$"):
        select_prune_masks(tensors, 0, current_masks=[torch.tensor([True, False, True, True]),
                                                      torch.ones(2, 3, dtype=torch.bool)])


# ---------------------------------------------------------------------------------------------------------------
# NaN is refused wherever the search meets it


def test_nan_is_refused_when_everything_is_gathered_at_once():
    tensors = [torch.randn(50), torch.tensor([1.0, float("nan")])]
    with pytest.raises(ValueError, match=NAN_MESSAGE):
        kth_smallest_magnitude(tensors, 3)


def test_nan_is_refused_when_the_sample_holds_it():
    tensors = [torch.randn(300), torch.full((300,), float("nan"))]
    with pytest.raises(ValueError, match=NAN_MESSAGE):
        kth_smallest_magnitude(tensors, 10, sample_size=40, chunk_elems=1000, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("seed", range(4))
def test_nan_is_refused_when_the_sample_misses_it(seed):
    # one NaN among 2001 magnitudes, a sample of 4 that (for these seeds) misses it: the NaN is counted neither below
    # nor above any pivot, so the gathered interval comes up one short
    values = torch.randn(2000, generator=torch.Generator().manual_seed(seed))
    tensors = [values[:1000], torch.tensor([float("nan")]), values[1000:]]
    with pytest.raises(ValueError, match=NAN_MESSAGE):
        kth_smallest_magnitude(tensors, 2001, sample_size=4, chunk_elems=1500,
                               generator=torch.Generator().manual_seed(seed))


def test_the_pivots_refuse_a_sample_whose_only_nan_is_last():
    sample = torch.cat([torch.arange(99.0), torch.tensor([float("nan")])])
    with pytest.raises(ValueError, match=NAN_MESSAGE):
        th._pivots(sample, 0.5)


# ---------------------------------------------------------------------------------------------------------------
# the documented pivot rule: ranks floor/ceil(q·m ∓ (4·√(m q (1-q)) + 2)), clamped to the sample


@pytest.mark.parametrize("quantile, expected", [
    (0.5, (434.0, 566.0)),    # margin 4·√250 + 2 = 65.25
    (0.1, (60.0, 140.0)),     # margin 4·√90 + 2 = 39.95
    (0.001, (0.0, 7.0)),      # rank 1, margin 4·√0.999 + 2 = 5.998: the low rank clamps to 0
    (1.0, (998.0, 999.0)),    # rank 1000, margin 2: the high rank clamps to m - 1
    (0.999, (993.0, 999.0)),  # rank 999, margin 5.998: floor(993.002), and the high rank clamps
])
def test_pivots_are_the_sample_order_statistics_around_the_quantile(quantile, expected):
    sample = torch.arange(1000.0)
    assert th._pivots(sample, quantile) == expected


# ---------------------------------------------------------------------------------------------------------------
# exact results, and one pass for ordinary data


def spread_tensors(seed):
    """Three tensors of different sizes, shapes and scales (so the per-tensor sample counts matter)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(6000, generator=generator) * 0.01,
            torch.randn(40, 100, generator=generator),
            torch.randn(2000, generator=generator) * 100.0]


def test_ordinary_data_takes_one_counting_pass(calls):
    tensors = spread_tensors(0)
    total = sum(t.numel() for t in tensors)
    for k in (200, 3000, 5999, 6000, 6001, 8000, 9999, 10000, 10001, 11800):
        calls.clear()
        generator = torch.Generator().manual_seed(k)
        value = kth_smallest_magnitude(tensors, k, sample_size=2048, chunk_elems=4096, generator=generator)
        assert value == reference(tensors, k), k
        assert calls["_scan"] == 1 and calls["_count_pass"] == 0, (k, calls.counts)
        assert calls["_kth_inside"] == 0 and calls["_sample_inside"] == 0, (k, calls.counts)
        assert calls.sample_sizes == [2048]
        assert total > 4096


def test_the_result_is_a_python_float_of_the_promoted_dtype():
    tensors = [torch.tensor([0.1, -0.3], dtype=torch.float16), torch.tensor([[0.2]], dtype=torch.bfloat16)]
    for k in (1, 2, 3):
        value = kth_smallest_magnitude(tensors, k)
        assert type(value) is float and value == reference(tensors, k)
    doubles = [torch.arange(-3000, 3000).double() * 0.1]  # 0, then each of 0.1 … 299.9 twice, then 300
    value = kth_smallest_magnitude(doubles, 4000, sample_size=64, chunk_elems=512)
    assert type(value) is float and value == 2000 * 0.1 == reference(doubles, 4000)


@pytest.mark.parametrize("n", [1000, 1001])
def test_all_equal_magnitudes_fitting_the_chunk_settle_in_one_pass(calls, n):
    # ±c everywhere: both pivots are c, every element is a candidate; exactly chunk_elems of them still fit
    tensor = torch.full((n,), 0.75)
    tensor[::3] = -0.75
    for k in (1, n // 2, n):
        calls.clear()
        assert kth_smallest_magnitude([tensor], k, sample_size=16, chunk_elems=n) == 0.75
        assert calls["_scan"] == 1 and calls["_count_pass"] == 0 and calls["_kth_inside"] == 0, calls.counts
        assert calls.scans[0].candidates is not None and calls.scans[0].candidates.numel() == n


def test_ties_that_overflow_the_chunk_are_counted_not_gathered(calls):
    # every tensor fits a chunk, but all of them together are more candidates than chunk_elems
    tensors = [torch.full((300,), -2.0), torch.full((20, 15), 2.0), torch.full((300,), 2.0)]
    for k in (1, 450, 900):
        calls.clear()
        assert kth_smallest_magnitude(tensors, k, sample_size=8, chunk_elems=400) == 2.0
        assert calls["_scan"] == 1 and calls["_count_pass"] == 1 and calls["_kth_inside"] == 0, calls.counts
        assert calls.scans[0].candidates is None
        assert calls.scans[0].below == (0, 0) and calls.scans[0].up_to == (900, 900)


def test_once_the_interval_fits_the_chunk_it_is_gathered_without_resampling(calls):
    # magnitudes 1 (500×) and 2 (500×) and a sample of one point p: for k = 1 or k = 1000, whichever of them p does
    # not settle as a tie leaves an open interval holding exactly chunk_elems = 500 elements, gathered at once
    tensors = [torch.cat([torch.full((250,), 1.0), torch.full((250,), -2.0)]),
               torch.cat([torch.full((250,), -1.0), torch.full((250,), 2.0)])]
    seen_interval = False
    for k, expected in ((1, 1.0), (1000, 2.0), (500, 1.0), (501, 2.0)):
        for seed in range(3):
            calls.clear()
            generator = torch.Generator().manual_seed(seed)
            assert kth_smallest_magnitude(tensors, k, sample_size=1, chunk_elems=500, generator=generator) == expected
            assert calls["_sample_inside"] == 0 and calls["_scan"] == 1, calls.counts
            seen_interval |= calls["_kth_inside"] == 1
    assert seen_interval


def test_small_inputs_are_selected_directly_without_sampling(calls):
    tensors = [torch.randn(60), torch.randn(4, 10)]
    generator = torch.Generator().manual_seed(3)
    before = gen_state(generator)
    for k in (1, 37, 100):
        assert kth_smallest_magnitude(tensors, k, sample_size=100, chunk_elems=100, generator=generator) \
            == reference(tensors, k)
    assert torch.equal(gen_state(generator), before)
    assert calls["_scan"] == 0 and calls["_sample_magnitudes"] == 0 and calls["_kth_inside"] == 3


def make_kind(kind, seed, count=5, max_size=700):
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for i in range(count):
        size = int(torch.randint(1, max_size, (1,), generator=generator))
        t = torch.randn(size, generator=generator) * 10 ** float(torch.randint(-2, 3, (1,), generator=generator))
        if kind == "zeros":
            t[torch.rand(size, generator=generator) < 0.7] = 0.0
        elif kind == "ties":
            t = torch.randint(-4, 5, (size,), generator=generator).float() * 0.5
        if i == 2:
            t = t.view(1, -1)
        tensors.append(t)
    tensors.insert(1, torch.empty(0))  # an empty tensor in the middle
    return tensors


@pytest.mark.parametrize("kind", ["gaussian", "zeros", "ties"])
@pytest.mark.parametrize("sample_size, chunk_elems", [(3, 37), (16, 64), (200, 150), (1, 200)])
def test_exact_on_refinement_paths(kind, sample_size, chunk_elems, calls):
    tensors = make_kind(kind, seed=chunk_elems + sample_size)
    total = sum(t.numel() for t in tensors)
    ks = sorted({1, 2, total // 7, total // 3, total // 2, (2 * total) // 3, total - 1, total})
    for k in ks:
        generator = torch.Generator().manual_seed(k)
        value = kth_smallest_magnitude(tensors, k, sample_size=sample_size, chunk_elems=chunk_elems,
                                       generator=generator)
        assert value == reference(tensors, k), (kind, k)
    assert calls["_scan"] >= len(ks)


def test_exact_when_the_pivots_keep_missing(calls):
    # a sample of 2 drawn from 4000 magnitudes spread over 6 decades: many re-pivots between bounded intervals
    generator = torch.Generator().manual_seed(9)
    tensors = [torch.randn(1000, generator=generator) * 10 ** e for e in (-3, -1, 0, 1)]
    for k in (1, 2, 3, 500, 999, 1000, 1001, 1999, 2000, 2001, 2500, 3001, 3999, 4000):
        assert kth_smallest_magnitude(tensors, k, sample_size=2, chunk_elems=50,
                                      generator=torch.Generator().manual_seed(k)) == reference(tensors, k), k
    assert calls["_sample_inside"] > 0 and calls["_count_pass"] > 0


def test_pruned_zeros_that_overflow_the_chunk_then_an_interval(calls):
    # 70 % exact zeros (earlier pruning): low quantiles land on the zeros (ties, counted), others in between
    generator = torch.Generator().manual_seed(4)
    tensors = []
    for size in (900, 1100, 600):
        t = torch.randn(size, generator=generator)
        t[torch.rand(size, generator=generator) < 0.7] = 0.0
        tensors.append(t)
    total = sum(t.numel() for t in tensors)
    for k in (1, 800, 1819, 1820, 1821, 2000, 2300, 2599, total):
        assert kth_smallest_magnitude(tensors, k, sample_size=30, chunk_elems=60,
                                      generator=torch.Generator().manual_seed(k)) == reference(tensors, k), k
    assert calls["_count_pass"] > 0 and calls["_kth_inside"] > 0


# ---------------------------------------------------------------------------------------------------------------
# mixed dtypes: compared in the promoted dtype, where near-ties across dtypes are distinct


def near_ties(seed):
    """float16 magnitudes, and float32 ones within a fraction of a float16 ulp of them (distinct in float32, equal
    once rounded to float16), a bfloat16 tensor, and exact cross-dtype ties."""
    generator = torch.Generator().manual_seed(seed)
    base = (torch.rand(400, generator=generator) * 1.5 + 0.5).half()
    signs = torch.where(torch.rand(400, generator=generator) < 0.5, -1.0, 1.0)
    wiggle = (torch.rand(400, generator=generator) * 2 - 1) * 2.0 ** -13
    wiggle[wiggle.abs() < 2.0 ** -16] = 2.0 ** -14
    close = base.float() * (1 + wiggle) * signs
    close[::10] = base[::10].float()  # exact ties across dtypes
    other = (torch.rand(300, generator=generator) * 1.5 + 0.5).bfloat16()
    return [base * signs.half(), close, other]


@pytest.mark.parametrize("seed", range(2))
def test_mixed_dtype_near_ties_are_exact(seed, calls):
    tensors = near_ties(seed)
    assert [t.dtype for t in tensors] == [torch.float16, torch.float32, torch.bfloat16]
    total = sum(t.numel() for t in tensors)
    for k in (1, 2, 57, 200, 399, 400, 401, 555, 777, 800, 950, total - 1, total):
        for sample_size, chunk_elems in ((5, 40), (64, 120), (600, 300)):
            value = kth_smallest_magnitude(tensors, k, sample_size=sample_size, chunk_elems=chunk_elems,
                                           generator=torch.Generator().manual_seed(k + seed))
            assert value == reference(tensors, k), (k, sample_size, chunk_elems)


@pytest.mark.parametrize("seed", range(2))
def test_mixed_dtype_near_ties_masks_are_exact(seed):
    tensors = near_ties(seed)
    total = sum(t.numel() for t in tensors)
    for n_prune in (1, 100, 401, 555, 800, total - 1, total):
        for chunk_elems in (37, 1 << 24):
            masks = select_prune_masks(tensors, n_prune, chunk_elems=chunk_elems,
                                       generator=torch.Generator().manual_seed(n_prune))
            expected = reference_masks(tensors, n_prune)
            assert [m.dtype for m in masks] == [torch.bool] * 3
            assert all(torch.equal(m, e) for m, e in zip(masks, expected)), (n_prune, chunk_elems)


def test_a_float16_copy_is_not_a_tie_with_its_float32_neighbour():
    # |w| = 1 + 2^-12 in float32 rounds to 1 in float16, but the promoted comparison keeps them apart
    tensors = [torch.tensor([1.0, -1.0, 3.0], dtype=torch.float16), torch.tensor([1.0 + 2.0 ** -12, 0.5])]
    assert [kth_smallest_magnitude(tensors, k, sample_size=1, chunk_elems=1) for k in range(1, 6)] \
        == [0.5, 1.0, 1.0, 1.0 + 2.0 ** -12, 3.0]
    masks = select_prune_masks(tensors, 4, chunk_elems=1)
    assert [m.tolist() for m in masks] == [[False, False, True], [False, False]]
    masks = select_prune_masks(tensors, 3, chunk_elems=2)
    assert [m.tolist() for m in masks] == [[False, False, True], [True, False]]


# ---------------------------------------------------------------------------------------------------------------
# the generator: the given one is used (the default is a fresh one seeded 0), never the global RNG


def test_the_given_generator_drives_the_sample_and_the_global_rng_is_untouched(calls):
    tensors = spread_tensors(1)
    state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(5)
    before = gen_state(generator)
    value = kth_smallest_magnitude(tensors, 4321, sample_size=256, chunk_elems=2048, generator=generator)
    assert value == reference(tensors, 4321)
    assert not torch.equal(gen_state(generator), before)  # the sample came from it
    assert torch.equal(torch.get_rng_state(), state)
    pivots_seed_5 = calls.scans[0].pivots
    calls.clear()
    kth_smallest_magnitude(tensors, 4321, sample_size=256, chunk_elems=2048, generator=torch.Generator().manual_seed(5))
    assert calls.scans[0].pivots == pivots_seed_5
    calls.clear()
    kth_smallest_magnitude(tensors, 4321, sample_size=256, chunk_elems=2048, generator=torch.Generator().manual_seed(6))
    assert calls.scans[0].pivots != pivots_seed_5


def test_the_default_generator_is_a_fresh_one_seeded_zero(calls):
    tensors = spread_tensors(2)
    state = torch.get_rng_state()
    kth_smallest_magnitude(tensors, 777, sample_size=128, chunk_elems=4096)
    default_pivots = [scan.pivots for scan in calls.scans]
    assert torch.equal(torch.get_rng_state(), state)
    for seed, same in ((0, True), (1, False)):
        calls.clear()
        kth_smallest_magnitude(tensors, 777, sample_size=128, chunk_elems=4096,
                               generator=torch.Generator().manual_seed(seed))
        assert ([scan.pivots for scan in calls.scans] == default_pivots) is same


def test_masks_draw_from_the_given_generator_as_the_threshold_search_does():
    tensors = spread_tensors(3)
    total = sum(t.numel() for t in tensors)
    state = torch.get_rng_state()
    for n_prune in (1000, total // 2):
        searched, masked = torch.Generator().manual_seed(n_prune), torch.Generator().manual_seed(n_prune)
        threshold = kth_smallest_magnitude(tensors, n_prune, chunk_elems=3000, generator=searched)
        masks = select_prune_masks(tensors, n_prune, chunk_elems=3000, generator=masked)
        assert not torch.equal(gen_state(searched), gen_state(torch.Generator().manual_seed(n_prune)))
        assert torch.equal(gen_state(masked), gen_state(searched))
        kept = torch.cat([t.abs()[m] for t, m in zip(tensors, masks)])
        assert sum(int((~m).sum()) for m in masks) == n_prune and kept.min() >= threshold
        assert all(torch.equal(m, e) for m, e in zip(masks, reference_masks(tensors, n_prune)))
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------------------------------------------------
# re-pivoting by rejection


def test_rejection_draws_are_sized_to_expect_twice_the_wanted_hits(calls):
    tensors = [torch.arange(10000.0)]
    interval = th._Interval(1999.5, 2999.5, 2000, 3000)  # magnitudes 2000 … 2999: 1000 of 10000
    sample = torch.arange(10.0) * 0.5  # none inside
    generator = torch.Generator().manual_seed(0)
    inside = th._sample_inside(tensors, interval, sample, generator, torch.float32)
    # wanted = 64 points; acceptance 1000 / 10000 → ceil(2 · 64 · 10000 / 1000) = 1280 draws per round
    assert calls.sample_sizes and set(calls.sample_sizes) == {1280}
    assert inside.numel() >= 64 and torch.equal(inside, torch.sort(inside).values)
    assert bool(((inside > 1999.5) & (inside < 2999.5)).all())


def test_no_fresh_draws_when_the_sample_already_has_enough_points_inside(calls):
    tensors = [torch.arange(10000.0)]
    interval = th._Interval(1999.5, 2999.5, 2000, 3000)
    sample = torch.cat([torch.arange(64.0) + 2100.0, torch.tensor([5.0, 9000.0])])
    generator = torch.Generator().manual_seed(0)
    before = gen_state(generator)
    inside = th._sample_inside(tensors, interval, sample, generator, torch.float32)
    assert torch.equal(inside, torch.arange(64.0) + 2100.0)
    assert calls["_sample_magnitudes"] == 0 and torch.equal(gen_state(generator), before)


def test_rejection_compares_draws_in_the_promoted_dtype(calls):
    # float16 magnitudes 1.0 inside (1 - 2^-14, 1 + 2^-13): equal to both bounds if compared in float16
    tensors = [torch.ones(5000, dtype=torch.float16), torch.tensor([0.25])]
    interval = th._Interval(1.0 - 2.0 ** -14, 1.0 + 2.0 ** -13, 0, 5000)
    generator = torch.Generator().manual_seed(1)
    inside = th._sample_inside(tensors, interval, torch.tensor([0.25]), generator, torch.float32)
    assert inside.dtype == torch.float32 and inside.numel() >= 64 and bool((inside == 1.0).all())
    assert len(calls.sample_sizes) == 1


# ---------------------------------------------------------------------------------------------------------------
# masks


def test_masks_are_fresh_contiguous_bool_copies_of_odd_current_masks():
    generator = torch.Generator().manual_seed(2)
    tensors = [torch.randn(3, 4, generator=generator), torch.randn(5, generator=generator)]
    transposed = torch.ones(4, 3, dtype=torch.bool).t()  # shape (3, 4), not contiguous
    transposed[0, 1] = False
    tensors[0][0, 1] = 0.0
    as_bytes = torch.tensor([1, 1, 0, 1, 1], dtype=torch.uint8)
    tensors[1][2] = 0.0
    current = [transposed, as_bytes]
    snapshot = [m.clone() for m in current]
    for n_prune in (2, 3, 9, 17):
        masks = select_prune_masks(tensors, n_prune, current_masks=current, chunk_elems=2)
        assert [m.dtype for m in masks] == [torch.bool, torch.bool]
        assert all(m.is_contiguous() and m.device.type == "cpu" for m in masks)
        assert [m.shape for m in masks] == [t.shape for t in tensors]
        expected = reference_masks(tensors, n_prune, current)
        assert all(torch.equal(m, e) for m, e in zip(masks, expected)), n_prune
        assert all(torch.equal(m, s) for m, s in zip(current, snapshot))  # the inputs are not written to
    masks = select_prune_masks(tensors, 2, current_masks=current)  # nothing new to prune: copies all the same
    assert [m.dtype for m in masks] == [torch.bool, torch.bool] and all(m.is_contiguous() for m in masks)
    assert all(torch.equal(m, s.bool()) for m, s in zip(masks, snapshot))


def test_masks_default_to_all_kept_and_prune_the_smallest_across_tensors():
    tensors = [torch.tensor([[0.3, -0.1], [0.2, 0.0]], dtype=torch.float16), torch.tensor([0.05, -0.25, 0.0])]
    for n_prune in range(0, 8):
        masks = select_prune_masks(tensors, n_prune, chunk_elems=3)
        expected = reference_masks(tensors, n_prune)
        assert [m.dtype for m in masks] == [torch.bool, torch.bool]
        assert all(torch.equal(m, e) for m, e in zip(masks, expected)), n_prune


def test_masks_and_threshold_stay_on_the_weights_device_whatever_the_default_device():
    # tensors made without a device argument would land on the default device (here: meta) instead of the CPU
    tensors = [torch.tensor([0.5, -0.0, 2.0, -1.0]), torch.tensor([[0.0, 3.0], [-0.25, 1.0]])]
    current = [torch.tensor([True, False, True, True]), torch.ones(2, 2, dtype=torch.bool)]
    expected = reference_masks(tensors, 4, current)
    with torch.device("meta"):
        masks = select_prune_masks(tensors, 4, current_masks=current)
        value = kth_smallest_magnitude(tensors, 4)
    assert all(m.device.type == "cpu" for m in masks)
    assert all(torch.equal(m, e) for m, e in zip(masks, expected))
    assert value == 0.5


def test_the_sampling_path_draws_on_the_host_whatever_the_default_device():
    # a sample smaller than the elements takes the sampling path: its per-tensor draw counts (a chain of binomials
    # from the CPU generator) are drawn on the host; made on the default device they failed (meta here, and a CUDA
    # default device with a CPU generator alike)
    generator = torch.Generator().manual_seed(3)
    tensors = [torch.randn(10, generator=generator), torch.randn(5, generator=generator)]
    with torch.device("meta"):
        value = kth_smallest_magnitude(tensors, 4, sample_size=3, chunk_elems=2)
    assert value == reference(tensors, 4)


def float32_just_below_float16_ones(n32=900, n16=100):
    """|w| = 1 - 2^-14 in float32 (which rounds to 1 in float16) and |w| = 1 in float16, both signs: distinct in the
    promoted float32, one value if compared in float16. The float16 tensor comes first (ties go in tensor order)."""
    below = torch.full((n32,), 1.0 - 2.0 ** -14)
    below[1::2] *= -1
    ones = torch.ones(n16, dtype=torch.float16)
    ones[::3] = -1
    return [ones, below]


@pytest.mark.parametrize("seed", range(4))
def test_float16_magnitudes_above_a_float32_pivot_are_not_its_ties(seed):
    tensors = float32_just_below_float16_ones()
    for k, expected in ((1, 1.0 - 2.0 ** -14), (900, 1.0 - 2.0 ** -14), (901, 1.0), (1000, 1.0)):
        for sample_size, chunk_elems in ((1, 300), (4, 500), (1, 950)):
            value = kth_smallest_magnitude(tensors, k, sample_size=sample_size, chunk_elems=chunk_elems,
                                           generator=torch.Generator().manual_seed(seed))
            assert value == expected == reference(tensors, k), (k, sample_size, chunk_elems)


@pytest.mark.parametrize("chunk_elems", [7, 300, 1 << 24])
def test_float16_ones_are_not_taken_as_ties_of_a_float32_threshold(chunk_elems):
    tensors = float32_just_below_float16_ones()
    for n_prune in (450, 900, 901, 950):
        masks = select_prune_masks(tensors, n_prune, chunk_elems=chunk_elems,
                                   generator=torch.Generator().manual_seed(n_prune))
        expected = reference_masks(tensors, n_prune)
        assert all(torch.equal(m, e) for m, e in zip(masks, expected)), n_prune
    masks = select_prune_masks(tensors, 900, chunk_elems=chunk_elems)
    assert bool(masks[0].all()) and not bool(masks[1].any())  # every float32 one pruned, no float16 one


@pytest.mark.parametrize("sample_size, chunk_elems, k", [(2, 5, 171), (2, 5, 277), (1, 20, 52), (1, 20, 171),
                                                         (1, 20, 203)])
def test_exact_when_both_new_pivots_fall_below_the_answer_inside_a_bounded_interval(sample_size, chunk_elems, k):
    # tiny re-pivot samples inside a bounded interval can put both pivots below the answer: the interval then keeps
    # its upper bound (these seeds do so)
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(150, generator=generator), torch.randn(10, 10, generator=generator),
               torch.randn(50, generator=generator)]
    assert kth_smallest_magnitude(tensors, k, sample_size=sample_size, chunk_elems=chunk_elems,
                                  generator=torch.Generator().manual_seed(k)) == reference(tensors, k)


def test_pruned_entries_that_are_not_zero_are_reported():
    # the docstring's precondition broken: entries pruned earlier hold 5 and 6, above the new threshold 3, so the
    # kept entries below it (1, 2) plus the pruned ones are already more than n_prune = 3
    tensors = [torch.tensor([5.0, 6.0, 1.0, 2.0, 3.0])]
    current = [torch.tensor([False, False, True, True, True])]
    message = ("pruned entries must hold exact zeros: with them counted as pruned, 1 more than n_prune=3 entries "
               "lie below the new threshold |w| = 3.0")
    with pytest.raises(RuntimeError, match="^" + re.escape(message) + "$"):
        select_prune_masks(tensors, 3, current_masks=current)
