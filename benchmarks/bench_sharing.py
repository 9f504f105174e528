"""Shared dense trunks (WSD): the planned compute saving against the wall time it saves on this machine.

First a dry run of the whole journey80_wsd (80 cells, `--plan-model`, micro by default) for its sharing.json: the
planned saving of the issue's sweep. Then the same smaller WSD sweep twice, each into a fresh store, as real
`orchestrator-train -m` commands on a local Ray with one CPU (`hydra.launcher.num_cpus=1`: one cell at a time, so
both runs have the same parallelism and no cell waits for a trunk), W&B disabled, progress bar off: once with
`share_trunks=true`, once with `share_trunks=false`. By default that sweep is journey80_wsd cut to the windows that
fork (a25_b75, a50_b100, a75_b100: forks at 25, 50 and 75 % of the budget) × sparsity {0.4, 0.8} at one budget
(10 tokens per parameter), at model=pico. It reports:
  planned compute saved = sharing.json's saved_fraction: 1 − compute_shared ÷ compute_unshared (dense-equivalent
                          steps)
  planned steps saved   = 1 − steps shared ÷ unshared, from each cell's plan.json `total_steps` and sharing.json
                          (shared: each cell's steps after its fork + each trunk's steps). A masked step costs what a
                          dense one does on CPU, and a pruned cell runs more steps than its dense-equivalent compute,
                          so this, not the compute saved, bounds what wall time can save here.
  Σ cells' training time = Σ result.json `wall_seconds` (each cell's own loop, first step → result.json), the
                          trunk's (<sweep>/.trunks/*/result.json) included for the shared run: shared ÷ unshared,
                          the fairer wall figure (no Ray start, imports, per-cell set-up or report in it)
  command wall          = the whole command, and up to its last result.json (before the end-of-sweep report),
                          shared ÷ unshared: fixed costs that both runs pay blur these towards 1
It also checks that every forked cell's result.json records its `trunk` (the trunk and fork step sharing.json
gives) and that each cell's final and validation losses equal the same cell's trained alone.

    .venv/bin/python benchmarks/bench_sharing.py [--plan-model micro|none] [--model pico] [--tokens-per-param 10]
        [--sparsities 0.4,0.8] [--windows a25_b75,a50_b100,a75_b100] [--override KEY=VALUE ...] [--keep]
        [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from figures import BenchmarkResult, Figure, Target, add_json_option, publish

REPO = Path(__file__).resolve().parents[1]
SWEEP = "journey80_wsd"  # the sweep name experiment=journey80_wsd sets
TRUNKS = ".trunks"  # orchestrator.cell.trunk.TRUNKS_FOLDER
NOISE = 0.05  # how far below the planned saving a measured saving may fall and still be "the same share"


@dataclass
class SweepRun:
    label: str
    store: Path
    started: float
    ended: float
    cells: list[dict]  # the sweep's result.jsons (plan.jsons for a dry run)
    trunks: list[dict]  # the shared trunks' result.jsons (none unshared)
    sharing: dict | None  # sharing.json (none unshared)

    @property
    def wall(self) -> float:
        return self.ended - self.started

    @property
    def cells_wall(self) -> float:
        """The command's start → the last result.json written (cells and trunks), before the end-of-sweep report."""
        return max(r["timing"]["result_written_at"] for r in self.cells + self.trunks) - self.started

    @property
    def train_seconds(self) -> float:
        return sum(r["wall_seconds"] for r in self.cells + self.trunks)

    def step_seconds(self) -> tuple[float, int]:
        """(seconds, steps) of the training steps this run trained itself (metrics.jsonl `step_time`): a forked cell's
        after its fork, a trunk's all."""
        folder = self.store / SWEEP
        totals = [loop_seconds(folder / r["cell_id"] / "metrics.jsonl", r.get("trunk", {}).get("fork_step", 0))
                  for r in self.cells]
        totals += [loop_seconds(folder / TRUNKS / r["cell_id"] / "metrics.jsonl", 0) for r in self.trunks]
        return sum(t[0] for t in totals), sum(t[1] for t in totals)


def loop_seconds(metrics: Path, after: int) -> tuple[float, int]:
    """(seconds, steps) of a cell's steps after step `after`, from its logged records: each `step_time` is the mean
    time of a step (forward, backward, optimizer, masks; no evaluation or checkpoint) since the previous record."""
    seconds, steps, previous = 0.0, 0, after
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if record["step"] <= after or record.get("step_time") is None:
            continue
        seconds += record["step_time"] * (record["step"] - previous)
        steps += record["step"] - previous
        previous = record["step"]
    return seconds, steps


@dataclass(frozen=True)
class Planned:
    """A shared sweep's plan: dense-equivalent compute (sharing.json) and steps (plan.json + sharing.json)."""

    cells: int
    trunks: int
    forked: int
    compute_unshared: float
    compute_shared: float
    steps_unshared: int
    steps_shared: int

    @property
    def compute_saved(self) -> float:
        return 1 - self.compute_shared / self.compute_unshared

    @property
    def steps_saved(self) -> float:
        return 1 - self.steps_shared / self.steps_unshared


def planned(folder: Path) -> Planned:
    """The plan of a shared sweep's folder: sharing.json and every cell's plan.json."""
    sharing = json.loads((folder / "sharing.json").read_text())
    steps = {plan["cell_id"]: plan["total_steps"] for plan in read_jsons(folder, "plan.json")}
    forks = {cell: step for trunk in sharing["trunks"] for cell, step in trunk["children"].items()}
    return Planned(len(steps), len(sharing["trunks"]), len(forks), sharing["compute_unshared"],
                   sharing["compute_shared"], sum(steps.values()),
                   sum(steps.values()) - sum(forks.values()) + sum(t["steps"] for t in sharing["trunks"]))


def read_jsons(folder: Path, name: str) -> list[dict]:
    """`name` of every cell folder of `folder` (not .trunks, not the report)."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"*/{name}")) if not p.parent.name.startswith(".")]


def run_sweep(label: str, overrides: list[str], cpus: int | None = 1) -> SweepRun:
    """One `orchestrator-train -m experiment=journey80_wsd` into a fresh store."""
    store = Path(tempfile.mkdtemp(prefix=f"bench-sharing-{label}-"))
    command = [str(Path(sys.executable).parent / "orchestrator-train"), "-m", f"experiment={SWEEP}",
               f"results_dir={store}", "wandb.mode=disabled", "hydra.launcher.progress=false",
               *([f"hydra.launcher.num_cpus={cpus}"] if cpus else []), *overrides]
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "WANDB_MODE": "disabled"}
    print(f"running {label}: {' '.join(command[1:])}", flush=True)
    started = time.time()
    process = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    ended = time.time()
    if process.returncode != 0:
        sys.stderr.write(process.stdout[-4000:] + process.stderr[-4000:])
        raise SystemExit(f"the {label} sweep failed (exit {process.returncode}); its store: {store}")
    folder = store / SWEEP
    sharing = folder / "sharing.json"
    return SweepRun(label, store, started, ended, read_jsons(folder, "result.json"),
                    read_jsons(folder / TRUNKS, "result.json"),
                    json.loads(sharing.read_text()) if sharing.is_file() else None)


def check_done(run: SweepRun) -> None:
    not_done = [r["cell_id"] for r in run.cells + run.trunks if r["status"] != "done"]
    if not run.cells or not_done:
        raise SystemExit(f"the {run.label} sweep left cells not done: {not_done or 'none ran'} ({run.store})")


def plan_figures(plan: Planned, what: str, target: Target | None) -> list[Figure]:
    return [
        Figure(f"{what} ({plan.cells} cells): planned dense-equivalent compute saved (sharing.json)",
               plan.compute_saved,
               f"{100 * plan.compute_saved:.1f} %",
               f"{plan.compute_shared:,.0f} vs {plan.compute_unshared:,.0f} dense-equivalent steps; "
               f"{plan.trunks} trunk(s), {plan.forked} of {plan.cells} cells forked", target),
        Figure(f"{what} ({plan.cells} cells): planned training steps saved (plan.json, trunks included)",
               plan.steps_saved,
               f"{100 * plan.steps_saved:.1f} %", f"{plan.steps_shared:,} vs {plan.steps_unshared:,} steps"),
    ]


def ratio_figure(name: str, shared: float, unshared: float, detail: str = "",
                 target: Target | None = None) -> Figure:
    ratio = shared / unshared
    return Figure(name, ratio, f"{ratio:.3f} ({100 * (1 - ratio):.1f} % saved)",
                  f"{shared:.1f} s vs {unshared:.1f} s{detail}", target)


def step_figure(shared: SweepRun, unshared: SweepRun) -> Figure:
    """Σ the training steps' own time (metrics.jsonl), shared ÷ unshared, with the mean step both ways: a slower
    step in one run (load on the machine) shows here, apart from the per-cell costs wall_seconds also holds."""
    (shared_s, shared_n), (unshared_s, unshared_n) = shared.step_seconds(), unshared.step_seconds()
    return ratio_figure("Σ training steps' own time (metrics.jsonl step_time), shared (trunk included) ÷ unshared",
                        shared_s, unshared_s, f"; mean step {1e3 * shared_s / shared_n:.1f} ms over {shared_n:,} steps "
                        f"vs {1e3 * unshared_s / unshared_n:.1f} ms over {unshared_n:,}")


def trunk_figure(shared: SweepRun) -> Figure:
    """Every cell sharing.json forks records `trunk` = {cell_id: its trunk, fork_step: its fork} in result.json."""
    forks = {cell: (t["trunk_id"], step) for t in shared.sharing["trunks"] for cell, step in t["children"].items()}
    recorded = {r["cell_id"]: r.get("trunk") for r in shared.cells}
    right = [c for c, (trunk, step) in forks.items() if recorded.get(c) == {"cell_id": trunk, "fork_step": step}]
    example = next((f"{c}: {json.dumps(recorded[c])}" for c in right), "none")
    return Figure("forked cells whose result.json records their `trunk` (cell_id, fork_step)",
                  bool(forks) and len(right) == len(forks), f"{len(right)} of {len(forks)}", f"e.g. {example}",
                  Target("==", True, "all"))


def losses_figure(shared: SweepRun, unshared: SweepRun) -> Figure:
    """Each cell's final and validation losses, shared vs the same grid cell trained alone."""
    def key(result: dict) -> str:
        return json.dumps(result["cell"], sort_keys=True)

    alone = {key(r): r for r in unshared.cells}
    pairs = [(r, alone[key(r)]) for r in shared.cells if key(r) in alone]
    same = sum((r["final_loss"], r["val_loss"]) == (a["final_loss"], a["val_loss"]) for r, a in pairs)
    identical = same == len(pairs) == len(shared.cells) == len(alone)
    worst = max((abs(r["final_loss"] - a["final_loss"]) for r, a in pairs), default=float("nan"))
    return Figure("final and validation losses, shared vs trained alone", identical,
                  "identical" if identical else f"{same} of {len(alone)} identical",
                  f"{len(pairs)} cells paired; largest |Δ final loss| {worst:.3g}", Target("==", True, "identical"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan-model", default="micro",
                        help="preset of the dry run of the whole journey80_wsd (none: skip it)")
    parser.add_argument("--model", default="pico")
    parser.add_argument("--tokens-per-param", default="10", help="the budget (one value)")
    parser.add_argument("--windows", default="a25_b75,a50_b100,a75_b100")
    parser.add_argument("--sparsities", default="0.4,0.8")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override for both sweeps")
    parser.add_argument("--keep", action="store_true", help="keep the stores (printed) instead of deleting them")
    add_json_option(parser)
    args = parser.parse_args()
    overrides = [f"model={args.model}", f"window={args.windows}", f"pruning.sparsity={args.sparsities}",
                 f"budget.tokens_per_param={args.tokens_per_param}", *args.override]

    figures, runs = [], []
    if args.plan_model != "none":  # the sweep, planned only (all cores: nothing trains)
        full = run_sweep("plan", [f"model={args.plan_model}", "dry_run=true"], cpus=None)
        runs.append(full)
        figures += plan_figures(planned(full.store / SWEEP), f"journey80_wsd, {args.plan_model}, dry run",
                                Target(">=", 0.20, ">= 20 %"))

    load_before = os.getloadavg()
    # shared first: the second run finds imports and data in the page cache, which favours it, so this order
    # favours the unshared run (the figures err against sharing)
    shared = run_sweep("shared", ["share_trunks=true", *overrides])
    unshared = run_sweep("unshared", ["share_trunks=false", *overrides])
    load_after = os.getloadavg()
    runs += [shared, unshared]
    for run in (shared, unshared):
        check_done(run)
    if shared.sharing is None or not shared.trunks:
        raise SystemExit(f"the shared run wrote no sharing.json or trained no trunk ({shared.store})")

    plan = planned(shared.store / SWEEP)
    bound = plan.compute_saved - NOISE
    trunk_seconds = sum(r["wall_seconds"] for r in shared.trunks)
    figures += plan_figures(plan, "measured sweep", None)
    figures += [
        ratio_figure("Σ cells' training time (result.json wall_seconds), shared (trunk included) ÷ unshared",
                     shared.train_seconds, unshared.train_seconds,
                     f" (trunk {trunk_seconds:.1f} s); planned steps ratio {1 - plan.steps_saved:.3f}",
                     Target("<=", 1 - bound, f"<= {1 - bound:.3f} (saved >= planned compute saved − "
                                             f"{100 * NOISE:.0f} points)")),
        step_figure(shared, unshared),
        ratio_figure("wall time to the last result.json (no end-of-sweep report), shared ÷ unshared",
                     shared.cells_wall, unshared.cells_wall),
        ratio_figure("wall time of the whole command, shared ÷ unshared", shared.wall, unshared.wall),
        trunk_figure(shared),
        losses_figure(shared, unshared),
    ]
    notes = [
        f"{os.cpu_count()} cores; measured sweep: experiment={SWEEP} {' '.join(overrides)}, share_trunks=true then "
        f"false, local Ray with 1 CPU (one cell at a time); command wall {shared.wall:.0f} s shared, "
        f"{unshared.wall:.0f} s unshared" + (f"; the dry run of the whole sweep {runs[0].wall:.0f} s"
                                             if args.plan_model != "none" else ""),
        "Σ cells' training time is the fairer wall figure: each cell's own loop (and the trunk's), without Ray's "
        "start, imports, per-cell set-up or the end-of-sweep report, which both runs pay and which blur the command "
        "ratios towards 1; planned steps saved bounds what any wall figure can save on CPU, where a masked step "
        "costs a dense one",
        f"load average (1 min) {load_before[0]:.2f} before the two runs, {load_after[0]:.2f} after",
    ]
    publish(BenchmarkResult("sharing", figures, notes=notes), args.json)
    for run in runs:
        if args.keep:
            print(f"kept the {run.label} store: {run.store}")
        else:
            shutil.rmtree(run.store, ignore_errors=True)


if __name__ == "__main__":
    main()
