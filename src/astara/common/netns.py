"""Enter a network namespace for the calling thread only, and come back.

The one place Astara switches namespaces in-process: the appliance agent's apply
and status threads (``appliance.apply.netns``) and the compute agent's sysctl
writes (``compute_service.agent.runner``). ``setns(2)`` through pyroute2 moves only the
calling thread, so every socket it opens, every /proc/sys/net write and every child
it starts belongs to that namespace; the thread's own namespace is restored on the
way out. pyroute2's ``pushns``/``popns`` are not used: they keep one process-wide
stack and save ``/proc/self`` (the main thread's namespace), wrong for worker
threads. ``None`` means "stay here" (an appliance in a VM).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pyroute2 import netns as _pyroute2_netns

NETNS_RUN_DIR = "/run/netns"


def _setns(fd: int) -> None:
    # flags=0: never create the namespace; an fd is used as is (and not closed).
    _pyroute2_netns.setns(fd, flags=0)


def enter_fd(fd: int) -> None:
    """Move the calling thread into the namespace ``fd`` refers to, for good (``fd``
    stays open)."""
    _setns(fd)


@contextlib.contextmanager
def entered(netns: str | None) -> Iterator[None]:
    """Run the body in namespace ``netns`` (a name under /run/netns), this thread only.
    OSError (e.g. FileNotFoundError) if it does not exist; nothing was switched then."""
    if netns is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)  # cannot fail for the thread's own namespace; if it did, raise
    finally:
        os.close(home)
