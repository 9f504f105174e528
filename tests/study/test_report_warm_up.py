"""The end-of-sweep report's imports, made in a background thread of the sweep's driver while the cells train."""
import json
import os
import subprocess
import sys
import threading

import pytest

from orchestrator.study import report_warm_up

LOADED_AFTER = """
import json, sys
from orchestrator.study.report_warm_up import import_report_stack
before = set(sys.modules)
import_report_stack(sys.argv[1] == "with W&B")
import matplotlib
print(json.dumps({"new": sorted(set(sys.modules) - before), "backend": matplotlib.get_backend()}))
"""


@pytest.mark.parametrize("with_wandb", [True, False])
def test_the_warm_up_imports_what_the_report_imports(with_wandb):
    argument = "with W&B" if with_wandb else "without"
    done = subprocess.run([sys.executable, "-c", LOADED_AFTER, argument], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.splitlines()[-1])
    new = set(loaded["new"])
    assert {"matplotlib.pyplot", "scipy.optimize", "orchestrator.study.figure_set", "orchestrator.study.markdown",
            "orchestrator.study.scaling_law", "orchestrator.study.wandb_summary"} <= new
    assert loaded["backend"].lower() == "agg"  # headless, as the report draws
    assert ("wandb" in new) == with_wandb


def test_the_warm_up_thread_alone_runs_at_the_lowest_priority():
    seen = {}

    def lowered_then_read():
        report_warm_up._lower_this_threads_priority()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=lowered_then_read)
    thread.start()
    thread.join()
    assert seen["thread"] == report_warm_up.LOWEST_PRIORITY
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before  # the driver is not reniced


def test_the_report_waits_for_the_warm_up_and_a_failed_import_is_left_to_the_report(monkeypatch):
    started = threading.Event()
    release = threading.Event()

    def slow_then_failing(with_wandb):
        started.set()
        release.wait(10)
        raise ImportError("no such module")

    monkeypatch.setattr(report_warm_up, "import_report_stack", slow_then_failing)
    thread = report_warm_up.start_report_warm_up(with_wandb=True)
    assert thread.daemon and started.wait(10)
    waiter = threading.Thread(target=report_warm_up.wait_for_report_warm_up)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive(), "the report started before the warm-up ended"
    release.set()
    waiter.join(10)
    assert not waiter.is_alive() and not thread.is_alive()
    report_warm_up.wait_for_report_warm_up()  # nothing left to wait for
