"""What wakes the host agent: a namespace appears, a namespace's stack or a process changes.

Used by `discovery` (a new namespace, a management address added) and `host` (a
served appliance's cached status is stale). Three kernel sources, each a file
descriptor the event loop watches (`loop.add_reader`), so nothing is polled:

- `DirectoryWatch`: inotify on the namespace directory (`ip netns add` creates a
  file there, `ip netns del` removes it); until the directory exists, on its parent.
- `AllNamespaces`: one netlink socket of the agent's own namespace joined to
  multicast groups, links and addresses (`ROUTE_GROUPS`) or nftables changes
  (`NFTABLES_GROUP`), that also hears every namespace the agent's has an id for
  (`nsid()`) and says which ones spoke (`heard()`). One per protocol for a whole
  host, not one per appliance: the kernel walks every socket joined to a group, in
  whatever namespace, for each change it announces in any (docs/appliance.md).
- `subscribe()`: a netlink socket opened *inside* one namespace and joined to those
  groups (VM mode, a namespace not served yet, or a kernel that gives no id). Its
  messages are only a signal: `drain()` throws them away, the caller looks again.
- `pidfd()`: readable once the process has exited (dnsmasq).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from astara.appliance import high_fds
from astara.appliance.apply.netns import NETNS_RUN_DIR, entered
from astara.common import netlink_dump

NETLINK_ROUTE, NETLINK_NETFILTER = 0, 12
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
ROUTE_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
NFNLGRP_NFTABLES = 7
NFTABLES_GROUP = 1 << (NFNLGRP_NFTABLES - 1)
SOL_NETLINK, NETLINK_LISTEN_ALL_NSID = 270, 8
SO_RCVBUFFORCE = 33  # not in the socket module
NSID_NOT_ASSIGNED = -1
RTM_NEWNSID, RTM_GETNSID = 88, 90
NETNSA_NSID, NETNSA_FD = 1, 3
_RTGEN = struct.Struct("=B3x")  # struct rtgenmsg, padded to 4
_ATTR_U32, _ATTR_S32, _S32 = struct.Struct("=HHI"), struct.Struct("=HHi"), struct.Struct("=i")
# Every namespace's changes queue here: room for a thousand appliances' first pushes
# at once (a lost message only costs every kept status answer, see `heard`).
ALL_RCVBUF = 8 << 20
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


class AllNamespaces:
    """A non-blocking netlink socket of this process's namespace joined to `groups`,
    which also hears every namespace this one has an id for (NETLINK_LISTEN_ALL_NSID:
    each message from another namespace carries that id). OSError if the kernel
    refuses."""

    def __init__(self, protocol: int, groups: int, rcvbuf: int = ALL_RCVBUF) -> None:
        sock = socket.socket(socket.AF_NETLINK,
                             socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                             protocol)
        try:
            sock.setsockopt(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, 1)
            try:  # root may go past net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((0, groups))
        except BaseException:
            sock.close()
            raise
        self._sock = high_fds.lift(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def heard(self) -> set[int] | None:
        """Drain what is queued: the ids of the namespaces it came from (this one's
        own changes carry none and are left out), or None if some were lost (ENOBUFS):
        then any namespace may have changed."""
        out: set[int] = set()
        lost = False
        while True:
            try:
                data, ancillary, _, _ = self._sock.recvmsg(65536, socket.CMSG_SPACE(4))
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    break
                lost = True
                continue
            if not data:
                break
            for level, kind, value in ancillary:
                if level == SOL_NETLINK and kind == NETLINK_LISTEN_ALL_NSID and len(value) >= 4:
                    out.add(int.from_bytes(value[:4], sys.byteorder, signed=True))
        return None if lost else out

    def close(self) -> None:
        self._sock.close()


def _ids_body(fd: int, nsid: int | None = None) -> bytes:
    """An RTM_{GET,NEW}NSID body: rtgenmsg (AF_UNSPEC, padded), the namespace's file
    descriptor, and for a NEW the id wanted (-1: any)."""
    body = _RTGEN.pack(socket.AF_UNSPEC) + _ATTR_U32.pack(8, NETNSA_FD, fd)
    return body if nsid is None else body + _ATTR_S32.pack(8, NETNSA_NSID, nsid)


def _asked_id(sock: netlink_dump.Socket, fd: int) -> int | None:
    reply = sock.get(RTM_GETNSID, _ids_body(fd))
    raw = netlink_dump.attributes(reply.payload, _RTGEN.size,
                                  frozenset({NETNSA_NSID})).get(NETNSA_NSID)
    if raw is None or len(raw) < 4:
        return None
    (found,) = _S32.unpack_from(raw)
    return None if found == NSID_NOT_ASSIGNED else found


def nsid(netns: str) -> int:
    """The id the calling thread's namespace has for `netns` (a name under /run/netns),
    given one by the kernel if it has none yet (what `ip netns set NAME auto` does); it
    is what `AllNamespaces.heard` reports for it. OSError if there is none to be had
    (EINVAL: `netns` is not a mounted namespace yet). One request on a plain netlink
    socket, three the first time (a pyroute2 `IPRoute` per appliance cost ~0.6 ms of a
    restarted agent's ~5 ms look at it)."""
    fd = os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        with netlink_dump.Socket(NETLINK_ROUTE) as sock:
            found = _asked_id(sock, fd)
            if found is None:
                try:
                    sock.request(RTM_NEWNSID, 0, _ids_body(fd, NSID_NOT_ASSIGNED))
                except OSError as exc:
                    if exc.errno != errno.EEXIST:  # else given one meanwhile
                        raise OSError(exc.errno, f"no id for namespace {netns}: {exc}") \
                            from None
                found = _asked_id(sock, fd)
    finally:
        os.close(fd)
    if found is None:
        raise OSError(errno.ENOENT, f"no id for namespace {netns}")
    return found


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
