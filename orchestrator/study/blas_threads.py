"""One BLAS thread while the report computes.

The report's arrays are small: a law fit's L-BFGS-B routine calls BLAS and LAPACK on 5 × 10 matrices hundreds of
thousands of times, and numpy's products are over a few hundred cells. OpenBLAS starts as many threads as there are
cores for each of those calls; on a loaded machine a thread whose core is taken holds the call up. Measured on the
2-core box (2026-12-03, one core busy with a sweep): one scipy `setulb` call took 55 µs with OpenBLAS's default
threads and 3 µs with one; the report of docs/reproduction/store took 20 minutes instead of 78 s.

`one_blas_thread()` sets every OpenBLAS loaded in the process (numpy's and scipy's each bring one) to one thread
and restores the previous counts on exit, through the libraries' own `*_set_num_threads` entry points (what
threadpoolctl does, without the dependency). Where it finds none (not Linux, another BLAS) it changes nothing:
OPENBLAS_NUM_THREADS=1 in the environment does the same from the start of the process.
"""
from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from pathlib import Path

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_", "_64_")


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux's /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split(maxsplit=5)[5] for line in maps.splitlines() if len(line.split(maxsplit=5)) == 6}
    return sorted(path for path in paths if "openblas" in Path(path).name.lower())


def _thread_controls(library: ctypes.CDLL) -> tuple | None:
    """(get, set) of the library's thread count, by whichever symbol names its build exports."""
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[int]:
    """Run the block with every loaded OpenBLAS on one thread; yields how many libraries it set."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS)
    import scipy.linalg  # noqa: F401  (loads scipy's, which L-BFGS-B uses)

    previous = []
    for path in _loaded_openblas():
        try:
            controls = _thread_controls(ctypes.CDLL(path))
        except OSError:
            continue
        if controls is not None:
            get, set_ = controls
            previous.append((set_, int(get())))
            set_(1)
    try:
        yield len(previous)
    finally:
        for set_, count in previous:
            set_(count)
