"""Start-up milestones: how long since this process was exec'd (for the INFO logs).

A restart is judged by the time from the process's start to every router seen
healthy; the parent and each worker log their milestones with this figure so the
log alone shows where a restart's seconds went (imports, spawn, preload, passes).
"""

from __future__ import annotations

import os


def since_exec() -> float:
    """Seconds since this process started (its exec, imports included); 0.0 if the
    kernel does not say (no /proc)."""
    try:
        with open("/proc/self/stat") as f:
            # Field 22 (starttime, clock ticks after boot); the name in () may hold spaces.
            start = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - start)
