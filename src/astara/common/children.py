"""Child processes that must not outlive their parent (a worker of the orchestrator or of
the network API): if the parent is killed -9, its successor hands their work out again."""

from __future__ import annotations

import ctypes
import logging
import os
import signal

LOG = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM this process when its parent dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        LOG.warning("prctl unavailable: this process may outlive its parent")
    if os.getppid() != parent_pid:  # it died while we were starting: no signal will come
        os._exit(0)
