"""The end-of-sweep report's imports, made while the sweep trains.

The report that ends every `orchestrator-train -m` sweep imports matplotlib, SciPy's optimizers, the report's own
modules and (for its summary run) W&B: ~3 s of a demo report's ~9 s on a 2-core box, where the driver has had
nothing to do for minutes. `start_report_warm_up` makes those imports in a background thread of the driver, at the
lowest CPU priority (Linux: the thread alone is reniced), so the cells training beside it lose as little as possible
and the report that follows starts with its stack loaded. It changes nothing the report computes: it only imports.
A failure here is ignored: the report then makes the import itself, and fails there if it must.
"""
from __future__ import annotations

import contextlib
import os
import threading

LOWEST_PRIORITY = 19


def _lower_this_threads_priority() -> None:
    """Renice the calling thread only (on Linux, setpriority on a thread id applies to that thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


def import_report_stack(with_wandb: bool) -> None:
    """What the report imports, as it imports it: pyplot on Agg, SciPy's optimizers, every report module, and W&B
    when the summary run will be logged (`with_wandb`)."""
    from orchestrator.study.figures import pyplot

    pyplot()
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.optimize._lbfgsb  # noqa: F401

    import orchestrator.study.cells_table  # noqa: F401
    import orchestrator.study.figure_set  # noqa: F401
    import orchestrator.study.findings  # noqa: F401
    import orchestrator.study.markdown  # noqa: F401
    import orchestrator.study.p2_report  # noqa: F401
    import orchestrator.study.scaling_law  # noqa: F401
    import orchestrator.study.wandb_summary  # noqa: F401

    if with_wandb:
        import wandb  # noqa: F401


def _warm_up(with_wandb: bool) -> None:
    _lower_this_threads_priority()
    with contextlib.suppress(Exception):
        import_report_stack(with_wandb)


_started: threading.Thread | None = None


def start_report_warm_up(with_wandb: bool) -> threading.Thread:
    """Start the imports in a daemon thread (it never holds the process up at exit)."""
    global _started
    _started = threading.Thread(target=_warm_up, args=(with_wandb,), name="report-warm-up", daemon=True)
    _started.start()
    return _started


def wait_for_report_warm_up() -> None:
    """Before the report: the imports started by `start_report_warm_up`, if any, have ended."""
    global _started
    if _started is not None:
        _started.join()
        _started = None
