"""`orchestrator-plan`: the iso-compute plan of one cell as JSON.

    orchestrator-plan --sparsity 0.5 --dense-steps 1000 --start 0.25 --end 0.75 --every 100
"""
from __future__ import annotations

import argparse
import json
import sys

from pruning.plan import plan_iso_compute
from pruning.schedules import SCHEDULES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="orchestrator-plan", description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, help="target sparsity s in [0, 1)")
    parser.add_argument("--dense-steps", type=int, help="compute budget C in dense-equivalent steps")
    parser.add_argument("--from-fit", help="fit.json of orchestrator-report: recommend a window and sparsity")
    parser.add_argument("--compute", type=float, help="with --from-fit: budget in parameter-tokens (~FLOPs / 6)")
    parser.add_argument("--final-params", type=float, help="with --from-fit: target final non-zero parameters")
    parser.add_argument("--tokens-per-step", type=int, default=4096, help="with --from-fit: batch x context")
    parser.add_argument("--start", type=float, default=0.25, help="pruning starts at this fraction of compute")
    parser.add_argument("--end", type=float, default=0.75, help="pruning ends at this fraction of compute")
    parser.add_argument("--every", type=int, default=100, help="steps between prune events")
    parser.add_argument("--schedule", choices=("none",) + tuple(SCHEDULES), default="geometric")
    parser.add_argument("--fixed-cost", type=float, default=0.0,
                        help="q in [0, 1): the share of a dense step's FLOPs that pruning leaves (attention, as "
                             "budget.compute=total counts it); 0 counts the prunable linear weights only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_fit:
        return _recommend(args)
    if args.sparsity is None or args.dense_steps is None:
        print("error: --sparsity and --dense-steps are required (or --from-fit with --compute and "
              "--final-params)", file=sys.stderr)
        return 2
    try:
        plan = plan_iso_compute(sparsity=args.sparsity, dense_steps=args.dense_steps, start=args.start,
                                end=args.end, every=args.every, schedule=args.schedule,
                                fixed_cost=args.fixed_cost)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(plan.to_dict(), indent=2, sort_keys=True))
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from orchestrator.study.recommend import recommend

    if args.compute is None or args.final_params is None:
        print("error: --from-fit needs --compute and --final-params", file=sys.stderr)
        return 2
    try:
        fit = read_fit(args.from_fit)
        advice = recommend(fit, compute=args.compute, final_params=args.final_params,
                           tokens_per_step=args.tokens_per_step, every=args.every, schedule=args.schedule)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in advice["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if "predicted_loss_interval" not in advice:
        print("warning: fit.json keeps no bootstrap draws (orchestrator-report --bootstrap 0, or an older report): "
              "no interval", file=sys.stderr)
    print(json.dumps({k: v for k, v in advice.items() if k != "candidates"}, indent=2, sort_keys=True))
    return 0


LAW_CONSTANTS = ("E", "A", "B", "alpha", "beta")


def read_fit(path: str) -> dict:
    """fit.json as orchestrator-report writes it; a ValueError naming the file when it cannot be used."""
    try:
        with open(path) as handle:
            fit = json.load(handle)
    except OSError as error:
        raise ValueError(f"--from-fit {path}: cannot read it ({error.strerror or error})") from None
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
        raise ValueError(f"--from-fit {path}: not a JSON file ({error})") from None
    predictors = fit.get("predictors") if isinstance(fit, dict) else None
    law = predictors.get("avg_params") if isinstance(predictors, dict) else None
    if not isinstance(law, dict) or not all(isinstance(law.get(k), (int, float)) for k in LAW_CONSTANTS):
        raise ValueError(f"--from-fit {path}: not a fit.json of orchestrator-report (it needs predictors.avg_params "
                         f"with numbers {', '.join(LAW_CONSTANTS)})")
    return fit


if __name__ == "__main__":
    sys.exit(main())
