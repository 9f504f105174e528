"""Resident memory of a process from Linux's /proc/<pid>/status: VmRSS (now) and VmHWM (peak since start or
since the last reset)."""
from __future__ import annotations


def status_mib(field: str, pid: int | str = "self") -> float:
    """`field` (VmRSS, VmHWM) of process `pid` in MiB. Raises OSError when the process is gone, KeyError when it
    has no such field (a zombie has none)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB → MiB
    raise KeyError(f"{field} not in /proc/{pid}/status")


def reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False
