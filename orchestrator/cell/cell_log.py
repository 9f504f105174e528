"""`<cell>/cell.log`: what every rank of a cell printed, appended across runs (a resumed cell's log goes on), each
line prefixed with the time and the rank, and the traceback of a cell that failed.

Python-level: sys.stdout and sys.stderr are teed while a worker runs (the console, or Ray's log forwarding, still
gets every line), so prints, warnings and tracebacks are kept; output written straight to the file descriptors by C
code or child processes is not.
"""
from __future__ import annotations

import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

LOG_NAME = "cell.log"


class _Tee:
    """A text stream writing to `stream` and, line by line with a prefix, to `log`."""

    def __init__(self, stream: TextIO, log: TextIO, prefix: str) -> None:
        self.stream, self.log, self.prefix, self.partial = stream, log, prefix, ""

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self.log.write(f"{time.strftime('%H:%M:%S')} {self.prefix} {line}\n")
        self.log.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@contextmanager
def cell_log(cell_dir: Path, rank: int) -> Iterator[None]:
    """Tee this process's stdout and stderr into the cell's log while the block runs."""
    Path(cell_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(cell_dir) / LOG_NAME, "a", encoding="utf-8", buffering=1) as log:
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log, f"[rank {rank}]"), _Tee(sys.stderr, log, f"[rank {rank}]")
        try:
            yield
        finally:
            for tee in (sys.stdout, sys.stderr):
                if tee.partial:
                    tee.write("\n")
            sys.stdout, sys.stderr = streams


def failure_text(error: BaseException) -> str:
    """The lines that record the error that failed the cell: a stamped header, then its traceback."""
    return f"{time.strftime('%H:%M:%S')} [cell] failed:\n" + "".join(traceback.format_exception(error))


def log_failure(cell_dir: Path, error: BaseException) -> None:
    """Append the traceback of the error that failed the cell."""
    with open(Path(cell_dir) / LOG_NAME, "a", encoding="utf-8") as log:
        log.write(failure_text(error))
