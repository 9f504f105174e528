"""2:4 semi-structured linear layers vs dense on a CUDA GPU (P² study, issue 7).

For each shape (a GPT block's qkv / out / MLP up / MLP down at d_model D, batch·seq tokens), the weight gets the 2:4
magnitude mask of `pruning.structured.two_four_mask`, is converted with `torch.sparse.to_sparse_semi_structured`,
and F.linear is timed (CUDA events, median of --repeats) against the same masked weight stored dense. Prints one
line per shape with the speed-up (dense time / sparse time). Needs fp16/bf16 and an Ampere-or-newer GPU; without
CUDA it prints "skipped: no GPU" and exits 0.

    python benchmarks/bench_semi_structured.py --d-model 4096 --tokens 8192 --dtype bf16
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruning.structured import two_four_mask  # noqa: E402


def time_ms(fn, repeats: int) -> float:
    """Median milliseconds of fn() on the GPU, after warm-up."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_shape(out_features: int, in_features: int, tokens: int, dtype: torch.dtype, repeats: int) -> dict:
    weight = torch.randn(out_features, in_features, device="cuda", dtype=dtype)
    weight = weight * two_four_mask(weight)  # (O, I), 2 of every 4 inputs kept
    sparse_weight = torch.sparse.to_sparse_semi_structured(weight)
    x = torch.randn(tokens, in_features, device="cuda", dtype=dtype)  # (tokens, I)
    torch.testing.assert_close(F.linear(x, sparse_weight), F.linear(x, weight), rtol=2e-2, atol=2e-1)
    dense_ms = time_ms(lambda: F.linear(x, weight), repeats)
    sparse_ms = time_ms(lambda: F.linear(x, sparse_weight), repeats)
    return {"shape": (out_features, in_features), "dense_ms": dense_ms, "sparse_ms": sparse_ms,
            "speedup": dense_ms / sparse_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-model", type=int, default=4096)
    parser.add_argument("--tokens", type=int, default=8192, help="batch × sequence length")
    parser.add_argument("--dtype", choices=("fp16", "bf16"), default="bf16")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("skipped: no GPU")
        return 0
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    d = args.d_model
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}, {args.dtype}, tokens {args.tokens}")
    for name, (out_features, in_features) in {"attn.qkv": (3 * d, d), "attn.out": (d, d),
                                              "mlp.up": (4 * d, d), "mlp.down": (d, 4 * d)}.items():
        row = bench_shape(out_features, in_features, args.tokens, dtype, args.repeats)
        print(f"{name:9s} {out_features}x{in_features}: dense {row['dense_ms']:.3f} ms, "
              f"2:4 {row['sparse_ms']:.3f} ms, speed-up {row['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
