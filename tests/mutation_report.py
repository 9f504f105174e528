"""Writes docs/testing.md from mutmut's results (`make mutation`): the score per module and overall, the command,
the machine and the date, and every surviving mutant with its diff and, where one was found, why it is equivalent.

Run from the repository root after `mutmut run` (it reads mutants/, mutmut's cache, through mutmut 3.8.1's own
reader, so the numbers are the ones `mutmut results` prints). Not a test: pytest does not collect this file.

    .venv/bin/python tests/mutation_report.py --seconds 1234 --command "make mutation"
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
from collections import Counter
from pathlib import Path

from mutmut.__main__ import walk_mutatable_files
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

OUT = Path("docs/testing.md")
PRUNING = "pruning/"
DETECTED = ("killed", "timeout")  # a timeout is a mutant the tests stop (it loops or slows the code 3x)
COLUMNS = ("killed", "timeout", "survived", "no tests", "not checked")

# Survivors that cannot change behaviour, or only on hardware this machine lacks, with the reason. Keys are mutmut's
# mutant names: they are stable while the mutated function's source is unchanged.
CPU_ONLY = "a device argument or `.to(device)`: every tensor is on the CPU here, so it changes nothing (a GPU run " \
           "would tell)"
EQUIVALENT = {
    "pruning.magnitude.xǁTorchOptimizerTargetǁzero_pruned__mutmut_27": CPU_ONLY,
    "pruning.magnitude.xǁGlobalMagnitudePrunerǁupdate__mutmut_17":
        "the generator only picks the sample of the threshold search; the k-th smallest magnitude, hence the mask, "
        "is exact whatever the sample (and the default generator is seeded too)",
    "pruning.magnitude.xǁGlobalMagnitudePrunerǁupdate__mutmut_21":
        "as _17: omitting the generator falls back to one seeded 0; the result is exact whatever the sample",
    "pruning.magnitude.xǁGlobalMagnitudePrunerǁload_state_dict__mutmut_19":
        "`copy_` into the bool mask converts any dtype the same way `.to(torch.bool)` does",
    "pruning.static.xǁFixedMaskPrunerǁ__init____mutmut_33": CPU_ONLY,
    "pruning.static.xǁFixedMaskPrunerǁ__init____mutmut_35": CPU_ONLY,
    "pruning.static.xǁFixedMaskPrunerǁ__init____mutmut_34":
        "masks must already be bool (`~mask` above counts the pruned entries only for bool), so `.to(bool)` is a no-op",
    "pruning.static.xǁFixedMaskPrunerǁ__init____mutmut_36": "as _34",
    "pruning.static.xǁStaticRandomPrunerǁ__init____mutmut_4":
        "sparsity 1.0 let through here is refused one call later by GlobalMagnitudePruner (pruning.schedules."
        "kept_fraction) with the same message, `sparsity must be in [0, 1), got 1.0`",
    "pruning.structured.x__run_with_hooks__mutmut_17": CPU_ONLY,
    "pruning.structured.x_prune_width__mutmut_17": CPU_ONLY,
    "pruning.structured.x_prune_width__mutmut_37": CPU_ONLY,
    "pruning.structured.x_prune_width__mutmut_38": CPU_ONLY,
    "pruning.structured.x_block_similarities__mutmut_3":
        "the initial list is overwritten: every block's forward hook runs in the calibration forward",
    "pruning.structured.x_block_similarities__mutmut_22":
        "`_run_with_hooks` registers a forward (post) hook for any kind but \"pre\"",
    "pruning.structured.x_block_similarities__mutmut_23": "as _22",
    "pruning.structured.x__slice_block__mutmut_20":
        "viewing qkv as (3, H, Dh·D) instead of (3, H, Dh, D) selects the same rows: the reshape that follows "
        "gives the same (3·H'·Dh, D) tensor",
    "pruning.structured.x_two_four_mask__mutmut_22": "topk's default dim is -1",
    "pruning.structured.x_structured_prune__mutmut_10":
        "`>` vs `>=` 1e-9 differ only when |ratio - 0.5| is exactly 1e-9, which no float ratio near 0.5 gives",
}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = "no GPU" if subprocess.run(["sh", "-c", "command -v nvidia-smi"], capture_output=True).returncode \
        else "nvidia-smi present"
    return f"{os.cpu_count()} cores ({cpu}, {platform.machine()}), {mem_gib:.0f} GiB memory, {gpu}"


def collect() -> dict[str, dict[str, str | None]]:
    """path → {mutant name: status} for every mutated file."""
    results = {}
    for path in sorted(walk_mutatable_files()):
        data = SourceFileMutationData(path=path)
        data.load()
        if data.exit_code_by_key:
            results[str(path)] = {name: status_by_exit_code[code] for name, code in data.exit_code_by_key.items()}
    return results


def row(label: str, statuses: list[str]) -> str:
    counts = Counter(statuses)
    total = len(statuses)
    detected = sum(counts[s] for s in DETECTED)
    other = total - sum(counts[c] for c in COLUMNS)
    cells = [str(counts[c]) for c in COLUMNS] + [str(other)]
    return f"| {label} | {total} | " + " | ".join(cells) + f" | {detected}/{total} = {100 * detected / total:.1f} % |"


def diff_lines(name: str, path: str) -> list[str]:
    return [line for line in get_diff_for_mutant(name, path=path).splitlines()
            if line[:1] in "-+" and not line.startswith(("---", "+++"))]


def partial_note(statuses: list[str]) -> list[str]:
    unchecked = statuses.count("not checked")
    if not unchecked:
        return []
    return [f"**Partial run: {unchecked} of {len(statuses)} mutants were not checked**; the scores below count them "
            "as not detected.", ""]


def render(results: dict, seconds: float | None, command: str) -> str:
    header = ("| module | mutants | killed | timeout | survived | no tests | not checked | other | detected |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [row(f"`{path}`", list(statuses.values())) for path, statuses in results.items()]
    pruning = [s for path, statuses in results.items() if path.startswith(PRUNING) for s in statuses.values()]
    everything = [s for statuses in results.values() for s in statuses.values()]
    rows += [row("**pruning/**", pruning), row("**all**", everything)]
    wall = f"{seconds / 60:.1f} min" if seconds is not None else "not measured"
    lines = [
        "# Testing: mutation score",
        "",
        "Written by `tests/mutation_report.py` from mutmut's results (do not edit by hand; run `make mutation`).",
        "",
        f"- Command: `{command}` (mutmut 3.8.1, configured in setup.cfg `[mutmut]`: the mutated files and the fast "
        "tests that exercise them)",
        f"- Machine: {machine()}",
        f"- Date: {datetime.date.today().isoformat()}; wall time of the run: {wall}",
        "",
        "mutmut changes one operator, constant, argument or string at a time in the mutated files and runs the tests "
        "that reach the changed function. *Killed*: a test failed. *Timeout*: the tests ran past 3 × (their clean "
        "time + 5 s), counted as detected (such mutants loop, e.g. in the threshold search). *Survived*: every test "
        "passed. *No tests*: no selected test reaches the function. *Not checked*: the run stopped before it.",
        "",
        *partial_note(everything),
        header, *rows,
        "",
        "## Surviving mutants",
        "",
        "Each with its diff (`-` the code, `+` the mutant) and, where it cannot change behaviour, why. Show one with "
        "`.venv/bin/mutmut show NAME`.",
    ]
    for path, statuses in results.items():
        survivors = [name for name, status in statuses.items() if status == "survived"]
        if not survivors:
            continue
        lines += ["", f"### `{path}` ({len(survivors)})", ""]
        for name in survivors:
            reason = EQUIVALENT.get(name)
            note = f" — equivalent: {reason}" if reason else ""
            lines.append(f"- `{name.rpartition('.')[2]}`{note}")
            lines += [f"  `{line.strip()[:150]}`" for line in diff_lines(name, path)]
    for label in ("no tests", "not checked", "timeout"):
        names = [name for statuses in results.values() for name, status in statuses.items() if status == label]
        if names and label != "not checked":
            lines += ["", f"## {label.capitalize()} ({len(names)})", "", *[f"- `{name}`" for name in names]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="wall time of `mutmut run`")
    parser.add_argument("--command", default="make mutation")
    args = parser.parse_args()
    OUT.write_text(render(collect(), args.seconds, args.command))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
