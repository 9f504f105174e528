"""The bad-input suite: every case stops the tool with a non-zero exit and a message naming the field or file, before
any compute, with the store (results_dir) untouched.

Most cases run `orchestrator-train` in this process (argv patched, `orchestrator.sweep.train.main()` called, SystemExit
caught): a subprocess costs ~2 s here, an in-process case ~0.2 s. "Before any compute" is asserted by sentinels that
stand in for the cell (`orchestrator.cell.run.run_cell`) and for Ray (`orchestrator.sweep.connect.connect`):
neither may be reached. A handful of cases run the real console scripts in a subprocess.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TINY, build

BIN = Path(sys.executable).parent
DOCUMENT = "The quick brown fox jumps over the lazy dog. " * 40  # ~1800 bytes: enough for TINY's seq_len 32


# ---------------------------------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> dict[str, str] | None:
    """Every file and folder under root with a hash of its bytes (None when root does not exist)."""
    if not root.exists():
        return None
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@dataclass
class Outcome:
    code: int | str | None
    err: str
    out: str
    seconds: float


class ComputeStarted(AssertionError):
    pass


@pytest.fixture
def no_compute(monkeypatch) -> list[str]:
    """Sentinels for the cell and for Ray: the names of those reached (the tests assert none is)."""
    reached: list[str] = []

    def sentinel(name):
        def stand_in(*args, **kwargs):
            reached.append(name)
            raise ComputeStarted(f"{name} was reached")
        return stand_in

    monkeypatch.setattr("orchestrator.cell.run.run_cell", sentinel("run_cell"))
    monkeypatch.setattr("orchestrator.sweep.connect.connect", sentinel("ray connect"))
    return reached


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty working directory and scratch TMPDIR (Hydra's multirun.yaml goes there): the cwd must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "scratch"))
    return cwd


@pytest.fixture
def train(capsys, monkeypatch, workdir, no_compute):
    """orchestrator-train ARGS..., in this process; Hydra's global state and the root logger are restored."""
    from hydra.core.global_hydra import GlobalHydra

    import orchestrator.sweep.train

    def run(*args: str) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["orchestrator-train", *args])
        handlers, level = logging.root.handlers[:], logging.root.level
        capsys.readouterr()
        started, code = time.perf_counter(), None
        try:
            orchestrator.sweep.train.main()
        except SystemExit as exit_:
            code = exit_.code
        finally:
            logging.root.handlers[:], logging.root.level = handlers, level
            hydra_left_initialized = GlobalHydra.instance().is_initialized()
            GlobalHydra.instance().clear()
        captured = capsys.readouterr()
        assert not hydra_left_initialized, "Hydra's global state leaked out of the run"
        assert Path.cwd() == workdir and not any(workdir.iterdir()), "the run changed or wrote the working directory"
        assert no_compute == [], f"compute started: {no_compute}"
        return Outcome(code, captured.err, captured.out, time.perf_counter() - started)

    return run


def assert_rejected(outcome: Outcome, *named: str) -> None:
    assert outcome.code not in (None, 0), f"accepted; stdout: {outcome.out[-2000:]}"
    for text in named:
        assert text in outcome.err, f"{text!r} not in the message:\n{outcome.err[-3000:]}"


def cli(*args: str, cwd: Path, timeout: float = 120) -> Outcome:
    env = os.environ | {"WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "TMPDIR": str(cwd.parent / "scratch")}
    started = time.perf_counter()
    done = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return Outcome(done.returncode, done.stderr, done.stdout, time.perf_counter() - started)


# ------------------------------------------------------------------------------- config values, keys, overrides

CONFIG_CASES = [
    # wrong types
    (["pruning.sparsity=abc"], ["pruning.sparsity", "abc"]),
    (["train.workers=two"], ["train.workers", "two"]),
    (["train.batch_size=2.5"], ["train.batch_size"]),
    # out of range
    (["pruning.sparsity=1.5"], ["pruning.sparsity must be in [0, 1), got 1.5"]),
    (["train.workers=0"], ["train.workers must be an integer >= 1, got 0"]),
    (["optim.lr=-1"], ["optim.lr"]),
    (["seed=-1"], ["seed"]),
    (["data.val_fraction=0.9"], ["data.val_fraction"]),
    (["deepspeed.zero_stage=3"], ["deepspeed.zero_stage", "[0, 1, 2]"]),
    (["train.device=tpu"], ["train.device", "'cuda'"]),
    (["wandb.mode=sometimes"], ["wandb.mode", "'offline'"]),
    (["sweep=a/b"], ["sweep"]),
    # contradictory combinations
    (["pruning=none", "pruning.sparsity=0.5"], ["pruning.sparsity", "'none'"]),
    (["pruning.start=0.8", "pruning.end=0.2"], ["pruning.end", "pruning.start"]),
    (["budget.tokens_per_param=20"], ["budget.dense_steps", "budget.tokens_per_param"]),
    (["budget.dense_steps=50", "pruning.every=100"], ["pruning.every", "budget.dense_steps (50)"]),
    (["train.batch_size=5", "train.workers=2"], ["train.batch_size", "divisible by train.workers (2)"]),
    (["model.seq_len=4096"], ["model.seq_len", "micro preset's maximum"]),
    # unknown presets and groups (Hydra lists the options)
    (["model=huge"], ["model/huge", "micro"]),
    (["experiment=nope"], ["experiment/nope", "journey80"]),
    (["window=a10_b20"], ["window/a10_b20", "a25_b75"]),
    (["hydra/launcher=nope"], ["hydra/launcher", "nope"]),
    (["model.preset=huge"], ["model.preset", "'micro'"]),
    # unknown keys
    (["+foo=1"], ["foo is not a config key", "'pruning'"]),
    (["++foo=1"], ["foo is not a config key"]),
    (["model.nonsense=1"], ["model.nonsense"]),
    (["+model.nonsense=1"], ["model.nonsense is not a config key", "'seq_len'"]),
    # malformed overrides
    (["pruning.sparsity=[0.1"], ["pruning.sparsity=[0.1"]),
    (["=foo"], ["'=foo'", "no key"]),
    (["pruning.sparsity"], ["pruning.sparsity"]),
    (["pruning.sparsity="], ["pruning.sparsity"]),
    (["pruning.sparsity=0.1,"], ["pruning.sparsity=0.1,"]),
    # a group that needs a value
    (["data=text"], ["data.path must be set"]),
]


@pytest.mark.parametrize("overrides,named", CONFIG_CASES, ids=[" ".join(o) for o, _ in CONFIG_CASES])
def test_a_bad_config_is_rejected_naming_the_field(train, tmp_path, overrides, named):
    store = tmp_path / "store"
    assert_rejected(train(*overrides, f"results_dir={store}"), *named)
    assert not store.exists()


def test_an_empty_results_dir_is_rejected(train):
    assert_rejected(train("results_dir="), "results_dir")


def test_a_results_dir_uri_carrying_credentials_is_rejected_without_echoing_them(train, capsys):
    for outcome, field in ((train("results_dir=file://someone:PLANTEDsecret@localhost/tmp/store"), "results_dir"),
                           (_run_report(capsys, "s3://KEY:PLANTEDsecret@bucket/results"), "RESULTS_DIR")):
        assert_rejected(outcome, field, "credentials")
        assert "PLANTEDsecret" not in outcome.err + outcome.out


def test_a_sweep_into_a_uri_carrying_credentials_names_the_cell_without_echoing_them(train):
    outcome = train("-m", *SWEEP, "results_dir=s3://AKIA:PLANTEDsecret@bucket/results")
    assert_rejected(outcome, "cell #0", "results_dir", "credentials")
    assert "PLANTEDsecret" not in outcome.err + outcome.out


def test_a_results_dir_uri_pyarrow_cannot_open_is_rejected(train):
    assert_rejected(train("results_dir=nosuchscheme://bucket/results"), "results_dir", "nosuchscheme")


# ---------------------------------------------------------------------------------------------------------- data


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


DATA_CASES = {
    "missing file": (lambda d: d / "nope.txt", ["data.path", "no such file", "nope.txt"]),
    "empty file": (lambda d: _write(d / "empty.txt", b""), ["data.path", "empty.txt", "is empty"]),
    "whitespace-only file": (lambda d: _write(d / "blank.txt", b" \n\t\n"), ["data.path", "blank.txt", "empty"]),
    "empty directory": (lambda d: _folder(d / "none"), ["data.path", "no *.txt"]),
    "directory of binary files": (lambda d: _write(d / "bin" / "a.bin", b"\x00\x01\x02").parent,
                                  ["data.path", "no *.txt"]),
    "directory of empty text files": (lambda d: _write(d / "hollow" / "a.txt", b"").parent,
                                      ["data.path", "all 1 text files", "empty"]),
    "non-UTF-8 file": (lambda d: _write(d / "latin1.txt", "café ".encode("latin-1") * 500),
                       ["data.path", "latin1.txt", "not UTF-8"]),
    "corrupt gzip": (lambda d: _write(d / "torn.txt.gz", gzip.compress(DOCUMENT.encode())[:40]),
                     ["data.path", "torn.txt.gz", "cannot read"]),
    "too short for seq_len": (lambda d: _write(d / "short.txt", b"hello world"),
                              ["data.path", "short.txt", "model.seq_len + 2 = 34"]),
}


SIDECAR = b'{"dtype": "uint16", "vocab_size": 300}'
TOKEN_CASES = {
    "token id above the vocabulary": (lambda d: (_write(d / "tokens.json", SIDECAR),
                                                 _write(d / "x.bin", b"\xff\x01" * 2000))[1].parent,
                                      ["data.vocab_size", "x.bin", "token id 511"]),
    "token file of odd size": (lambda d: (_write(d / "tokens.json", SIDECAR), _write(d / "x.bin", b"\x01" * 2001))[1],
                               ["data.dtype", "x.bin", "not a multiple of 2"]),
    "no tokens.json": (lambda d: _write(d / "x.bin", b"\x01\x00" * 2000), ["tokens.json", "data.vocab_size"]),
    "an empty shard": (lambda d: (_write(d / "tokens.json", SIDECAR), _write(d / "a.bin", b"\x01\x00" * 2000),
                                  _write(d / "b.bin", b""))[1].parent, ["data.path", "b.bin", "is empty"]),
    "too few tokens for seq_len": (lambda d: (_write(d / "tokens.json", SIDECAR),
                                              _write(d / "x.bin", b"\x01\x00" * 200))[1],
                                   ["data.path", "x.bin", "model.seq_len + 2 = 34"]),
}


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_bad_token_data_is_rejected_naming_the_file_and_field(train, tmp_path, case):
    make, named = TOKEN_CASES[case]
    data = make(tmp_path / "data")
    store = tmp_path / "store"
    assert_rejected(train(*TINY, "data=tokens", f"data.path={data}", f"results_dir={store}"), *named)
    assert not store.exists()


def test_a_sweep_experiment_without_multirun_is_refused_naming_the_missing_flag(train, tmp_path):
    store = tmp_path / "store"
    outcome = train("experiment=journey80", *TINY, f"results_dir={store}")
    assert_rejected(outcome, "experiment=journey80", "-m", "window", "pruning.sparsity", "budget.tokens_per_param")
    assert outcome.code == 2 and not store.exists()


def test_one_cell_of_a_sweep_experiment_runs_when_every_swept_key_is_given(tmp_path):
    cwd = _folder(tmp_path / "cwd")
    outcome = cli("orchestrator-train", "experiment=journey80", "window=a25_b75", "pruning.sparsity=0.5",
                  "budget.tokens_per_param=20", "dry_run=true", f"results_dir={tmp_path / 'store'}", cwd=cwd)
    assert outcome.code == 0, outcome.err[-2000:]
    assert len(list((tmp_path / "store" / "journey80").glob("*/plan.json"))) == 1


def test_a_budget_in_tokens_per_parameter_needs_the_data_s_vocabulary(train, tmp_path):
    store = tmp_path / "store"
    base = [*TINY, "data=tokens", f"data.path={tmp_path}", "budget.dense_steps=null", "budget.tokens_per_param=1",
            f"results_dir={store}"]
    assert_rejected(train(*base), "data.vocab_size", "budget.tokens_per_param", "budget.dense_steps")
    assert_rejected(train(*TINY, "data=tokens", f"data.path={tmp_path}", "pruning=static", "pruning.sparsity=0.5",
                          f"results_dir={store}"), "data.vocab_size", "pruning=static")
    assert_rejected(train(*TINY, "data=tokens", f"data.path={tmp_path}", "finetune.steps=2",
                          f"finetune.data_path={tmp_path}/x.txt", f"results_dir={store}"), "finetune.data_path")
    assert_rejected(train(*TINY, "data.vocab_size=300", f"results_dir={store}"), "data.vocab_size", "byte")
    assert_rejected(train(*TINY, "data.tokenizer=enwiki-bpe", "data.vocab_size=4000", f"results_dir={store}"),
                    "data.vocab_size", "4000", "4096")
    assert not store.exists()


def test_a_tokenizer_that_does_not_load_is_rejected_naming_it(train, tmp_path):
    broken = _write(tmp_path / "tok.json", b"{not a tokenizer")
    store = tmp_path / "store"
    assert_rejected(train(*TINY, f"data.tokenizer={broken}", f"results_dir={store}"), "data.tokenizer",
                    "tok.json", "cannot load")
    assert_rejected(train(*TINY, "data.tokenizer=gpt2", f"results_dir={store}"), "data.tokenizer", "gpt2")
    assert not store.exists()


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_is_rejected_naming_the_path(train, tmp_path, case):
    make, named = DATA_CASES[case]
    data = make(tmp_path / "data")
    store = tmp_path / "store"  # the token cache lives in the store by default: it must not be written either
    assert_rejected(train(*TINY, "data=text", f"data.path={data}", f"results_dir={store}"), *named)
    assert not store.exists()


# ------------------------------------------------------------------------------------------------- the store


def test_a_results_dir_that_is_a_file_is_rejected(train, tmp_path):
    store = _write(tmp_path / "store", b"not a folder")
    before = snapshot(store)
    assert_rejected(train(*TINY, f"results_dir={store}"), "results_dir", str(store), "a file")
    assert snapshot(store) == before


def test_a_results_dir_under_a_file_is_rejected(train, tmp_path):
    blocker = _write(tmp_path / "blocker", b"x")
    assert_rejected(train(*TINY, f"results_dir={blocker / 'store'}"), "results_dir", f"{blocker} is a file")
    assert blocker.read_bytes() == b"x"


def test_a_cache_dir_under_a_file_is_rejected(train, tmp_path):
    blocker = _write(tmp_path / "blocker", b"x")
    store = tmp_path / "store"
    assert_rejected(train(*TINY, f"results_dir={store}", f"data.cache_dir={blocker / 'cache'}"), "data.cache_dir")
    assert not store.exists()


def _access_as_the_owner(real_access):
    """os.access answered from the owner's mode bits, as the kernel answers a process that owns the file and has no
    privilege to override them. Root's os.access ignores mode bits (root writes into read-only folders), so a
    read-only folder reads as writable to root, and CI runs as root."""
    owner_bits = {os.R_OK: stat.S_IRUSR, os.W_OK: stat.S_IWUSR, os.X_OK: stat.S_IXUSR}

    def access(path, mode, *args, **kwargs):
        granted = os.stat(path).st_mode
        return real_access(path, mode, *args, **kwargs) and all(granted & bit for flag, bit in owner_bits.items()
                                                                if mode & flag)
    return access


@pytest.mark.parametrize("where", ["under", "at"])
def test_a_results_dir_in_a_read_only_folder_is_rejected(train, tmp_path, monkeypatch, where):
    """The store check asks os.access of the nearest folder that exists: the read-only folder the store would be
    created in, or the store itself."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root (or CAP_DAC_OVERRIDE): answer as the folder's unprivileged owner would
        monkeypatch.setattr(os, "access", _access_as_the_owner(os.access))
    store = locked / "store" if where == "under" else locked
    reason = f"{locked} is not writable" if where == "under" else "it is not writable"
    try:
        assert_rejected(train(*TINY, f"results_dir={store}"), "results_dir", reason)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def _corrupt_result(store: Path, overrides: list[str]) -> Path:
    """The result.json a rerun of this cell would read, torn mid-write by something outside the tool."""
    from orchestrator.store.cell_id import cell_id

    config, _ = build(overrides)
    result = store / config.sweep / cell_id(config) / "result.json"
    return _write(result, b'{"status": "do')


def test_a_rerun_over_a_corrupt_result_names_the_file(train, tmp_path):
    store = tmp_path / "store"
    result = _corrupt_result(store, TINY + [f"results_dir={store}"])
    before = snapshot(store)
    assert_rejected(train(*TINY, f"results_dir={store}"), "results_dir", str(result))
    assert snapshot(store) == before


def test_the_skip_logic_names_a_corrupt_result_file(tmp_path):
    """`CellPaths.is_finished` (what a rerun and every Ray task ask first) names the file, not a bare JSON error."""
    from orchestrator.store.files import CellPaths

    paths = CellPaths(tmp_path / "cell")
    _write(paths.result, b'{"status": "do')
    with pytest.raises(ValueError, match=re.escape(str(paths.result))):
        paths.is_finished()


# ----------------------------------------------------------------------------- sweeps (-m, the Ray launcher)

SWEEP = [*TINY, "hydra/launcher=ray"]


def test_a_sweep_with_one_bad_cell_stops_before_ray(train, tmp_path):
    store = tmp_path / "store"
    outcome = train("-m", *SWEEP, "pruning.sparsity=0.5,1.5", f"results_dir={store}")
    assert_rejected(outcome, "cell #1", "pruning.sparsity=1.5", "pruning.sparsity must be in [0, 1), got 1.5")
    assert not store.exists()


def test_a_sweep_with_an_unknown_key_stops_before_ray(train, tmp_path):
    store = tmp_path / "store"
    assert_rejected(train("-m", *SWEEP, "+foo=1", "seed=0,1", f"results_dir={store}"), "foo is not a config key")
    assert not store.exists()


def test_a_sweep_whose_cells_are_the_same_cell_is_refused(train, tmp_path):
    store = tmp_path / "store"
    assert_rejected(train("-m", *SWEEP, "pruning.sparsity=0.5,0.50", f"results_dir={store}"), "the same cell")
    assert not store.exists()


def test_a_sweep_over_bad_data_stops_before_ray_naming_the_file(train, tmp_path):
    good = _write(tmp_path / "data" / "good.txt", DOCUMENT.encode())
    empty = _write(tmp_path / "data" / "empty.txt", b"")
    store = tmp_path / "store"
    outcome = train("-m", *SWEEP, "data=text", f"data.path={good},{empty}", f"results_dir={store}")
    assert_rejected(outcome, "cell #1", str(empty), "is empty")
    assert not store.exists()


def test_a_sweep_into_an_unwritable_store_stops_before_ray(train, tmp_path):
    blocker = _write(tmp_path / "blocker", b"x")
    assert_rejected(train("-m", *SWEEP, "seed=0,1", f"results_dir={blocker / 'store'}"), "results_dir", str(blocker))


def test_a_sweep_rerun_over_a_corrupt_result_names_the_file(train, tmp_path):
    store = tmp_path / "store"
    result = _corrupt_result(store, TINY + [f"results_dir={store}", "seed=1"])
    before = snapshot(store)
    assert_rejected(train("-m", *SWEEP, "seed=0,1", f"results_dir={store}"), "cell #1", str(result))
    assert snapshot(store) == before


# ------------------------------------------------------------------------- the real console scripts (subprocess)


def test_cli_single_run_rejects_an_unknown_key(workdir, tmp_path):
    store = tmp_path / "store"
    outcome = cli("orchestrator-train", "+foo=1", f"results_dir={store}", cwd=workdir)
    assert outcome.code == 2 and "foo is not a config key" in outcome.err, outcome.err[-2000:]
    assert not store.exists() and not any(workdir.iterdir())


def test_cli_sweep_with_a_bad_cell_fails_before_ray_starts(workdir, tmp_path):
    store = tmp_path / "store"
    outcome = cli("orchestrator-train", "-m", "experiment=demo", "train.workers=0", "hydra/launcher=ray",
                  f"results_dir={store}", cwd=workdir)
    assert outcome.code == 2 and "Traceback" not in outcome.err  # one line, as for a single cell
    assert "cell #0" in outcome.err and "train.workers must be an integer >= 1, got 0" in outcome.err
    assert "Launching" not in outcome.out + outcome.err  # the launcher logs it once Ray is up
    assert not store.exists() and not any(workdir.iterdir())


def test_cli_an_unreachable_cluster_fails_clearly_within_a_bounded_time(workdir, tmp_path):
    """10.255.255.1 is a private address nobody routes: the TCP check times out, or (behind a proxy that accepts
    every connection, as in some sandboxes) Ray's own retries stop after connect_timeout_s."""
    store = tmp_path / "store"
    outcome = cli("orchestrator-train", "-m", *TINY, "seed=0,1", "hydra.launcher.address=10.255.255.1:6379",
                  "hydra.launcher.connect_timeout_s=3", f"results_dir={store}", cwd=workdir, timeout=60)
    assert outcome.code == 2 and "Traceback" not in outcome.err
    assert "hydra.launcher.address='10.255.255.1:6379'" in outcome.err, outcome.err[-3000:]
    assert outcome.seconds < 30
    assert "Launching" not in outcome.out + outcome.err
    assert not store.exists() and not any(workdir.iterdir())


def test_a_refused_cluster_address_fails_at_once_naming_it():
    from orchestrator.launcher_config import RayLauncherConf
    from orchestrator.sweep.connect import ClusterUnreachable, connect

    started = time.perf_counter()
    with pytest.raises(ClusterUnreachable, match=re.escape("hydra.launcher.address='127.0.0.1:1'")):
        connect(RayLauncherConf(address="127.0.0.1:1"))
    assert time.perf_counter() - started < 10
    assert RayLauncherConf().connect_timeout_s <= 30  # the default bound on an address that never answers


# ---------------------------------------------------------------------------------------------- orchestrator-plan

PLAN_CASES = [
    (["--sparsity", "abc", "--dense-steps", "1000"], ["--sparsity", "abc"]),
    (["--sparsity", "1.2", "--dense-steps", "1000"], ["sparsity", "1.2"]),
    (["--sparsity", "0.5", "--dense-steps", "1000", "--start", "0.8", "--end", "0.2"], ["start", "end"]),
    (["--sparsity", "0.5", "--dense-steps", "100", "--every", "1000"], ["dense_steps", "every"]),
    (["--sparsity", "0.5", "--dense-steps", "1000", "--schedule", "nope"], ["--schedule", "nope"]),
    (["--sparsity", "0.5"], ["--dense-steps"]),
]


def _run_plan(capsys, argv: list[str]) -> Outcome:
    from orchestrator.study.plan_cli import main

    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    captured = capsys.readouterr()
    return Outcome(code, captured.err, captured.out, 0.0)


@pytest.mark.parametrize("argv,named", PLAN_CASES, ids=[" ".join(a) for a, _ in PLAN_CASES])
def test_plan_rejects_bad_arguments_naming_them(capsys, argv, named):
    outcome = _run_plan(capsys, argv)
    assert_rejected(outcome, *named)
    assert outcome.out == ""


FIT_FILES = {
    "missing": None,
    "not JSON": b'{"predictors":',
    "not UTF-8": b"\xff\xfe\x00",
    "a JSON list": b"[]",
    "no law constants": b'{"predictors": {"avg_params": {"E": 1.0}}}',
}


@pytest.mark.parametrize("case", FIT_FILES)
def test_plan_from_a_bad_fit_file_names_the_file(capsys, tmp_path, case):
    fit = tmp_path / "fit.json"
    if FIT_FILES[case] is not None:
        fit.write_bytes(FIT_FILES[case])
    outcome = _run_plan(capsys, ["--from-fit", str(fit), "--compute", "1e12", "--final-params", "1e5"])
    assert_rejected(outcome, f"--from-fit {fit}")
    assert outcome.out == ""


# -------------------------------------------------------------------------------------------- orchestrator-report


def _run_report(capsys, *argv: str) -> Outcome:
    from orchestrator.study.report_cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return Outcome(code, captured.err, captured.out, 0.0)


def test_report_on_a_missing_directory_names_it(capsys, tmp_path):
    missing = tmp_path / "nope"
    assert_rejected(_run_report(capsys, str(missing)), "RESULTS_DIR", str(missing))
    assert not missing.exists()


def test_report_on_a_file_names_it(capsys, tmp_path):
    file = _write(tmp_path / "store", b"x")
    assert_rejected(_run_report(capsys, str(file)), str(file), "not a directory")
    assert file.read_bytes() == b"x"


def test_report_on_an_empty_store_writes_nothing(capsys, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    assert_rejected(_run_report(capsys, str(store)), str(store), "no readable result.json")
    assert list(store.iterdir()) == []


def test_report_on_a_store_of_corrupt_results_names_each_file_and_writes_nothing(capsys, tmp_path):
    store = tmp_path / "store"
    torn = _write(store / "sweep" / "cell-a" / "result.json", b'{"status": "do')
    not_an_object = _write(store / "sweep" / "cell-b" / "result.json", b"null")
    before = snapshot(store)
    assert_rejected(_run_report(capsys, str(store)), "no readable result.json", str(torn), str(not_an_object))
    assert snapshot(store) == before


def test_fine_tuning_data_is_checked_before_compute_and_named(tmp_path):
    from conftest import build

    from orchestrator.cell.preflight import check_before_compute
    from orchestrator.data import DataError

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    store = tmp_path / "store"
    config, _ = build(["pruning=static", "finetune.steps=10", f"finetune.data_path={empty}",
                       f"results_dir={store}"])
    with pytest.raises(DataError, match="^finetune.data_path: file .*empty.txt is empty"):
        check_before_compute(config)
    config, _ = build(["pruning=static", "finetune.steps=10", "finetune.eval_fraction=0.0001",
                       f"results_dir={store}"])
    with pytest.raises(DataError, match="finetune.eval_fraction"):
        check_before_compute(config)
    assert not store.exists()


def test_address_auto_says_which_cluster_it_joins_and_never_guesses(monkeypatch):
    """`auto` is resolved before Ray: RAY_ADDRESS first, then the last `ray start`, then a head in the process list,
    said as such; none, or several, is refused naming them; an answerless address names where it came from."""
    import ray._private.services as services

    from orchestrator.launcher_config import RayLauncherConf
    from orchestrator.sweep.connect import ClusterUnreachable, connect, resolve_auto

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset())
    with pytest.raises(ClusterUnreachable, match="no Ray cluster to join"):
        resolve_auto()
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset({"10.0.0.1:6379", "10.0.0.2:6379"}))
    with pytest.raises(ClusterUnreachable, match=re.escape("several Ray clusters run on this machine (10.0.0.1:6379, "
                                                           "10.0.0.2:6379)")):
        resolve_auto()
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset({"127.0.0.1:1"}))
    address, source = resolve_auto()
    assert address == "127.0.0.1:1" and "may be another user's" in source
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:2")
    assert resolve_auto()[0] == "127.0.0.1:2"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert resolve_auto() == ("127.0.0.1:1", "RAY_ADDRESS")
    started = time.perf_counter()
    with pytest.raises(ClusterUnreachable, match=re.escape("hydra.launcher.address='auto' (127.0.0.1:1, from "
                                                           "RAY_ADDRESS): no Ray cluster answers there")):
        connect(RayLauncherConf(address="auto", connect_timeout_s=2))
    assert time.perf_counter() - started < 10
