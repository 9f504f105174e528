"""A store's identity: the salt of its W&B run ids, kept in the store (`<results_dir>/.store.json`).

A cell's W&B run id hashes the store's salt with the sweep and the cell id, so a resumed cell continues its own
run while two people (or two stores) running the same config get two runs instead of resuming each other's.
A local store gets a random salt the first time a run id is needed, created atomically (the first writer wins, every
other process reads it). A URI store (s3://, gs://) has no atomic create: its salt is read from its `.store.json`
when one is there (a store copied up from disk keeps its salt), else it is derived from the URI itself, which
names one store. Stores that predate the salt get one when a run id is next needed: a cell resumed across that
upgrade starts a new W&B run (its metrics.jsonl is whole either way).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path

from orchestrator.store.uri import is_uri

STORE_FILE = ".store.json"


def _read_salt(text: str, source: str) -> str:
    try:
        salt = json.loads(text)["wandb_salt"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{source} is not a store identity file (expected {{\"wandb_salt\": ...}})") from None
    if not isinstance(salt, str) or not salt:
        raise ValueError(f"{source}: wandb_salt must be a non-empty string")
    return salt


def _local_salt(root: Path) -> str:
    path = root / STORE_FILE
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=root, prefix=".store-", delete=False) as handle:
            json.dump({"wandb_salt": secrets.token_hex(8)}, handle)
        try:
            os.link(handle.name, path)  # atomic, and fails if another process made it first
        except FileExistsError:
            pass
        finally:
            os.unlink(handle.name)
    return _read_salt(path.read_text(encoding="utf-8"), str(path))


def _uri_salt(uri: str) -> str:
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(uri)
    path = f"{root.rstrip('/')}/{STORE_FILE}"
    if filesystem.get_file_info(path).type == fs.FileType.File:
        with filesystem.open_input_stream(path) as stream:
            return _read_salt(stream.read().decode(), f"{uri.rstrip('/')}/{STORE_FILE}")
    return hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]


def store_salt(results_dir: str | Path) -> str:
    """The salt of the store at `results_dir` (see the module docstring)."""
    return _uri_salt(str(results_dir)) if is_uri(results_dir) else _local_salt(Path(results_dir))


def wandb_run_id(salt: str, sweep: str, name: str) -> str:
    """A run id unique to this store, sweep and cell (or the sweep's summary run)."""
    return hashlib.sha256(f"{salt}/{sweep}/{name}".encode()).hexdigest()[:16]
