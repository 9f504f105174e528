"""`results_dir` as a URI of pyarrow's filesystem layer (s3://bucket/results, gs://…, hdfs://…, file:///…): the
same store layout, written through the filesystem Ray already ships.

A cell still runs in a local folder, its stage (`$TMPDIR/pruning-journey-stage/<hash of the URI>/<sweep>/<cell>`):
DeepSpeed, W&B and the token cache want local files. The stage is made a copy of the store before the cell starts
(a finished cell's result.json is then seen and the cell skipped; an unfinished one's checkpoints are resumed,
on this machine or any other), and copied up after every checkpoint and at the end, result.json last: a reader of
the store sees result.json only once every other file of the cell is there. Object stores have no locks: two
sweeps must not share one URI store at the same time (a local or NFS store is guarded by the cell lock).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.store.lock import LOCK_NAME
from orchestrator.store.uri import is_uri, reject_credentials

RESULT = "result.json"


def staging_root(results_dir: str) -> Path:
    digest = hashlib.sha256(results_dir.encode()).hexdigest()[:12]
    return Path(os.environ.get("TMPDIR") or "/tmp") / "pruning-journey-stage" / digest


def check_uri(results_dir: str) -> None:
    """ValueError naming results_dir when it carries credentials or pyarrow cannot open its filesystem (unknown
    scheme, bad bucket URI)."""
    from pyarrow import fs

    reject_credentials(results_dir, "results_dir")
    try:
        fs.FileSystem.from_uri(results_dir)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError or others, by scheme
        raise ValueError(f"results_dir {results_dir!r} is not a filesystem URI pyarrow can open: {error}") from None


@dataclass(frozen=True)
class RemoteCell:
    """One cell's folder in a URI store and its local stage. Picklable: the filesystem is opened where used."""

    uri: str  # the cell's folder: <results_dir>/<sweep>/<cell_id>
    stage: Path

    @classmethod
    def of(cls, results_dir: str, sweep: str, cell_id: str) -> "RemoteCell | None":
        if not is_uri(results_dir):
            return None
        return cls(f"{results_dir.rstrip('/')}/{sweep}/{cell_id}", staging_root(results_dir) / sweep / cell_id)

    def _filesystem(self):
        from pyarrow import fs

        return fs.FileSystem.from_uri(self.uri)

    @property
    def lock_dir(self) -> Path:
        """Where this machine's lock on the cell lives: beside the stage, which `download` replaces whole."""
        return self.stage.parent / ".locks" / self.stage.name

    def download(self) -> None:
        """Make the stage an exact copy of the cell's folder in the store (empty for a new cell): the store is the
        truth, so a stage left by an earlier run (a cell since deleted or moved away, checkpoints never uploaded)
        cannot bring back what the store no longer holds."""
        from pyarrow import fs

        filesystem, root = self._filesystem()
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True, exist_ok=True)
        if filesystem.get_file_info(root).type == fs.FileType.Directory:
            fs.copy_files(root, str(self.stage), source_filesystem=filesystem,
                          destination_filesystem=fs.LocalFileSystem())

    def read_result(self) -> dict | None:
        """The cell's result.json in the store, or None; CorruptStoreFile names it when it does not parse."""
        from pyarrow import fs

        from orchestrator.store.files import parse_json

        filesystem, root = self._filesystem()
        if filesystem.get_file_info(f"{root}/{RESULT}").type != fs.FileType.File:
            return None
        with filesystem.open_input_stream(f"{root}/{RESULT}") as stream:
            return parse_json(stream.read().decode(), f"{self.uri}/{RESULT}")

    def upload(self, *, with_result: bool = True) -> None:
        """Copy the stage up: every file but result.json (and the local lock), then result.json when asked and
        present; checkpoints the stage no longer holds (replaced by newer ones) are deleted from the store."""
        from pyarrow import fs

        filesystem, root = self._filesystem()
        local = fs.LocalFileSystem()
        latest = self.stage / "checkpoints" / "latest"  # goes up after the checkpoint it names: a reader of the
        files = sorted(p for p in self.stage.rglob("*")  # store never follows it to a partial one
                       if p.is_file() and p.name not in (RESULT, LOCK_NAME) and p != latest)
        for path in files + ([latest] if latest.exists() else []):
            target = f"{root}/{path.relative_to(self.stage).as_posix()}"
            filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
            fs.copy_files(str(path), target, source_filesystem=local, destination_filesystem=filesystem)
        checkpoints = f"{root}/checkpoints"
        if filesystem.get_file_info(checkpoints).type == fs.FileType.Directory:
            for info in filesystem.get_file_info(fs.FileSelector(checkpoints)):
                name = info.path.rsplit("/", 1)[-1]
                if info.type == fs.FileType.Directory and not (self.stage / "checkpoints" / name).exists():
                    filesystem.delete_dir(info.path)
        result = self.stage / RESULT
        if with_result and result.exists():
            fs.copy_files(str(result), f"{root}/{RESULT}", source_filesystem=local, destination_filesystem=filesystem)
