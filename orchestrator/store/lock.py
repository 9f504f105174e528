"""One writer per cell: a process runs a cell only while it holds the cell's lock file (`<cell>/.lock`).

Two sweeps over one store (or a rerun started while the killed driver's cells are still being torn down) would
otherwise train the same cell twice at once and interleave their checkpoints, metrics and W&B files. The lock is
an advisory `flock` on an open file: the kernel drops it when its holder exits, however it exits (SIGKILL, OOM,
a lost node's process), so a dead holder never leaves the cell locked. The second process waits, then finds the
cell finished and skips it, or resumes it from the first one's checkpoint. `flock` holds across processes on one
machine and on NFSv4 mounts (Linux emulates it with POSIX locks there); object stores have no locks.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

LOCK_NAME = ".lock"


@contextmanager
def cell_lock(cell_dir: Path, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the cell's lock for the duration; `on_wait` is called once if another process holds it first."""
    cell_dir = Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(cell_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
