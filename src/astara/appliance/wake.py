"""What wakes the host agent: a namespace appears, a namespace's stack or a process changes.

Used by `discovery` (a new namespace, a management address added) and `host` (a
served appliance's cached status is stale). Three kernel sources, each a file
descriptor the event loop watches (`loop.add_reader`), so nothing is polled:

- `DirectoryWatch`: inotify on the namespace directory (`ip netns add` creates a
  file there, `ip netns del` removes it); until the directory exists, on its parent.
- `subscribe()`: a netlink socket opened *inside* a namespace and joined to
  multicast groups: links and addresses (`ROUTE_GROUPS`), or nftables changes
  (`NFTABLES_GROUP`). Its messages are only a signal: `drain()` throws them away,
  the caller looks again.
- `pidfd()`: readable once the process has exited (dnsmasq).
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from astara.appliance import high_fds
from astara.appliance.apply.netns import entered

NETLINK_ROUTE, NETLINK_NETFILTER = 0, 12
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
ROUTE_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
NFNLGRP_NFTABLES = 7
NFTABLES_GROUP = 1 << (NFNLGRP_NFTABLES - 1)
_APPEARS = inotify_flags.CREATE | inotify_flags.MOVED_TO
_GOES = inotify_flags.DELETE | inotify_flags.MOVED_FROM
_SELF_GONE = inotify_flags.DELETE_SELF | inotify_flags.MOVE_SELF | inotify_flags.IGNORED


class Signal(Protocol):
    """A descriptor whose data only says "something changed" (a netlink socket)."""

    def fileno(self) -> int: ...

    def recv(self, size: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Change:
    name: str  # a file of the directory; "" when the whole directory must be listed again
    present: bool


class DirectoryWatch:
    """inotify on `directory`: which names appeared or went. While the directory does
    not exist, its parent is watched for it; its appearance (or a lost event queue)
    is reported as `Change("", True)`: list the directory again."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self._inotify = INotify(nonblocking=True)
        self._wd: int | None = None
        self._parent_wd: int | None = None
        self._arm()

    def fileno(self) -> int:
        return self._inotify.fileno()

    def _arm(self) -> None:
        try:
            self._wd = self._inotify.add_watch(self.directory, _APPEARS | _GOES | _SELF_GONE)
        except FileNotFoundError:
            self._wd = None
            self._parent_wd = self._inotify.add_watch(self.directory.parent, _APPEARS)
            if self.directory.is_dir():  # created meanwhile
                self._arm()

    def changes(self) -> list[Change]:
        out: list[Change] = []
        for event in self._inotify.read(timeout=0):
            if event.mask & inotify_flags.Q_OVERFLOW:
                out.append(Change("", True))
            elif event.wd == self._wd and event.mask & _SELF_GONE:
                self._wd = None
                self._arm()
                out.append(Change("", True))
            elif event.wd == self._wd and event.name:
                out.append(Change(event.name, bool(event.mask & _APPEARS)))
            elif (event.wd == self._parent_wd and event.name == self.directory.name
                  and self._wd is None):
                self._arm()
                out.append(Change("", True))
        return out

    def close(self) -> None:
        self._inotify.close()


def subscribe(netns: str | None, protocol: int, groups: int) -> socket.socket:
    """A non-blocking netlink socket of `netns` joined to `groups`. OSError if the
    namespace cannot be entered (gone, or not mounted yet)."""
    with entered(netns):
        sock = socket.socket(socket.AF_NETLINK,
                             socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                             protocol)
    try:
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return high_fds.lift(sock)


def drain(sock: Signal) -> None:
    """Read and drop whatever is queued (a lost message, ENOBUFS, is a change too)."""
    while True:
        try:
            if not sock.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                return


def pidfd(pid: int) -> int:
    """A descriptor that becomes readable when `pid` exits (OSError if it has)."""
    return high_fds.lift_fd(os.pidfd_open(pid))
