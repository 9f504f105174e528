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

METHODS = ("kth_smallest_magnitude", "torch.kthvalue(cat)")


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB → MiB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


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
    peak_reset = _reset_peak()
    resident = _status_mib("VmRSS")
    began = time.perf_counter()
    if method == METHODS[0]:
        from pruning.threshold import kth_smallest_magnitude

        value = kth_smallest_magnitude(tensors, k, generator=torch.Generator().manual_seed(seed))
    else:
        value = torch.cat([t.flatten() for t in tensors]).abs_().kthvalue(k).values.item()
    seconds = time.perf_counter() - began
    return {"method": method, "seconds": seconds, "extra_mib": _status_mib("VmHWM") - resident,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=int, default=1_000_000_000, help="total fp32 elements")
    parser.add_argument("--tensors", type=int, default=48, help="number of tensors they are split into")
    parser.add_argument("--k-fraction", type=float, default=0.5, help="k = round(k_fraction · params)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads in each child (0: torch's default); 1 is steadier on a busy machine")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, reference = (_run_in_child(context, method, args) for method in METHODS)
    print(f"params={args.params:,} tensors={args.tensors} k={max(1, round(args.k_fraction * args.params)):,} "
          f"threads={args.threads or 'default'}")
    print(f"{'method':<26}{'seconds':>10}{'extra peak MiB':>16}  value")
    for result in (ours, reference):
        if "failed" in result:
            print(f"{result['method']:<26}  {result['failed']}")
        else:
            print(f"{result['method']:<26}{result['seconds']:>10.2f}{result['extra_mib']:>16,.0f}  "
                  f"{result['value']!r}  (tensors resident {result['resident_mib']:,.0f} MiB, "
                  f"peak reset {result['peak_reset']})")
    if "failed" in ours:
        raise SystemExit(1)
    if "failed" in reference:
        return
    print(f"{'ratio (reference / ours)':<26}{reference['seconds'] / ours['seconds']:>10.1f}"
          f"{reference['extra_mib'] / max(ours['extra_mib'], 1.0):>16.1f}")
    same = ours["value"] == reference["value"]
    print(f"same value: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
