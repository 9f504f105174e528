"""Does a pool actor's memory come back between cells? The resident memory of one process that runs N cells one after
another, as a pool actor does (the launcher's warm-up first, then `run_cell` for each; W&B offline), read after each
cell: RSS after the last cell ÷ RSS after the first (target ≤ 1.1, issue 18).

    .venv/bin/python benchmarks/bench_pool_memory.py [--cells 10] [--steps 40] [--json PATH]
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from figures import BenchmarkResult, Figure, Target, add_json_option, publish  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="dense steps of each (micro) cell")
    add_json_option(parser)
    args = parser.parse_args()

    import psutil
    from conftest import build

    from orchestrator.cell.run import run_cell
    from orchestrator.sweep.train import warm_up_worker

    warm_up_worker()
    store = tempfile.mkdtemp(prefix="bench-pool-memory-")
    overrides = ["experiment=micro_cell", f"budget.dense_steps={args.steps}", "pruning.every=5", "train.batch_size=8",
                 f"train.eval_every={args.steps // 2}", "train.log_every=5", f"train.checkpoint_every={args.steps // 2}",
                 "train.threads=1", f"results_dir={store}", "wandb.mode=offline"]
    process, rss = psutil.Process(), []
    for seed in range(args.cells):
        outcome = run_cell(*build(overrides + [f"seed={seed}"]))
        assert outcome.status == "done", outcome.status
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    ratio = rss[-1] / rss[0]
    figures = [Figure(f"RSS after {args.cells} cells ÷ after 1, one process", ratio, f"{ratio:.3f}",
                      f"{rss[0]:.0f} → {rss[-1]:.0f} MiB (max {max(rss):.0f})", Target("<=", 1.1, "<= 1.1"))]
    publish(BenchmarkResult("pool_memory", figures, notes=[
        f"{args.cells} micro cells of {args.steps} dense steps, W&B offline, after the pool's warm-up"]), args.json)


if __name__ == "__main__":
    main()
