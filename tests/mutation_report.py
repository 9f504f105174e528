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
GPU_ONLY = ("not equivalent, but reached only with CUDA weights (a CUDA-only branch, or a device argument that "
            "matters only off the CPU): the `-m gpu` tests would catch it; this machine has no GPU")
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
    "pruning.threshold.x__count_pass__mutmut_17": ".to(None) instead of .to(counts.device) is a no-op: each tensor's counts already lie on its own device, which is counts' device for CPU (and single-device) weights",
    "pruning.threshold.x__counts_per_tensor__mutmut_7": "`left or size` only adds binomial draws with n=0 (left=0) or p=size/remaining=0 (size=0), which return 0; at most the generator advances differently, i.e. only the sample changes and the result is exact whatever the sample",
    "pruning.threshold.x__kth_inside__mutmut_1": "device is only used in m[...].to(device); .to(None) is a no-op, and every chunk already lies on the first tensor's device for CPU / single-device weights",
    "pruning.threshold.x__kth_inside__mutmut_5": ".to(None) instead of .to(device) is a no-op for CPU / single-device weights (the chunks already lie there)",
    "pruning.threshold.x__sample_magnitudes__mutmut_21": "local indices .to(None) stay on the first tensor's device, which is tensor.device for CPU / single-device weights",
    "pruning.threshold.x__sample_magnitudes__mutmut_31": ".to(None) instead of .to(device) is a no-op for CPU / single-device weights (the gathered part already lies on the first tensor's device)",
    "pruning.threshold.x__scan__mutmut_24": ".to(None) instead of .to(device) is a no-op: the chunk counts already lie on the first tensor's device for CPU / single-device weights",
    "pruning.threshold.x__scan__mutmut_35": ".to(None) instead of .to(device) is a no-op for CPU / single-device weights",
    "pruning.threshold.x__scan__mutmut_40": "the else branch is unreachable: total >= k >= 1 so some tensor has a chunk, and the first chunk's candidates (<= chunk_elems) are always appended, so `candidates` is never an empty list",
    "pruning.threshold.x__scan__mutmut_42": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_43": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_44": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_45": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_46": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_47": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_48": "torch.empty(...) in the unreachable else branch (candidates is never an empty list, see _40)",
    "pruning.threshold.x__scan__mutmut_52": "up_to[0] of a gathered scan is only read by _narrow when k > #(<=hi) (k <= #(<lo) returns at lo first); the mutant's value #(<=hi) - lo_ties is still < k, so the branch taken and the interval are the same",
    "pruning.threshold.x__scan__mutmut_54": "below[1] of a gathered scan is only read by _narrow when k > #(<=hi); the mutant's value #(<=hi) - #(found != hi) <= #(<=hi) < k, so the same interval (hi, upper) results",
    "pruning.threshold.x__scan__mutmut_66": "up_to[0] of a gathered scan is only read by _narrow when k > #(<=hi); the mutant's #(<lo) - lo_ties is still < k, so the same branch and interval result",
    "pruning.threshold.x_kth_smallest_magnitude__mutmut_43": "the small path's interval is unbounded (contains() keeps every element) and torch.cat promotes the own-dtype chunks to the same dtype, so kthvalue sees the same values",
    "pruning.threshold.x_kth_smallest_magnitude__mutmut_54": "the initial sample keeps identical values (torch.cat promotes mixed parts; a single-dtype sample holds the same numbers), so the pivots are equal; reusing it in _sample_inside in a lower dtype can only reject more points (rounding is monotonic), i.e. only the pivots/speed change, never the result",
    "pruning.threshold.x_kth_smallest_magnitude__mutmut_78": "when k == #(<=hi) the k-th smallest is hi itself (hi is a sampled element); the mutant's _narrow then returns the pivot hi (or lo == hi), the same float, with no extra pass",
    "pruning.threshold.x_kth_smallest_magnitude__mutmut_108": "rejection draws in their own dtype are promoted by torch.cat whenever they mix dtypes; a single low-precision draw compared with a promoted bound only rejects more points (monotonic rounding), so only the re-pivot sample changes, never the exact result",
    "pruning.threshold.x_select_prune_masks__mutmut_9": "the default all-ones masks are converted with .to(dtype=torch.bool) right after, and count_nonzero of float ones equals that of bool ones",
    "pruning.threshold.x_select_prune_masks__mutmut_11": "the default all-ones masks are converted with .to(dtype=torch.bool) right after, and count_nonzero of float ones equals that of bool ones",
    "pruning.threshold.x_select_prune_masks__mutmut_29": ".to(None) instead of .to(device) on a count is a no-op for CPU / single-device masks; sum(...) and int(...) give the same number",
    "pruning.threshold.x_select_prune_masks__mutmut_85": ".to(None) instead of .to(device) on a chunk count is a no-op for CPU / single-device weights",
    "pruning.threshold.x_select_prune_masks__mutmut_89": ".to(None) instead of .to(device) on a chunk tie count is a no-op for CPU / single-device weights",
    "pruning.threshold.x_select_prune_masks__mutmut_128": "pass 2 only revisits chunks holding exact ties |w| == v in the promoted dtype, which makes v representable in that chunk's dtype, so comparing there in the chunk's own dtype gives the same ties",
    "pruning.plan.x_closest_event_count__mutmut_30": "max(2, guess) only differs when the guess is 1; the walk up then stops at once (error(3) >= error(2) since the answer is 1) and the walk down (<=) returns to 1: same n, one extra W(3) evaluation",
    "pruning.plan.x_closest_event_count__mutmut_39": "s/3 for s/2 raises the continuous guess by s/(6·c̄) < 1 event and never below the original guess; the walk down from any n >= answer returns the same n (a search over geometric/cubic, s 0.5-0.99, q 0/0.1, 800 targets found no case where it even costs more than one extra W evaluation)",
    "pruning.plan.x_closest_event_count__mutmut_50": "walk up with <= moves past an exact tie error(n+1) == error(n) only to have the walk down (<=) come straight back to the smaller n: same n (W strictly increasing, so no plateau of three)",
    "pruning.plan.x_closest_event_count__mutmut_54": "n += 2 in the walk up stops only at some n with error(n+1) >= error(n), i.e. n >= the answer (unimodal); the walk down then returns the same smallest minimiser",
    "pruning.schedules.x__kept__mutmut_2": "the last-event shortcut is never taken, but the formulas are exact there: progress = n/n = 1.0, (1-s)**1.0 == 1-s and 1 - s·(1 - 0.0**3) == 1-s in IEEE arithmetic (cubic and one_shot share the second)",
    "pruning.schedules.x_density_at_step__mutmut_16": "sparsity 1.0 is refused by _check_schedule just above; for sparsity 0 the fall-through gives 1.0 - 0.0, 1.0**p or 1 - 0·(...), all exactly 1.0",
    "pruning.schedules.x_density_at_step__mutmut_19": "at step == t_end the fall-through computes _kept(schedule, (t_end - t_start)//every = n-1, n, s), the last event, which returns exactly 1.0 - sparsity, the same value",
    "pruning.threshold.x__device_generator__mutmut_4": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_5": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_6": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_7": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_8": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_9": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_10": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_11": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_12": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_13": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_14": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_15": GPU_ONLY,
    "pruning.threshold.x__device_generator__mutmut_16": GPU_ONLY,
    "pruning.threshold.x_select_prune_masks__mutmut_40": GPU_ONLY,
    "pruning.threshold.x_select_prune_masks__mutmut_42": GPU_ONLY,
    "pruning.threshold.x_select_prune_masks__mutmut_99":
        "`<= 0` for `< 0`: with pruned entries exact zeros, ties_to_take >= 1 always (v is the n_prune-th smallest "
        "|w|, so fewer than n_prune entries lie strictly below it): the guard fires only when it is negative",
    "pruning.threshold.x_select_prune_masks__mutmut_100": "as _99 (`< 1`)",
    "pruning.threshold.x_select_prune_masks__mutmut_136":
        "the message of a guard no input reaches: at least ties_to_take kept entries equal v (v is the n_prune-th "
        "smallest), so pass 2 always finds them; a negative count is reported before pass 2",
    "pruning.threshold.x_select_prune_masks__mutmut_137": "as _136",
    "pruning.threshold.x_select_prune_masks__mutmut_138": "as _136",
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
