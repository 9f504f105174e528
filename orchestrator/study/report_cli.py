"""`orchestrator-report RESULTS_DIR [--out DIR] [--figures all|none|NAME,…]`: the study's analysis from a store.

Reads every cell (naming and skipping unreadable files), fits L = E + A/N^alpha + B/D^beta with N = N_avg, N_final
and N_initial and scores each on held-out cells, tests the paper's three findings, draws the figures, and writes
`report.md`, `cells.csv` (one row per cell), `fit.json`, `findings.json` and the PNGs to --out (default
RESULTS_DIR/report). RESULTS_DIR may be a URI of pyarrow's filesystem layer (s3://, gs://, …).
--figures chooses the figures: all (the default), none, or names (figure_set.FIGURES). Each stage (read, fit,
findings, figures, report) prints one line to stderr when it ends, with its time; --quiet prints none.
With --wandb offline|online it also logs a W&B summary run in each sweep's group, one per sweep, with a stable id.
It also runs by itself at the end of every multirun on the Ray launcher.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from orchestrator.store.files import write_json_atomic, write_text_atomic
from orchestrator.store.identity import store_salt
from orchestrator.store.reader import load_cells
from orchestrator.store.uri import is_uri

MIN_CELLS_TO_FIT = 5


class NoCells(FileNotFoundError):
    """RESULTS_DIR holds no readable result.json: nothing to report (and nothing is written)."""


@dataclass(frozen=True)
class ReportOutcome:
    report: Path
    fit: Path | None
    headlines: list[str]
    skipped: list[tuple[str, str]]


class Progress:
    """One line per stage of the report on a stream (stderr): what the stage did and how long it took."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream, self.started = stream, time.perf_counter()

    def done(self, stage: str, what: str) -> None:
        now = time.perf_counter()
        if self.stream is not None:
            print(f"[report] {stage}: {what} ({now - self.started:.1f} s)", file=self.stream, flush=True)
        self.started = now


def build_report(results_dir: str | Path, out_dir: str | Path | None = None, *, bootstrap: int = 100,
                 wandb_mode: str = "disabled", wandb_project: str = "pruning-journey",
                 wandb_entity: str | None = None, figures: Collection[str] | None = None,
                 progress: TextIO | None = None) -> ReportOutcome:
    """The report of a store (see the module docstring). `figures`: the figure names to draw (figure_set.FIGURES;
    None: all); `progress`: where each stage's line goes (None: nowhere). BLAS runs on one thread throughout
    (blas_threads.py: the fits' small products are slower, not faster, on several)."""
    from orchestrator.study.blas_threads import one_blas_thread

    with one_blas_thread():
        return _build_report(results_dir, out_dir, bootstrap=bootstrap, wandb_mode=wandb_mode,
                             wandb_project=wandb_project, wandb_entity=wandb_entity, figures=figures,
                             progress=Progress(progress))


def _build_report(results_dir: str | Path, out_dir: str | Path | None, *, bootstrap: int, wandb_mode: str,
                  wandb_project: str, wandb_entity: str | None, figures: Collection[str] | None,
                  progress: Progress) -> ReportOutcome:
    from orchestrator.study.cells_table import cells_csv
    from orchestrator.study.figure_set import write_figures
    from orchestrator.study.findings import findings
    from orchestrator.study.markdown import pretraining_cells, render_report
    from orchestrator.study.p2_report import p2_fits
    from orchestrator.study.scaling_law import fit_predictors, fittable_cells
    from orchestrator.study.wandb_summary import log_summary_runs

    name = str(results_dir).rstrip("/").rsplit("/", 1)[-1]
    if out_dir is None:  # beside the cells for a local store; ./report-<name> for a URI
        out_dir = Path(f"report-{name}") if is_uri(results_dir) else Path(results_dir) / "report"
    out = Path(out_dir)
    cells, skipped = load_cells(results_dir)
    if not cells:
        unreadable = "".join(f"; skipped {path}: {reason}" for path, reason in skipped)
        raise NoCells(f"RESULTS_DIR {results_dir} holds no readable result.json{unreadable}")
    progress.done("read", f"{len(cells)} cells from {results_dir}, {len(skipped)} files skipped")
    fit, fit_path = None, None
    usable = len(fittable_cells(cells))
    if usable >= MIN_CELLS_TO_FIT:
        fit = fit_predictors(cells, bootstrap_samples=bootstrap)
        fit_path = out / "fit.json"
        write_json_atomic(fit_path, fit)
        progress.done("fit", f"the law on N_avg, N_final and N_initial, {usable} cells, {bootstrap} bootstrap "
                             f"resamples each; best {fit['best']}")
    else:
        progress.done("fit", f"none: {usable} finished cells, the law needs {MIN_CELLS_TO_FIT}")
    p2 = p2_fits(cells)
    if any("fit" in entry for entry in p2.values()):  # the P² law per pruning method, beside fit.json
        write_json_atomic(out / "p2_fit.json", p2)
    out.mkdir(parents=True, exist_ok=True)
    paper_findings = findings(pretraining_cells(cells), fit)
    write_json_atomic(out / "findings.json", paper_findings)
    progress.done("findings", ", ".join(f"{key} {value['verdict']}" for key, value in paper_findings.items())
                  + (f"; P² law for {sum('fit' in entry for entry in p2.values())} methods" if p2 else ""))
    drawn = write_figures(cells, fit, out, only=figures)
    progress.done("figures", f"{len(drawn)} drawn" + ("" if figures is None else
                                                      f" of those asked for ({','.join(sorted(figures)) or 'none'})"))
    markdown = render_report(cells, fit, drawn, out, skipped=skipped, paper_findings=paper_findings,
                             commands=sweep_commands(results_dir), figures_asked=figures)
    report_path = out / "report.md"
    write_text_atomic(report_path, markdown)
    write_text_atomic(out / "cells.csv", cells_csv(cells))
    progress.done("report", f"report.md and cells.csv in {out}")
    if wandb_mode != "disabled":
        log_summary_runs(cells, fit, drawn, mode=wandb_mode, project=wandb_project, entity=wandb_entity,
                         salt=store_salt(store_root(results_dir, cells)), run_dir=out)
        progress.done("wandb", f"summary runs logged ({wandb_mode})")
    return ReportOutcome(report_path, fit_path, headlines(markdown), skipped)


def sweep_commands(results_dir: str | Path) -> list[str]:
    """The commands in the sweep manifests of a local store or sweep folder, each once, in the order first run (a
    rerun of the same command adds nothing); none for a URI."""
    from orchestrator.store.files import CorruptStoreFile
    from orchestrator.store.manifest import MANIFEST, read_manifest

    if is_uri(results_dir):
        return []
    root = Path(results_dir)
    folders = [root] if (root / MANIFEST).exists() else sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))
    commands = []
    for folder in folders:
        try:
            commands += [run["command"] for run in read_manifest(folder)["runs"]]
        except CorruptStoreFile:
            continue
    return list(dict.fromkeys(commands))


def store_root(results_dir: str | Path, cells: list[dict]) -> str | Path:
    """The store a report reads: RESULTS_DIR itself, or its parent when RESULTS_DIR is one sweep's folder (its cells
    sit directly in it)."""
    text = str(results_dir).rstrip("/")
    parent, _, leaf = text.rpartition("/")
    if parent and all(str(cell.get("cell_dir", "")).rstrip("/").rsplit("/", 2)[-2] == leaf for cell in cells):
        return parent if is_uri(results_dir) else Path(results_dir).resolve().parent
    return results_dir


def headlines(markdown: str) -> list[str]:
    """The bullet points of the report's conclusions section."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("## "):
            inside = "conclusion" in line.lower() or "headline" in line.lower()
        elif inside and line.startswith("- "):
            lines.append(line[2:])
    return lines


def print_outcome(outcome: ReportOutcome) -> None:
    for path, reason in outcome.skipped:
        print(f"[report] skipped {path}: {reason}", file=sys.stderr)
    print(f"[report] report: {outcome.report}")
    if outcome.fit is not None:
        print(f"[report] fit: {outcome.fit}")
    for line in outcome.headlines:
        print(f"[report]   - {line}")


def main(argv: list[str] | None = None) -> int:
    from orchestrator.study.figure_set import FIGURE_HELP, parse_figures

    parser = argparse.ArgumentParser(prog="orchestrator-report", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="RESULTS_DIR (every sweep) or RESULTS_DIR/<sweep>; a local path or a "
                                            "pyarrow filesystem URI (s3://…, gs://…, file:///…)")
    parser.add_argument("--out", default=None, help="where report.md, fit.json and figures go "
                                                    "(default RESULTS_DIR/report)")
    parser.add_argument("--bootstrap", type=int, default=100, help="bootstrap resamples for the 95%% intervals")
    parser.add_argument("--wandb", choices=("offline", "online", "disabled"), default="disabled",
                        help="also log a W&B summary run per sweep (group = the sweep; a stable id, so a rerun "
                             "updates it)")
    parser.add_argument("--wandb-project", default="pruning-journey")
    parser.add_argument("--figures", default="all", metavar="all|none|NAME,NAME", help=FIGURE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress line per stage on stderr")
    args = parser.parse_args(argv)
    try:
        figures = parse_figures(args.figures)
    except ValueError as error:
        parser.error(str(error))
    try:
        outcome = build_report(args.results_dir, args.out, bootstrap=args.bootstrap, wandb_mode=args.wandb,
                               wandb_project=args.wandb_project, figures=figures,
                               progress=None if args.quiet else sys.stderr)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_outcome(outcome)
    return 0


def report_after_sweep(base_config, job_returns) -> None:
    """The Ray launcher's on_sweep_end hook: the report of this sweep's folder, unless it was a dry run (its imports
    were made while the cells trained: report_warm_up.py)."""
    from orchestrator.study.report_warm_up import wait_for_report_warm_up

    wait_for_report_warm_up()
    if base_config.get("dry_run"):
        return
    results_dir = str(base_config.results_dir)
    if is_uri(results_dir):  # the report goes to ./report-<sweep> (build_report's default for a URI)
        sweep_dir = f"{results_dir.rstrip('/')}/{base_config.sweep}"
    else:
        sweep_dir = Path(results_dir) / str(base_config.sweep)
        if not sweep_dir.is_dir():
            return
    options = dict(wandb_mode=str(base_config.wandb.mode), wandb_project=str(base_config.wandb.project),
                   wandb_entity=base_config.wandb.entity)
    fingerprint = None
    if not is_uri(results_dir):  # a rerun that trained nothing leaves an unchanged report as it is
        from orchestrator.study.report_inputs import report_inputs, unchanged_since_last_report

        fingerprint = report_inputs(sweep_dir, options, sweep_commands(sweep_dir))
        if unchanged_since_last_report(sweep_dir / "report", fingerprint):
            print(f"[report] unchanged (no cell changed since it was built): {sweep_dir / 'report' / 'report.md'}",
                  file=sys.stderr)
            return
    try:
        outcome = build_report(sweep_dir, progress=sys.stderr, **options)
    except (NoCells, FileNotFoundError) as error:  # no cell wrote a result: the sweep's own summary says so
        print(f"[report] no report: {error}", file=sys.stderr)
        return
    if fingerprint is not None:
        from orchestrator.study.report_inputs import record_report_inputs

        record_report_inputs(sweep_dir / "report", fingerprint)
    print_outcome(outcome)


if __name__ == "__main__":
    sys.exit(main())
