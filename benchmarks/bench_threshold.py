"""Global k-th magnitude: `kth_smallest_magnitude` (bounded memory) vs torch.kthvalue on the concatenation.

Each method runs in its own fresh 'spawn' child process that builds the same synthetic fp32 tensors (summing to
--params elements over --tensors tensors), so peak memories are separable: the extra peak is VmHWM after the
method minus VmRSS before it (VmHWM is reset through /proc/self/clear_refs where the kernel allows; otherwise the
peak of building the tensors is a floor). The reference is the cheapest form of the concatenation:
torch.cat(flat tensors).abs_().kthvalue(k) (`torch.cat([t.abs().flatten() ...])` would cost 4 bytes/elem more).

    python benchmarks/bench_threshold.py --params 100_000_000
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import BenchmarkResult, Figure, Target, add_json_option, publish  # noqa: E402
from proc_memory import reset_peak, status_mib  # noqa: E402

METHODS = ("kth_smallest_magnitude", "torch.kthvalue(cat)")


def _build_tensors(params: int, n_tensors: int, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    base, remainder = divmod(params, n_tensors)
    sizes = [base + (1 if i < remainder else 0) for i in range(n_tensors)]
    # Layers of different scales, like a real network (and so a threshold that is not per-tensor).
    return [torch.randn(size, generator=generator) * (0.5 + i / n_tensors) for i, size in enumerate(sizes)]


def run_method(method: str, params: int, n_tensors: int, seed: int, k_fraction: float, threads: int) -> dict:
    """Runs in a child: build tensors, then time one method and measure its extra peak memory."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    tensors = _build_tensors(params, n_tensors, seed)
    k = max(1, round(k_fraction * params))
    peak_reset = reset_peak()
    resident = status_mib("VmRSS")
    began = time.perf_counter()
    if method == METHODS[0]:
        from pruning.threshold import kth_smallest_magnitude

        value = kth_smallest_magnitude(tensors, k, generator=torch.Generator().manual_seed(seed))
    else:
        value = torch.cat([t.flatten() for t in tensors]).abs_().kthvalue(k).values.item()
    seconds = time.perf_counter() - began
    return {"method": method, "seconds": seconds, "extra_mib": status_mib("VmHWM") - resident,
            "resident_mib": resident, "value": value, "peak_reset": peak_reset, "k": k}


def _run_in_child(context, method: str, args: argparse.Namespace) -> dict:
    """A fresh process per method, so peaks do not mix; a child killed (e.g. out of memory) is reported."""
    results = context.Queue()
    child = context.Process(target=_child_main, args=(results, method, args.params, args.tensors, args.seed,
                                                      args.k_fraction, args.threads))
    child.start()
    child.join()
    if child.exitcode != 0 or results.empty():
        return {"method": method, "failed": f"child exited with code {child.exitcode} (-9: killed, e.g. OOM)"}
    return results.get()


def _child_main(results, *arguments) -> None:
    results.put(run_method(*arguments))


def threshold_figures(ours: dict, reference: dict, params: int) -> list[Figure]:
    """Same threshold (exactly), extra peak memory ÷ the weights' size (target ≤ 10 %), and both methods side by
    side: time and extra peak memory."""
    weights_mib, extra = params * 4 / 2**20, ours["extra_mib"]
    memory = Figure("extra peak memory of `kth_smallest_magnitude` ÷ the weights (fp32)", extra / weights_mib,
                    f"{100 * extra / weights_mib:.1f} %", f"{extra:,.0f} MiB of {weights_mib:,.0f} MiB",
                    Target("<=", 0.10, "<= 10 %"))
    same_name, identical = "same threshold as `torch.kthvalue` on the concatenation", Target("==", True, "identical")
    if "failed" in reference:
        return [Figure(same_name, None, "not measured", f"reference {reference['failed']}", identical), memory]
    same = ours["value"] == reference["value"]
    time_ratio, memory_ratio = reference["seconds"] / ours["seconds"], reference["extra_mib"] / max(extra, 1.0)
    return [
        Figure(same_name, same, "identical" if same else "differs", f"{ours['value']!r} vs {reference['value']!r}",
               identical),
        memory,
        Figure("time: `kthvalue` on the concatenation ÷ `kth_smallest_magnitude`", time_ratio,
               f"{time_ratio:.1f}×", f"{reference['seconds']:.2f} s vs {ours['seconds']:.2f} s"),
        Figure("extra peak memory: `kthvalue` on the concatenation ÷ `kth_smallest_magnitude`", memory_ratio,
               f"{memory_ratio:.1f}×", f"{reference['extra_mib']:,.0f} MiB vs {extra:,.0f} MiB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=int, default=1_000_000_000, help="total fp32 elements")
    parser.add_argument("--tensors", type=int, default=48, help="number of tensors they are split into")
    parser.add_argument("--k-fraction", type=float, default=0.5, help="k = round(k_fraction · params)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads in each child (0: torch's default); 1 is steadier on a busy machine")
    add_json_option(parser)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, reference = (_run_in_child(context, method, args) for method in METHODS)
    if "failed" in ours:
        raise SystemExit(f"{ours['method']}: {ours['failed']}")
    result = BenchmarkResult("threshold", threshold_figures(ours, reference, args.params), notes=[
        f"params {args.params:,} in {args.tensors} synthetic fp32 tensors, k = {ours['k']:,}, "
        f"threads {args.threads or 'default'}, tensors resident {ours['resident_mib']:,.0f} MiB, "
        f"peak reset through clear_refs: {ours['peak_reset']}"])
    publish(result, args.json)
    if reference.get("value", ours["value"]) != ours["value"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
