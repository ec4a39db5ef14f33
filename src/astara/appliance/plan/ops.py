"""Netlink operations as values, produced by `plan.netlink` and run by `apply.netlink`.

Each op knows its inverse, so a partially applied plan can be rolled back by
running the inverses of the ops already done, in reverse order. Applying is
idempotent: adding what exists or deleting what is gone is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SetLink:
    ifname: str
    mtu: int
    up: bool
    old_mtu: int
    old_up: bool

    def inverse(self) -> SetLink:
        return SetLink(self.ifname, self.old_mtu, self.old_up, self.mtu, self.up)


@dataclass(frozen=True)
class AddAddress:
    ifname: str
    cidr: str

    def inverse(self) -> DelAddress:
        return DelAddress(self.ifname, self.cidr)


@dataclass(frozen=True)
class DelAddress:
    ifname: str
    cidr: str

    def inverse(self) -> AddAddress:
        return AddAddress(self.ifname, self.cidr)


@dataclass(frozen=True)
class AddRoute:
    destination: str
    gateway: str | None
    ifname: str | None = None

    def inverse(self) -> DelRoute:
        return DelRoute(self.destination, self.gateway, self.ifname)


@dataclass(frozen=True)
class DelRoute:
    destination: str
    gateway: str | None
    ifname: str | None = None

    def inverse(self) -> AddRoute:
        return AddRoute(self.destination, self.gateway, self.ifname)


@dataclass(frozen=True)
class AddNeighbour:
    """A PERMANENT entry (replacing any entry for ``ip`` on ``ifname``)."""

    ifname: str
    ip: str
    mac: str

    def inverse(self) -> DelNeighbour:
        return DelNeighbour(self.ifname, self.ip, self.mac)


@dataclass(frozen=True)
class DelNeighbour:
    ifname: str
    ip: str
    mac: str  # what it named, for the inverse

    def inverse(self) -> AddNeighbour:
        return AddNeighbour(self.ifname, self.ip, self.mac)


Op = SetLink | AddAddress | DelAddress | AddRoute | DelRoute | AddNeighbour | DelNeighbour

