"""One interface of the current namespace, cheaply: its MAC, whether it is up, its addresses.

Used by `discovery` (is the management interface there, with an address?) and by
`host` (is it up with that address already?), once per namespace event: the
C library's getifaddrs (through psutil) and one ioctl for the interface asked
about, a fraction of a millisecond, less than the four dumps of `observe.netlink`.
Like every socket here, both work in the namespace of the calling thread.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Collection
from dataclasses import dataclass

import psutil

SIOCGIFFLAGS, IFF_UP = 0x8913, 0x1
_IFREQ = "16sH14x"


@dataclass(frozen=True)
class Interface:
    mac_address: str
    up: bool
    addresses: tuple[str, ...]  # global ones, "address/prefixlen", sorted


def _prefixlen(netmask: str | None, version: int) -> int:
    if not netmask:
        return 128 if version == 6 else 32
    return bin(int(ipaddress.ip_address(netmask))).count("1")


def _is_up(ifname: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, ifname.encode(), 0)
        return bool(struct.unpack(_IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1] & IFF_UP)


def _mac(entries: list) -> str:
    return next((e.address for e in entries if e.family == psutil.AF_LINK), "")


def _global(entries: list) -> tuple[str, ...]:
    cidrs = []
    for entry in entries:
        if entry.family in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(entry.address.split("%")[0])
            if not (ip.is_link_local or ip.is_loopback):
                cidrs.append(f"{ip}/{_prefixlen(entry.netmask, ip.version)}")
    return tuple(sorted(cidrs))


def interfaces(names: Collection[str] | None = None) -> dict[str, Interface]:
    """The interfaces of the current namespace named in `names` (default: all), by name."""
    out = {}
    for ifname, entries in psutil.net_if_addrs().items():
        if names is not None and ifname not in names:
            continue  # an ioctl each: only for the ones asked about
        try:
            up = _is_up(ifname)
        except OSError:  # gone meanwhile
            continue
        out[ifname] = Interface(_mac(entries), up, _global(entries))
    return out


def ready(mac: str, cidr: str) -> bool:
    """Is the interface with `mac` up, with `cidr` on it?"""
    for ifname, entries in psutil.net_if_addrs().items():
        if _mac(entries) == mac and cidr in _global(entries):  # the others: not parsed
            try:
                if _is_up(ifname):
                    return True
            except OSError:  # gone meanwhile
                continue
    return False
