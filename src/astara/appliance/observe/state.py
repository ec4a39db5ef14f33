"""Plain records of what exists in the namespace, as the planner sees it.

Filled by `observe.netlink` (a netlink dump) or by `apply.fakes` in unit tests, and
consumed by `plan.netlink.diff`. Only what the agent manages is recorded: links,
global addresses, the routes it installs (protocol "static") and PERMANENT
neighbour entries (the ones it pins, and the compute agent's on the management link).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Link:
    index: int
    ifname: str
    mac_address: str
    mtu: int
    up: bool
    rx_bytes: int = 0
    rx_packets: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0


@dataclass(frozen=True)
class Address:
    ifname: str
    cidr: str  # "192.0.2.1/24" (the host address with its prefix length)


@dataclass(frozen=True)
class Route:
    destination: str  # "0.0.0.0/0", "10.0.0.0/8", "::/0"
    gateway: str | None
    ifname: str | None = None


@dataclass(frozen=True)
class Neighbour:
    ifname: str
    ip: str  # canonical ("fd00::5", "10.0.0.5")
    mac: str  # lower case


@dataclass(frozen=True)
class NetState:
    links: tuple[Link, ...] = ()
    addresses: frozenset[Address] = field(default_factory=frozenset)
    routes: frozenset[Route] = field(default_factory=frozenset)
    neighbours: frozenset[Neighbour] = field(default_factory=frozenset)  # PERMANENT only

    def link_by_mac(self, mac: str) -> Link | None:
        return next((link for link in self.links if link.mac_address == mac), None)

    def link(self, ifname: str) -> Link | None:
        return next((link for link in self.links if link.ifname == ifname), None)
