"""The store's W&B salt: made once per local store (atomically), read back by every process, derived from the URI
of an object store; run ids differ between stores and stay put within one."""
from __future__ import annotations

import json
import multiprocessing

import pytest

from orchestrator.store.identity import STORE_FILE, store_salt, wandb_run_id


def test_a_local_store_gets_one_random_salt_kept_in_the_store(tmp_path):
    first = store_salt(tmp_path / "a")
    assert store_salt(tmp_path / "a") == first
    assert json.loads((tmp_path / "a" / STORE_FILE).read_text()) == {"wandb_salt": first}
    assert store_salt(tmp_path / "b") != first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [STORE_FILE]  # no temporary file left behind


def _salt_of(path: str, queue) -> None:
    queue.put(store_salt(path))


def test_processes_racing_to_make_the_salt_all_read_the_same_one(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_salt_of, args=(str(tmp_path / "race"), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert len({queue.get(timeout=5) for _ in workers}) == 1


def test_a_uri_store_reads_its_file_or_derives_the_salt_from_its_address(tmp_path):
    uri = f"file://{tmp_path / 'bucket' / 'results'}"
    (tmp_path / "bucket" / "results").mkdir(parents=True)
    derived = store_salt(uri)
    assert derived == store_salt(uri + "/") != store_salt(f"file://{tmp_path / 'other'}")
    assert not (tmp_path / "bucket" / "results" / STORE_FILE).exists()  # an object store is never written here
    (tmp_path / "bucket" / "results" / STORE_FILE).write_text(json.dumps({"wandb_salt": "copied-up"}))
    assert store_salt(uri) == "copied-up"


def test_a_broken_store_file_is_named(tmp_path):
    (tmp_path / STORE_FILE).write_text("[]")
    with pytest.raises(ValueError, match=r"\.store\.json is not a store identity file"):
        store_salt(tmp_path)


def test_run_ids_depend_on_the_store_the_sweep_and_the_name():
    ids = {wandb_run_id(salt, sweep, name) for salt in ("s1", "s2") for sweep in ("a", "b") for name in ("x", "y")}
    assert len(ids) == 8 and all(len(i) == 16 for i in ids)
    assert wandb_run_id("s1", "a", "x") == wandb_run_id("s1", "a", "x")
