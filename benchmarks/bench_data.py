"""The data layer's costs, side by side in one process:
  1. fetching one batch from memory-mapped token shards (data=tokens: three uint16 shards of ids below 32k, windows
     read across their boundaries) ÷ one bare training step of the small preset, same batch and context.
     Target ≤ 1 %: the data is never what a step waits for.
  2. preparing text (orchestrator's prepare_corpus with the enwiki-bpe tokenizer: read, tokenize in parallel
     batches, write the token files) in tokens per second ÷ the `tokenizers` library's own encode_batch over the
     same documents with the same threads. Target ≥ 0.8.
Medians over repeats.

    .venv/bin/python benchmarks/bench_data.py [--shard-tokens 20_000_000] [--repeats 5] [--json PATH]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from figures import BenchmarkResult, Figure, Target, add_json_option, publish  # noqa: E402

from model.gpt import GPT, preset  # noqa: E402
from orchestrator.data import TokenBatches, get_tokenizer, prepare_corpus, prepare_tokens, read_texts  # noqa: E402

VOCAB = 32000


def fetch_seconds(folder: Path, shard_tokens: int, batch: int, seq_len: int, repeats: int) -> float:
    """Median seconds of one `TokenBatches.batch` over three shards of `shard_tokens` each."""
    rng = np.random.default_rng(0)
    for i in range(3):
        rng.integers(0, VOCAB, shard_tokens, dtype=np.uint16).tofile(folder / f"part-{i}.bin")
    (folder / "tokens.json").write_text(f'{{"dtype": "uint16", "vocab_size": {VOCAB}}}')
    prepared = prepare_tokens(folder, cache_dir=folder / "cache")
    batches = TokenBatches(prepared.train, seq_len=seq_len)
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        for step in range(100):
            batches.batch(repeat * 100 + step, batch_size=batch, seed=0)
        times.append((time.perf_counter() - started) / 100)
    return statistics.median(times)


def step_seconds(batch: int, seq_len: int, repeats: int) -> float:
    """Median seconds of one bare training step (forward, backward, AdamW) of the small preset."""
    torch.manual_seed(0)
    model = GPT(preset("small"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, model.config.vocab_size, (batch, seq_len))
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        _, loss = model(x, x)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def prepare_rates(repeats: int) -> tuple[float, float]:
    """(tokens/s of prepare_corpus with enwiki-bpe, tokens/s of encode_batch on the same documents)."""
    documents, _ = read_texts(None)
    tokenizer = get_tokenizer("enwiki-bpe")
    prepared_rates, library_rates = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            prepared = prepare_corpus(None, tokenizer="enwiki-bpe", cache_dir=cache)
            prepared_rates.append((prepared.n_train_tokens + prepared.n_val_tokens) / (time.perf_counter() - started))
        started = time.perf_counter()
        encoded = tokenizer._tokenizer.encode_batch(documents, add_special_tokens=False)
        library_rates.append(sum(len(e.ids) for e in encoded) / (time.perf_counter() - started))
    return statistics.median(prepared_rates), statistics.median(library_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard-tokens", type=int, default=20_000_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    add_json_option(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # the tokenizers library's threads
    seq_len = preset("small").max_seq_len
    with tempfile.TemporaryDirectory() as folder:
        fetch = fetch_seconds(Path(folder), args.shard_tokens, args.batch, seq_len, args.repeats)
    step = step_seconds(args.batch, seq_len, args.repeats)
    ours, library = prepare_rates(args.repeats)
    publish(BenchmarkResult("data", [
        Figure("one batch from memory-mapped shards ÷ one training step, small", fetch / step,
               f"{100 * fetch / step:.3f} %", f"{fetch * 1e3:.3f} ms vs {step * 1e3:.0f} ms", Target("<=", 0.01,
                                                                                                   "<= 1 %")),
        Figure("prepare_corpus (enwiki-bpe) ÷ tokenizers' encode_batch, tokens/s", ours / library,
               f"{ours / library:.2f}", f"{ours:,.0f} vs {library:,.0f} tokens/s", Target(">=", 0.8, ">= 0.8")),
    ], notes=[f"{os.cpu_count()} cores, threads {args.threads}, batch {args.batch} × context {seq_len}, 3 shards of "
              f"{args.shard_tokens:,} tokens, the embedded corpus for preparing, medians of {args.repeats}"]),
        args.json)


if __name__ == "__main__":
    main()
