"""Each console command, run as a user runs it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY

BIN = Path(sys.executable).parent


def cli(*args, cwd=REPO):
    env = os.environ | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_plan_prints_the_plan_as_json():
    done = cli("orchestrator-plan", "--sparsity", "0.5", "--dense-steps", "1000", "--start", "0.25",
               "--end", "0.75", "--every", "100")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert {"t_start", "t_end", "total_steps", "avg_density"} <= set(plan)
    # the default plan worked out by hand in tests/pruning/test_plan_pins.py: 0.25·1000 = 2.5 intervals rounds to
    # t_start 300 (not 200), 7 events to t_end 900, T 1400; pinned exactly, as the planner is deterministic
    assert (plan["t_start"], plan["t_end"], plan["n_events"], plan["total_steps"]) == (300, 900, 7, 1400)
    assert abs(plan["compute"] - 980.3558) < 5e-5  # 300 + 100·Σ_{j=1..6} 0.5^(j/7) + 500·0.5, to 4 decimals
    assert abs(plan["avg_density"] - 980.3558 / 1400) < 5e-5 / 1400  # Σρ = compute when q = 0


def test_plan_rejects_bad_input_naming_it():
    done = cli("orchestrator-plan", "--sparsity", "1.2", "--dense-steps", "1000")
    assert done.returncode == 2 and "sparsity" in done.stderr


def test_train_dry_run_writes_only_the_plan(tmp_path):
    done = cli("orchestrator-train", "experiment=micro_cell", "dry_run=true", f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    cells = list((tmp_path / "micro_cell").iterdir())
    assert len(cells) == 1
    assert sorted(p.name for p in cells[0].iterdir()) == ["config.yaml", "plan.json"]


def test_train_rejects_a_bad_config_before_writing_anything(tmp_path):
    done = cli("orchestrator-train", "pruning.sparsity=1.5", f"results_dir={tmp_path / 'store'}")
    assert done.returncode == 2
    assert "pruning.sparsity must be in [0, 1), got 1.5" in done.stderr
    assert not (tmp_path / "store").exists()


def test_train_rejects_a_missing_data_path(tmp_path):
    done = cli("orchestrator-train", "data=text", f"data.path={tmp_path / 'nope.txt'}",
               f"results_dir={tmp_path / 'store'}")
    assert done.returncode == 2 and "data.path" in done.stderr
    assert not (tmp_path / "store").exists()


def test_train_runs_a_cell_and_says_where_everything_is(tmp_path):
    done = cli("orchestrator-train", *TINY, "pruning=geometric", "pruning.sparsity=0.5", "wandb.mode=offline",
               f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    result_files = list(tmp_path.glob("default/*/result.json"))
    assert len(result_files) == 1
    assert json.loads(result_files[0].read_text())["status"] == "done"
    assert str(result_files[0].parent) in done.stdout and "wandb sync" in done.stdout


def test_plan_from_fit_recommends_the_lowest_predicted_loss(tmp_path):
    from orchestrator.study.recommend import recommend

    law = {"E": 1.5, "A": 60.0, "B": 900.0, "alpha": 0.3, "beta": 0.25}
    fit = {"predictors": {"avg_params": law}, "best": "avg_params"}
    (tmp_path / "fit.json").write_text(json.dumps(fit))
    done = cli("orchestrator-plan", "--from-fit", str(tmp_path / "fit.json"), "--compute", "1e12",
               "--final-params", "1e5", "--tokens-per-step", "1024", "--every", "10")
    assert done.returncode == 0, done.stderr
    best = json.loads(done.stdout)["best"]
    advice = recommend(fit, compute=1e12, final_params=1e5, tokens_per_step=1024, every=10)
    assert best == advice["best"]
    assert best["predicted_loss"] == min(c["predicted_loss"] for c in advice["candidates"])
    assert {0.0, 0.5, 0.9} <= {c["sparsity"] for c in advice["candidates"]}


def test_plan_from_fit_warns_outside_the_fitted_range_and_gives_a_bootstrap_interval(tmp_path):
    from orchestrator.study.recommend import recommend

    law = {"E": 1.5, "A": 60.0, "B": 900.0, "alpha": 0.3, "beta": 0.25}
    draws = [[1.5 + 0.01 * k, 60.0, 900.0, 0.3, 0.25] for k in range(-10, 11)]  # E from 1.40 to 1.60
    fit = {"predictors": {"avg_params": law | {"bootstrap_draws": draws}}, "best": "avg_params",
           "ranges": {"avg_params": [5e4, 5e5], "tokens": [1e6, 1e8]}}
    (tmp_path / "fit.json").write_text(json.dumps(fit))
    done = cli("orchestrator-plan", "--from-fit", str(tmp_path / "fit.json"), "--compute", "1e15",
               "--final-params", "2e7", "--tokens-per-step", "1024", "--every", "10")
    assert done.returncode == 0, done.stderr
    assert "warning: the recommendation's N_avg" in done.stderr and "outside the fitted range" in done.stderr
    advice = json.loads(done.stdout)
    low, high = advice["predicted_loss_interval"]
    # E shifts every candidate's loss alike: the interval is the loss ± the 2.5-97.5 % spread of E (0.095)
    assert low == pytest.approx(advice["best"]["predicted_loss"] - 0.095) and high == pytest.approx(
        advice["best"]["predicted_loss"] + 0.095)
    assert advice["best_in_share_of_draws"] == 1.0 and advice["n_draws"] == 21
    inside = recommend(fit, compute=1e12, final_params=1e5, tokens_per_step=1024, every=10)
    assert [w for w in inside["warnings"] if "N_avg" in w] == []


def test_plan_from_fit_needs_a_budget_and_a_size(tmp_path):
    done = cli("orchestrator-plan", "--from-fit", str(tmp_path / "fit.json"))
    assert done.returncode == 2 and "--compute" in done.stderr


def test_train_runs_a_cell_and_a_sweep_on_nanogpt_token_files(tmp_path):
    """nanoGPT's prepare.py output (train.bin, val.bin of uint16 ids) plus a tokens.json: one override each."""
    import numpy as np

    data = tmp_path / "shakespeare"
    data.mkdir()
    rng = np.random.default_rng(0)
    rng.integers(0, 500, 8000, dtype=np.uint16).tofile(data / "train.bin")
    rng.integers(0, 500, 1000, dtype=np.uint16).tofile(data / "val.bin")
    (data / "tokens.json").write_text('{"dtype": "uint16", "vocab_size": 500}')
    cell = cli("orchestrator-train", *TINY, "data=tokens", f"data.path={data}", f"results_dir={tmp_path / 'one'}")
    assert cell.returncode == 0, cell.stderr[-3000:]
    sweep = cli("orchestrator-train", "-m", "hydra/launcher=basic", *TINY, "data=tokens", f"data.path={data}/*.bin",
                "pruning=geometric", "pruning.sparsity=0.3,0.6", f"results_dir={tmp_path / 'sweep'}",
                f"hydra.sweep.dir={tmp_path / 'multirun'}")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    results = [json.loads(f.read_text()) for f in (tmp_path / "one").glob("*/*/result.json")]
    results += [json.loads(f.read_text()) for f in (tmp_path / "sweep").glob("*/*/result.json")]
    assert [r["status"] for r in results] == ["done"] * 3
    assert {r["data_vocab_size"] for r in results} == {500}


def test_prepare_tokenizes_text_into_what_data_tokens_reads(tmp_path):
    out = tmp_path / "bpe_tokens"
    made = cli("orchestrator-prepare", "-", "--out", str(out), "--tokenizer", "enwiki-bpe")
    assert made.returncode == 0, made.stderr[-3000:]
    assert json.loads((out / "tokens.json").read_text()) == {"dtype": "uint16", "vocab_size": 4096}
    assert f"data.path={out}" in made.stdout
    again = cli("orchestrator-prepare", "-", "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr
    cell = cli("orchestrator-train", *TINY, "data=tokens", f"data.path={out}", f"results_dir={tmp_path / 'store'}")
    assert cell.returncode == 0, cell.stderr[-3000:]
    result = json.loads(next((tmp_path / "store").glob("*/*/result.json")).read_text())
    assert result["status"] == "done" and result["vocab_size"] == result["data_vocab_size"] == 4096


def test_train_runs_the_bpe_demo_cell(tmp_path):
    """experiment=bpe_cell: text → the shipped BPE → token files → a cell whose vocabulary is the tokenizer's."""
    done = cli("orchestrator-train", "experiment=bpe_cell", *TINY, f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(tmp_path.glob("bpe_cell/*/result.json")).read_text())
    assert result["status"] == "done" and result["vocab_size"] == 4096


def test_an_installed_wheel_carries_its_config_tree(tmp_path):
    """pip install of a wheel (a Docker image, pip install git+…) has no checkout: conf/ must ship in the package."""
    import shutil

    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", "docs", "*.egg-info", "build", "__pycache__", ".gpu_wheels"))
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)],
                   check=True, cwd=tmp_path, capture_output=True)
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(site), "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-c", "import orchestrator.sweep.train as t; print(t.__file__, t.CONF_DIR)"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert done.stdout.startswith(str(site)) and f"{site}/orchestrator/conf" in done.stdout, done.stderr[-2000:]
    run = subprocess.run([sys.executable, "-m", "orchestrator.train", "experiment=micro_cell", "dry_run=true",
                          f"results_dir={tmp_path / 'store'}"], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list((tmp_path / "store" / "micro_cell").glob("*/plan.json"))) == 1
