"""Keep the host agent's long-lived descriptors out of libnftables' way.

libnftables `select()`s its netlink socket, so each appliance's in-process nftables
context needs a descriptor numbered below FD_SETSIZE (1024) for as long as it lives
(`common.libnft`). A host agent also holds, per appliance, two listening sockets, two
change subscriptions and a pidfd per dnsmasq: at ~160 appliances those used up the low
numbers and every appliance after that loaded its rules through the `nft` binary (a
process per floating IP change). `lift` moves such a descriptor to a number at or above
FD_SETSIZE; `raise_limit` lets the process open that many. Where the limit cannot
allow it, the descriptor stays where it is (and libnftables' own check still holds).
"""

from __future__ import annotations

import fcntl
import os
import resource
import socket

FD_SETSIZE = 1024
WANTED_LIMIT = 65536


def raise_limit(wanted: int = WANTED_LIMIT) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit, never
    lower); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def lift_fd(fd: int) -> int:
    """``fd``'s copy numbered >= FD_SETSIZE (close-on-exec; ``fd`` is closed), or ``fd``
    itself when the open-files limit leaves no such number."""
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return fd
    os.close(fd)
    return high


def lift(sock: socket.socket) -> socket.socket:
    """The same socket on a descriptor >= FD_SETSIZE (``sock`` is closed), or ``sock``."""
    try:
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return sock
    blocking = sock.getblocking()
    moved = socket.socket(sock.family, sock.type, sock.proto, fileno=high)
    moved.setblocking(blocking)
    sock.close()
    return moved
