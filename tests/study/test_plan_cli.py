"""orchestrator-plan in process (tests/test_cli.py runs the installed script as users do; these reach the code that
`make mutation` mutates): the exact output, exit codes and messages of each path, and the help a user reads."""
from __future__ import annotations

import json

import pytest

from orchestrator.study.plan_cli import main, parse_args
from orchestrator.study.recommend import recommend
from pruning.plan import plan_iso_compute

LAW = {"E": 1.5, "A": 60.0, "B": 900.0, "alpha": 0.3, "beta": 0.25}


def _run(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: --help, or an argument it cannot parse
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fit_file(tmp_path, law=LAW):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"predictors": {"avg_params": law}, "best": "avg_params"}))
    return str(path)


def test_the_plan_is_printed_as_indented_json_with_sorted_keys(capsys):
    code, out, err = _run(capsys, ["--sparsity", "0.6", "--dense-steps", "800", "--start", "0.5", "--end", "1",
                                   "--every", "50", "--schedule", "cubic", "--fixed-cost", "0.1"])
    assert (code, err) == (0, "")
    expected = plan_iso_compute(sparsity=0.6, dense_steps=800, start=0.5, end=1.0, every=50, schedule="cubic",
                                fixed_cost=0.1).to_dict()
    assert json.loads(out) == expected  # every argument reaches the planner
    assert out == json.dumps(expected, indent=2, sort_keys=True) + "\n"  # the format scripts diff and read


def test_the_defaults_are_the_papers_window_every_100_geometric(capsys):
    code, out, _ = _run(capsys, ["--sparsity", "0.5", "--dense-steps", "1000"])
    assert code == 0
    assert json.loads(out) == plan_iso_compute(sparsity=0.5, dense_steps=1000, start=0.25, end=0.75, every=100,
                                               schedule="geometric", fixed_cost=0.0).to_dict()
    args = parse_args([])
    assert (args.start, args.end, args.every, args.schedule, args.fixed_cost, args.tokens_per_step) == (
        0.25, 0.75, 100, "geometric", 0.0, 4096)
    assert (args.sparsity, args.dense_steps, args.from_fit, args.compute, args.final_params) == (None,) * 5


@pytest.mark.parametrize("argv", [["--sparsity", "0.5"], ["--dense-steps", "1000"], []])
def test_a_plan_without_sparsity_or_budget_is_exit_2_saying_what_is_needed(capsys, argv):
    assert _run(capsys, argv) == (2, "", "error: --sparsity and --dense-steps are required (or --from-fit with "
                                         "--compute and --final-params)\n")


def test_a_planner_error_is_exit_2_in_one_line(capsys):
    code, out, err = _run(capsys, ["--sparsity", "1.5", "--dense-steps", "1000"])
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1 and "sparsity" in err


def test_the_help_names_the_command_and_explains_every_option(capsys):
    code, out, _ = _run(capsys, ["--help"])
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    assert text.startswith("usage: orchestrator-plan ")
    assert "`orchestrator-plan`: the iso-compute plan of one cell as JSON." in text
    for option, explained in [
        ("--sparsity", "target sparsity s in [0, 1)"),
        ("--dense-steps", "compute budget C in dense-equivalent steps"),
        ("--from-fit", "fit.json of orchestrator-report: recommend a window and sparsity"),
        ("--compute", "with --from-fit: budget in parameter-tokens (~FLOPs / 6)"),
        ("--final-params", "with --from-fit: target final non-zero parameters"),
        ("--tokens-per-step", "with --from-fit: batch x context"),
        ("--start", "pruning starts at this fraction of compute"),
        ("--end", "pruning ends at this fraction of compute"),
        ("--every", "steps between prune events"),
        ("--fixed-cost", "q in [0, 1): the share of a dense step's FLOPs that pruning leaves (attention, as "
                         "budget.compute=total counts it); 0 counts the prunable linear weights only"),
    ]:
        assert f"{option} {option.lstrip('-').replace('-', '_').upper()} {explained}" in text, option


def test_numbers_are_parsed_as_numbers(capsys):
    args = parse_args(["--compute", "1e12", "--final-params", "2e5", "--tokens-per-step", "512", "--every", "10",
                       "--sparsity", "0.5", "--dense-steps", "300", "--start", "0", "--end", "0.5",
                       "--fixed-cost", "0.2"])
    assert (args.compute, args.final_params, args.tokens_per_step, args.every, args.sparsity, args.dense_steps,
            args.start, args.end, args.fixed_cost) == (1e12, 2e5, 512, 10, 0.5, 300, 0.0, 0.5, 0.2)
    assert [type(v) for v in (args.tokens_per_step, args.every, args.dense_steps)] == [int] * 3


def test_from_fit_prints_the_recommendation_of_every_argument_without_its_candidates(capsys, tmp_path):
    fit = _fit_file(tmp_path)
    code, out, err = _run(capsys, ["--from-fit", fit, "--compute", "1e12", "--final-params", "1e5",
                                   "--tokens-per-step", "1024", "--every", "20", "--schedule", "cubic"])
    assert code == 0
    advice = recommend(json.loads(open(fit).read()), compute=1e12, final_params=1e5, tokens_per_step=1024,
                       every=20, schedule="cubic")
    shown = {k: v for k, v in advice.items() if k != "candidates"}
    assert out == json.dumps(shown, indent=2, sort_keys=True) + "\n"
    for changed in ({"tokens_per_step": 4096}, {"every": 100}, {"schedule": "geometric"}):  # each argument shows
        other = recommend(json.loads(open(fit).read()), **({"compute": 1e12, "final_params": 1e5,  # in the output
                                                            "tokens_per_step": 1024, "every": 20,
                                                            "schedule": "cubic"} | changed))
        assert {k: v for k, v in other.items() if k != "candidates"} != shown, changed
    assert err == ("warning: fit.json keeps no bootstrap draws (orchestrator-report --bootstrap 0, or an older "
                   "report): no interval\n")


def test_from_fit_with_draws_prints_its_warnings_and_no_draws_warning(capsys, tmp_path):
    draws = [[1.5 + 0.01 * k, 60.0, 900.0, 0.3, 0.25] for k in range(-3, 4)]
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"predictors": {"avg_params": LAW | {"bootstrap_draws": draws}},
                               "ranges": {"avg_params": [5e4, 5e5], "tokens": [1e6, 1e8]}}))
    code, out, err = _run(capsys, ["--from-fit", str(fit), "--compute", "1e15", "--final-params", "2e7",
                                   "--tokens-per-step", "1024", "--every", "10"])
    assert code == 0 and "predicted_loss_interval" in json.loads(out)
    warnings = recommend(json.loads(fit.read_text()), compute=1e15, final_params=2e7, tokens_per_step=1024,
                         every=10)["warnings"]
    assert warnings and err == "".join(f"warning: {w}\n" for w in warnings)


@pytest.mark.parametrize("given", [["--compute", "1e12"], ["--final-params", "1e5"], []])
def test_from_fit_needs_both_a_budget_and_a_size(capsys, tmp_path, given):
    assert _run(capsys, ["--from-fit", _fit_file(tmp_path), *given]) == (
        2, "", "error: --from-fit needs --compute and --final-params\n")


def test_from_fit_that_recommend_refuses_is_exit_2(capsys, tmp_path):
    code, out, err = _run(capsys, ["--from-fit", _fit_file(tmp_path), "--compute", "1", "--final-params", "1e5"])
    assert (code, out) == (2, "")
    assert err == "error: the compute budget is too small for any candidate (fewer than `every` steps)\n"


def test_a_missing_or_incomplete_fit_file_is_named_with_the_reason(capsys, tmp_path):
    missing = tmp_path / "nope.json"
    code, _, err = _run(capsys, ["--from-fit", str(missing), "--compute", "1e12", "--final-params", "1e5"])
    assert code == 2 and err == f"error: --from-fit {missing}: cannot read it (No such file or directory)\n"
    partial = _fit_file(tmp_path, {"E": 1.0, "A": 2.0})
    code, _, err = _run(capsys, ["--from-fit", partial, "--compute", "1e12", "--final-params", "1e5"])
    assert code == 2 and err == (f"error: --from-fit {partial}: not a fit.json of orchestrator-report (it needs "
                                 "predictors.avg_params with numbers E, A, B, alpha, beta)\n")
    other_predictor = tmp_path / "other.json"
    other_predictor.write_text(json.dumps({"predictors": {"final_params": LAW}}))
    code, _, err = _run(capsys, ["--from-fit", str(other_predictor), "--compute", "1e12", "--final-params", "1e5"])
    assert code == 2 and "not a fit.json of orchestrator-report" in err
