"""Could a pruned cell's step cost less than a dense one on this CPU? torch's own sparse kernels against the dense
product with the masked weight, at the densities journey80's cells reach (sparsity 0.2, 0.4, 0.6, 0.8).

A cell keeps its weights dense and masked, so on this machine a step at density ρ costs a dense step: the wall time
of a sweep falls with the steps it saves, not with its dense-equivalent compute (issue 19's target). This measures
whether a sparse kernel would change that, on the forward product of a linear layer (W: d_mlp × d_model at density
ρ, times the activations of one step: d_model × tokens), the MLP shapes of the micro and small presets with a
cell's tokens per step: COO (`torch.sparse.mm`) and CSR (`@`) against dense `W @ X`. One thread, medians of
interleaved repeats. The figure is sparse ÷ dense; for a pruned step to cost ρ of a dense one it would have to be ρ.
The forward is the easiest of the three products (the backward's weight gradient is needed only at the kept
weights, a sampled product torch has no CPU kernel for), so a ratio above ρ here bounds the whole step.

    .venv/bin/python benchmarks/bench_sparse_matmul.py [--repeats 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from figures import BenchmarkResult, Figure, Target, add_json_option, publish

SHAPES = {"micro": (64, 256, 32 * 128), "small": (256, 1024, 32 * 256)}  # d_model, d_mlp, tokens per step
DENSITIES = (0.8, 0.6, 0.4, 0.2)


def median_ms(products: dict, repeats: int, calls: int) -> dict[str, float]:
    """Median ms per call of each product, the products interleaved in every repeat."""
    for product in products.values():
        product()
    samples: dict[str, list[float]] = {name: [] for name in products}
    for _ in range(repeats):
        for name, product in products.items():
            started = time.perf_counter()
            for _ in range(calls):
                product()
            samples[name].append((time.perf_counter() - started) / calls * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def figures_for(preset: str, density: float, repeats: int) -> list[Figure]:
    d_model, d_mlp, tokens = SHAPES[preset]
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(d_mlp, d_model, generator=generator)
    weight[torch.rand(d_mlp, d_model, generator=generator) >= density] = 0
    activations = torch.randn(d_model, tokens, generator=generator)
    coo, csr = weight.to_sparse(), weight.to_sparse_csr()
    times = median_ms({"dense": lambda: weight @ activations, "coo": lambda: torch.sparse.mm(coo, activations),
                       "csr": lambda: csr @ activations}, repeats, calls=10 if preset == "micro" else 2)
    shape = f"{preset} MLP ({d_mlp}×{d_model} @ {d_model}×{tokens})"
    return [Figure(f"{kind.upper()} ÷ dense masked product, {shape}, density {density:g}", times[kind] / times["dense"],
                   f"{times[kind] / times['dense']:.2f}", f"{times[kind]:.2f} ms vs {times['dense']:.2f} ms",
                   Target("<=", density, f"<= {density:g} (ρ)"))
            for kind in ("coo", "csr")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    add_json_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    figures = [figure for preset in args.presets for density in DENSITIES
               for figure in figures_for(preset, density, args.repeats)]
    publish(BenchmarkResult("sparse_matmul", figures, notes=[
        f"torch {torch.__version__}, 1 thread, medians of {args.repeats} interleaved repeats; a figure ≤ ρ is what "
        "a pruned step would need to cost ρ of a dense one"]), args.json)


if __name__ == "__main__":
    main()
