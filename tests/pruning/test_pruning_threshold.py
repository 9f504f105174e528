"""The global k-th smallest magnitude is exact (vs torch.kthvalue on the concatenation) in bounded memory."""
from pathlib import Path

import pytest
import torch

from pruning.threshold import kth_smallest_magnitude, select_prune_masks


def reference(tensors, k):
    return torch.cat([t.abs().flatten() for t in tensors]).kthvalue(k).values.item()


def random_tensors(seed, kind, count=6, max_size=3000):
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for i in range(count):
        shape = (int(torch.randint(1, max_size, (1,), generator=generator)),)
        if i % 2:
            shape = tuple(int(d) for d in torch.randint(1, 60, (2,), generator=generator))
        t = torch.randn(shape, generator=generator) * 10 ** float(torch.randint(-2, 3, (1,), generator=generator))
        if kind == "zeros":  # most entries exactly zero, as after earlier pruning
            t[torch.rand(shape, generator=generator) < 0.8] = 0.0
        elif kind == "ties":  # few distinct magnitudes, both signs
            t = torch.randint(-3, 4, shape, generator=generator).float()
        tensors.append(t)
    return tensors


@pytest.mark.parametrize("kind", ["gaussian", "zeros", "ties"])
@pytest.mark.parametrize("seed", range(3))
def test_exact_against_kthvalue_through_the_sampling_path(kind, seed):
    tensors = random_tensors(seed, kind)
    total = sum(t.numel() for t in tensors)
    for k in sorted({1, 2, total // 3, total // 2, total - 1, total}):
        if k < 1:
            continue
        value = kth_smallest_magnitude(tensors, k, sample_size=97, chunk_elems=501,
                                       generator=torch.Generator().manual_seed(k))
        assert value == reference(tensors, k), (kind, seed, k)


def test_exact_with_a_tiny_sample_that_forces_refinement():
    tensors = random_tensors(7, "gaussian")
    total = sum(t.numel() for t in tensors)
    for k in (1, total // 5, total):
        assert kth_smallest_magnitude(tensors, k, sample_size=3, chunk_elems=40) == reference(tensors, k)


def test_exact_with_default_sizes_above_the_sample_size():
    tensors = [torch.randn(700_000), torch.randn(300, 1000), torch.zeros(100_000), torch.randn(5)]
    total = sum(t.numel() for t in tensors)
    for k in (1, 100_000, 100_001, total // 2, total):
        assert kth_smallest_magnitude(tensors, k) == reference(tensors, k)


def test_tiny_inputs():
    assert kth_smallest_magnitude([torch.tensor([-3.0])], 1) == 3.0
    tensors = [torch.tensor([2.0, -1.0]), torch.tensor([[0.5]]), torch.tensor([-2.0])]
    assert [kth_smallest_magnitude(tensors, k, sample_size=1, chunk_elems=1) for k in (1, 2, 3, 4)] == [0.5, 1, 2, 2]
    with pytest.raises(ValueError, match="k must"):
        kth_smallest_magnitude(tensors, 5)
    with pytest.raises(ValueError, match="k must"):
        kth_smallest_magnitude(tensors, 0)


def test_mixed_dtypes_compare_as_the_concatenation_would():
    generator = torch.Generator().manual_seed(3)
    tensors = [torch.randn(3000, generator=generator).bfloat16(), torch.randn(2000, generator=generator)]
    for k in (1, 1234, 2500, 5000):
        assert kth_smallest_magnitude(tensors, k, sample_size=50, chunk_elems=300) == reference(tensors, k)


def test_deterministic_and_leaves_the_global_rng_alone():
    tensors = random_tensors(1, "gaussian")
    state = torch.get_rng_state()
    values = {kth_smallest_magnitude(tensors, 1000, sample_size=64, chunk_elems=256) for _ in range(3)}
    assert len(values) == 1
    assert torch.equal(state, torch.get_rng_state())


def pruned_count(masks):
    return sum(int((~m).sum()) for m in masks)


@pytest.mark.parametrize("kind", ["gaussian", "zeros", "ties"])
def test_masks_prune_exactly_n_by_one_global_threshold(kind):
    tensors = random_tensors(11, kind)
    total = sum(t.numel() for t in tensors)
    for n_prune in (0, 1, total // 4, total // 2, total - 1, total):
        masks = select_prune_masks(tensors, n_prune, chunk_elems=333)
        assert pruned_count(masks) == n_prune
        kept = torch.cat([t.abs()[m] for t, m in zip(tensors, masks)])
        pruned = torch.cat([t.abs()[~m] for t, m in zip(tensors, masks)])
        if kept.numel() and pruned.numel():
            assert pruned.max() <= kept.min()


def test_ties_are_taken_in_tensor_then_flat_index_order():
    tensors = [torch.tensor([1.0, 2.0, -2.0]), torch.tensor([[2.0, 0.5], [-2.0, 3.0]])]
    masks = select_prune_masks(tensors, 4)  # 0.5, 1, then the first two |w| == 2 in order
    assert masks[0].tolist() == [False, False, False]
    assert masks[1].tolist() == [[True, False], [True, True]]


def test_masks_only_shrink_even_with_unpruned_zeros():
    # Entries already pruned (exact zeros) stay pruned even though unpruned zeros tie with them and come first.
    tensors = [torch.tensor([0.0, 0.0, 5.0]), torch.tensor([0.0, 1.0, 0.0])]
    current = [torch.tensor([True, True, True]), torch.tensor([False, True, False])]
    masks = select_prune_masks(tensors, 3, current_masks=current)
    assert masks[1].tolist() == [False, True, False]
    assert masks[0].tolist() == [False, True, True]
    assert pruned_count(masks) == 3
    with pytest.raises(ValueError, match="n_prune"):
        select_prune_masks(tensors, 1, current_masks=current)


@pytest.mark.parametrize("chunk_elems", [1, 2, 1 << 24])
def test_an_already_pruned_zero_before_a_kept_zero_does_not_use_up_the_ties(chunk_elems):
    # n_prune is the total pruned AFTER the event, the entries already pruned included. [0, 0, 5] with index 0
    # already pruned, asked for 2: the 2nd smallest |w| is 0, nothing is below it, and the one tie left to take is
    # the KEPT zero at index 1. Taking the already-pruned zero at index 0 as "the tie" would leave 1 pruned.
    tensor = torch.tensor([0.0, 0.0, 5.0])
    masks = select_prune_masks([tensor], 2, current_masks=[torch.tensor([False, True, True])],
                               chunk_elems=chunk_elems)
    assert masks[0].tolist() == [False, False, True]
    # the same across tensors: the already-pruned zero in the first tensor, the kept zero in the second
    masks = select_prune_masks([torch.tensor([0.0, 5.0]), torch.tensor([0.0, 7.0])], 2,
                               current_masks=[torch.tensor([False, True]), torch.tensor([True, True])],
                               chunk_elems=chunk_elems)
    assert [m.tolist() for m in masks] == [[False, True], [False, True]]


def test_nan_magnitudes_are_refused():
    tensors = [torch.randn(5000), torch.full((3000,), float("nan"))]
    for sizes in (dict(), dict(sample_size=100, chunk_elems=500)):
        with pytest.raises(ValueError, match="NaN"):
            kth_smallest_magnitude(tensors, 7000, **sizes)


def test_an_event_reads_back_a_few_values_whatever_the_number_of_tensors(monkeypatch):
    """The threshold search and the masks count on the weights' device and read back a handful of numbers per pass,
    not one per tensor or chunk (on a GPU every read is a sync). The host-side draw of how many sample points fall
    in each tensor (host tensors only) is left out of the count."""
    from conftest import count_host_reads

    threshold_code = str(Path(select_prune_masks.__code__.co_filename))
    reads = count_host_reads(monkeypatch, lambda frame: frame.f_code.co_filename == threshold_code
                             and frame.f_code.co_name != "_counts_per_tensor")
    totals = []
    for n_tensors in (8, 64):
        generator = torch.Generator().manual_seed(0)
        tensors = [torch.randn(2_000_000 // n_tensors, generator=generator) for _ in range(n_tensors)]
        reads.clear()
        masks = select_prune_masks(tensors, 1_000_000, chunk_elems=100_000, generator=torch.Generator().manual_seed(1))
        assert pruned_count(masks) == 1_000_000
        totals.append(sum(reads.values()))
    assert totals[0] == totals[1] <= 8, dict(reads)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_on_a_gpu_the_threshold_and_masks_are_those_of_the_cpu(dtype):
    generator = torch.Generator().manual_seed(5)
    tensors = [torch.randn(size, generator=generator).to(dtype) for size in (1_500_000, 700_000, 3, 90_000)]
    tensors[1][:1000] = 0.0  # ties at zero
    on_gpu = [t.cuda() for t in tensors]
    total = sum(t.numel() for t in tensors)
    for k in (1, 999, total // 3, total - 1):
        assert kth_smallest_magnitude(on_gpu, k, chunk_elems=1 << 19) == reference(tensors, k)
    cpu_masks = select_prune_masks(tensors, total // 2, chunk_elems=1 << 19)
    gpu_masks = select_prune_masks(on_gpu, total // 2, chunk_elems=1 << 19)
    assert all(m.is_cuda for m in gpu_masks)
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu_masks, gpu_masks))
