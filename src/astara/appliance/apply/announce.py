"""Announce addresses an appliance took over: gratuitous ARP, unsolicited IPv6 NA.

Sent on a raw `AF_PACKET` socket opened in the appliance's namespace (the calling
thread's, see `apply.netns.entered`) and bound to the interface: no external program
(`arping` would be one process per address and per namespace entry, and a package to
install), nothing in the frame the kernel would rewrite, and a socket keeps its
namespace, so the later copies are sent from a timer thread outside it. The first
copy goes at once, during the apply (microseconds); the others `interval` seconds
apart, from one thread shared by every appliance of the agent, so a converge never
waits. Failures are logged, never raised: an announcement only hurries neighbours.

IPv4: an ARP request with sender and target both the address (RFC 5227's
announcement), broadcast; Linux neighbours update an existing entry from it whatever
their `arp_accept`. IPv6: a neighbour advertisement to all nodes with the override
flag and the target's link-layer address (RFC 4861 7.2.6).
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence

from astara.appliance import high_fds
from astara.appliance.plan.announce import Announcement
from astara.common import netns

LOG = logging.getLogger(__name__)
ETH_P_ARP, ETH_P_IPV6 = 0x0806, 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
# Two copies: the second catches a first one dropped (a bridge's backlog at scale, see
# docs/compute.md), a third would only add broadcasts on a shared external bridge.
COUNT, INTERVAL = 2, 1.0


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def arp_announcement(mac: str, ip: str) -> bytes:
    """Ethernet frame of a gratuitous ARP request for `ip` from `mac`."""
    src, addr = _mac(mac), ipaddress.IPv4Address(ip).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src, addr, b"\0" * 6, addr)
    return BROADCAST + src + struct.pack("!H", ETH_P_ARP) + arp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def neighbour_advertisement(mac: str, ip: str) -> bytes:
    """Ethernet frame of an unsolicited NA (router, override) for `ip` from `mac`, to
    ff02::1."""
    src, target = _mac(mac), ipaddress.IPv6Address(ip).packed
    # Router and override flags: both kinds of appliance forward, as their kernel says
    # when it answers; without R a neighbour would stop using them as a router.
    body = struct.pack("!BBHI16sBB6s", 136, 0, 0, 0xA0000000, target, 2, 1, src)
    pseudo = target + ALL_NODES.packed + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", _checksum(pseudo + body)) + body[4:]
    header = struct.pack("!IHBB16s16s", 6 << 28, len(body), 58, 255, target, ALL_NODES.packed)
    return b"\x33\x33\x00\x00\x00\x01" + src + struct.pack("!H", ETH_P_IPV6) + header + body


def frame(item: Announcement) -> bytes:
    if ipaddress.ip_address(item.ip).version == 4:
        return arp_announcement(item.mac, item.ip)
    return neighbour_advertisement(item.mac, item.ip)


def open_socket(ifname: str) -> socket.socket:
    """A raw socket on `ifname` of the current thread's namespace (sending only)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.bind((ifname, 0))
    except BaseException:
        sock.close()
        raise
    # Held up to `interval` s: off the low numbers libnftables needs (`high_fds`).
    return high_fds.lift(sock)


class Announcer:
    """Sends each announcement `count` times, `interval` s apart; the first at once."""

    def __init__(self, count: int = COUNT, interval: float = INTERVAL,
                 opener: Callable[[str], socket.socket] = open_socket,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True) -> None:
        self.count, self.interval, self.opener, self.clock = count, interval, opener, clock
        self.threaded = threaded
        self._due: list[tuple[float, int, socket.socket, tuple[bytes, ...], int]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # The namespace it is made in (the agent's): the timer thread is started by a
        # first use inside an appliance's namespace and would inherit it, holding a
        # deleted appliance's namespace alive, so it goes back here first.
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC) \
            if threaded else None

    def __call__(self, items: Sequence[Announcement]) -> None:
        """Announce `items` (called in the appliance's namespace)."""
        by_if: dict[str, list[bytes]] = {}
        for item in items:
            by_if.setdefault(item.ifname, []).append(frame(item))
        for ifname, frames in by_if.items():
            try:
                sock = self.opener(ifname)
            except OSError as exc:
                LOG.warning("cannot announce addresses on %s: %s", ifname, exc)
                continue
            self._send(sock, tuple(frames), self.count)

    def _send(self, sock: socket.socket, frames: tuple[bytes, ...], left: int) -> None:
        for data in frames:
            try:
                sock.send(data)
            except OSError as exc:  # the link went down or away: the next ones too
                LOG.warning("announcement not sent: %s", exc)
                left = 1
                break
        if left <= 1:
            sock.close()
            return
        with self._cond:
            heapq.heappush(self._due, (self.clock() + self.interval, next(self._order), sock,
                                       frames, left - 1))
            if self.threaded and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="announce",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def tick(self) -> float | None:
        """Send what is due; the seconds until the next is (None: nothing pending)."""
        while True:
            with self._cond:
                if not self._due:
                    return None
                wait = self._due[0][0] - self.clock()
                if wait > 0:
                    return wait
                _, _, sock, frames, left = heapq.heappop(self._due)
            self._send(sock, frames, left)

    def _run(self) -> None:
        if self._home is not None:
            netns.enter_fd(self._home)
        while True:
            wait = self.tick()
            with self._cond:
                if wait is None and not self._due:
                    self._cond.wait()
                elif wait is not None:
                    self._cond.wait(wait)
