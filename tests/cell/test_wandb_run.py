"""A cell's W&B offline run read back from its transaction log (`<cell>/wandb/offline-run-*/run-<id>.wandb`, what
`wandb sync` uploads): the history holds every logged metric on the `tokens` axis, the summary holds the result, a
resumed cell continues the same run id, and every sitting carries the cell's log (a failed one with its traceback)."""
import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import build

import orchestrator.cell.worker
from orchestrator.cell.cell_log import LOG_NAME
from orchestrator.cell.run import run_cell
from orchestrator.store.files import MetricsLog
from orchestrator.store.identity import store_salt, wandb_run_id

GEOMETRIC = ["pruning=geometric", "pruning.sparsity=0.75", "pruning.start=0.25", "pruning.end=0.75"]
LOGGED = {"loss", "val_loss", "lr", "params_current", "params_avg", "sparsity", "step_time"}

# The .wandb file: a 7-byte header (b":W&B", magic 0xBEE1, version), then the leveldb log format
# (github.com/google/leveldb/blob/main/doc/log_format.md): 32 KiB blocks of chunks, each behind a 7-byte header
# (checksum, length, type); a block's tail too short for a header is padding; a record cut by a block boundary is
# FIRST, MIDDLE…, LAST. W&B's checksum is zlib's crc32 of the type byte and the chunk.
BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def wandb_records(path: Path) -> list:
    """The protobuf Records of a W&B transaction log, every chunk's checksum verified."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:
            pos += BLOCK - pos % BLOCK
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if kind == 0:  # zeros: the rest of the file is unwritten
            break
        chunk, pos = data[pos + HEADER:pos + HEADER + length], pos + HEADER + length
        assert zlib.crc32(bytes([kind]) + chunk) == checksum, f"{path}: a torn record at byte {pos}"
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _items(items) -> dict:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


@dataclass
class OfflineRun:
    run_id: str = ""
    started: float = 0.0
    history: list[dict] = field(default_factory=list)  # one row per log() call
    summary: dict = field(default_factory=dict)  # as it stands at the end of the run
    step_metrics: dict[str, str] = field(default_factory=dict)  # metric → the metric it is plotted against
    defined: set[str] = field(default_factory=set)  # define_metric'd names
    files: list[str] = field(default_factory=list)  # saved files (run.save), relative to the run's files/
    exit_code: int | None = None


def read_offline_run(folder: Path) -> OfflineRun:
    [log] = folder.glob("run-*.wandb")
    run = OfflineRun()
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.started = record.run.run_id, record.run.start_time.ToNanoseconds() / 1e9
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary |= _items(record.summary.update)
            for item in record.summary.remove:
                run.summary.pop(item.key or "/".join(item.nested_key), None)
        elif kind == "metric" and record.metric.name:
            run.defined.add(record.metric.name)
            run.step_metrics[record.metric.name] = record.metric.step_metric
        elif kind == "files":
            run.files += [item.path for item in record.files.files]
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def logged(row: dict) -> dict:
    """A history row as the cell logged it: W&B's own keys (_step, _runtime, …) and the trainer step left out."""
    return {k: v for k, v in row.items() if not k.startswith("_") and k != "trainer/step"}


def test_the_offline_run_holds_the_metrics_on_the_tokens_axis_and_the_result_and_a_resume_continues_it(tiny,
                                                                                                     tmp_path):
    overrides = tiny + GEOMETRIC + ["wandb.mode=offline"]
    assert run_cell(*build(overrides), stop_after_step=13).status == "interrupted"  # last checkpoint: step 12
    outcome = run_cell(*build(overrides))
    assert outcome.status == "done" and outcome.result["resumed_from_steps"] == [12]
    result = outcome.result

    # one W&B run, in two sittings: both folders (and both runs) carry the run id salted for this store
    run_id = wandb_run_id(store_salt(tmp_path / "results"), "default", result["cell_id"])
    folders = list((outcome.paths.root / "wandb").glob("offline-run-*"))
    # (two sittings started within one second share a timestamp: W&B then suffixes the second folder with "-1")
    assert len(folders) == 2 and all(re.fullmatch(rf"offline-run-\d{{8}}_\d{{6}}-{run_id}(-\d+)?", folder.name)
                                     for folder in folders), [folder.name for folder in folders]
    folders.sort(key=lambda folder: (read_offline_run(folder).started, folder.name))  # "-1" after its twin
    interrupted, resumed = (read_offline_run(folder) for folder in folders)
    assert interrupted.run_id == resumed.run_id == run_id
    assert (interrupted.exit_code, resumed.exit_code) == (1, 0)

    # the history is metrics.jsonl, value for value: the interrupted sitting's steps up to its checkpoint (metrics.jsonl
    # dropped its step 13 on resume), then the resumed sitting's from step 13 to the end
    records = {r["step"]: {k: v for k, v in r.items() if k != "step"} for r in MetricsLog(outcome.paths.metrics).read()}
    assert [row["trainer/step"] for row in interrupted.history] == list(range(1, 14))
    resumed_steps = [row["trainer/step"] for row in resumed.history]
    assert resumed_steps == list(range(13, result["steps"] + 1)) == [step for step in records if step >= 13]
    for row in interrupted.history[:12] + resumed.history:
        assert logged(row) == records[row["trainer/step"]], row["trainer/step"]
    tokens_per_step = 4 * 32  # train.batch_size × model.seq_len
    assert all(row["tokens"] == row["trainer/step"] * tokens_per_step for row in resumed.history)
    keys = set().union(*(row for row in resumed.history))
    assert LOGGED | {"tokens"} <= keys

    # every metric is plotted against tokens (define_metric's step_metric), in both sittings
    for sitting in (interrupted, resumed):
        assert "tokens" in sitting.defined and sitting.step_metrics["tokens"] == ""
        assert {name: sitting.step_metrics.get(name) for name in LOGGED} == dict.fromkeys(LOGGED, "tokens")

    # the summary: the result's scalars (finish), and each metric's last value
    scalars = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
    assert {"status", "final_loss", "avg_params", "final_params", "steps"} <= set(scalars)
    assert {k: resumed.summary.get(k) for k in scalars} == scalars
    assert resumed.summary["loss"] == {"last": resumed.history[-1]["loss"]}
    assert resumed.summary["params_avg"] == {"last": result["avg_params"]}
    assert "status" not in interrupted.summary  # an interrupted sitting reports no result

    # each sitting carries the cell's log as it stood at its end: the resumed one's goes on from the interrupted one's
    logs = [(folder / "files" / LOG_NAME).read_text() for folder in folders]
    assert LOG_NAME in interrupted.files and LOG_NAME in resumed.files  # saved: `wandb sync` uploads it
    assert logs[1].startswith(logs[0]) and "resumed from its checkpoint at step 12" in logs[1]
    assert logs[1] == (outcome.paths.root / LOG_NAME).read_text()


def test_a_failed_cell_s_run_ends_failed_and_carries_its_log_with_the_traceback(tiny, monkeypatch):
    def exploding_evaluation(*args, **kwargs):
        raise RuntimeError("evaluation exploded")

    monkeypatch.setattr(orchestrator.cell.worker, "evaluate", exploding_evaluation)  # at step 12 (eval_every)
    config, resolved = build(tiny + ["pruning=none", "wandb.mode=offline"])
    with pytest.raises(RuntimeError, match="evaluation exploded"):
        run_cell(config, resolved)
    [cell] = (Path(config.results_dir) / "default").iterdir()
    [folder] = (cell / "wandb").glob("offline-run-*")
    run = read_offline_run(folder)
    assert run.exit_code == 1 and LOG_NAME in run.files
    assert run.summary["status"] == "failed" and run.summary["error"] == "RuntimeError: evaluation exploded"
    log = (folder / "files" / LOG_NAME).read_text()
    assert f"[rank 0] [orchestrator] {cell.name}: step 1/" in log  # what the cell printed before it failed
    assert "[cell] failed:\nTraceback (most recent call last)" in log
    assert log.rstrip().endswith("RuntimeError: evaluation exploded")
    assert (cell / LOG_NAME).read_text().rstrip().endswith("RuntimeError: evaluation exploded")  # the same ending


def test_in_a_pool_actor_the_service_outlives_each_cell_and_its_wind_down_completes_every_run(tiny, monkeypatch):
    """A sweep's pool actor starts W&B's service in its warm-up (`keep_service_up`), keeps it from cell to cell and
    stops it before the pool lets it go (`stop_service`, its wind-down): then a done and a failed cell's runs are
    whole."""
    import wandb.sdk.wandb_setup as wandb_setup

    import orchestrator.cell.tracking as tracking

    monkeypatch.setattr(tracking, "_service_kept_up", False)
    monkeypatch.setenv("WANDB_MODE", "offline")  # `make test` disables W&B through it; the cells say offline
    tracking.stop_service()
    assert wandb_setup.singleton()._connection is None
    tracking.keep_service_up()
    assert wandb_setup.singleton()._connection is not None, "the service starts with the warm-up, before any cell"
    done = run_cell(*build(tiny + ["pruning=none", "wandb.mode=offline", "seed=1"]))
    assert done.status == "done"
    assert wandb_setup.singleton()._connection is not None, "the service stopped after the cell"

    def exploding_evaluation(*args, **kwargs):
        raise RuntimeError("evaluation exploded")

    monkeypatch.setattr(orchestrator.cell.worker, "evaluate", exploding_evaluation)
    config, resolved = build(tiny + ["pruning=none", "wandb.mode=offline", "seed=2"])
    with pytest.raises(RuntimeError, match="evaluation exploded"):
        run_cell(config, resolved)
    tracking.stop_service()
    assert wandb_setup.singleton()._connection is None
    runs = {cell.name: read_offline_run(next((cell / "wandb").glob("offline-run-*")))
            for cell in (Path(config.results_dir) / "default").iterdir()}
    assert sorted((run.exit_code, run.summary["status"]) for run in runs.values()) == [(0, "done"), (1, "failed")]
    assert all(LOG_NAME in run.files and run.history for run in runs.values())
