"""Netlink port: observe the namespace and run planned ops as one batch.

`Netlink` is the Protocol `converge` uses; `RtnlNetlink` is the real one and must
be created and used inside the appliance namespace (see `apply.netns`); it reads
with `observe.netlink` and writes with `apply.rtnl` (every op of a plan in one
netlink batch, each acknowledged). `apply.fakes.FakeNetlink` is its in-memory
twin for unit tests. Ops are idempotent: adding what exists or deleting what is
gone succeeds.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import Protocol

from astara.appliance.apply import rtnl
from astara.appliance.apply.errors import CommandFailed
from astara.appliance.observe import netlink as reader
from astara.appliance.observe.state import NetState
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute, Op, SetLink

_ALREADY = {errno.EEXIST}
_GONE = {errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV}


class Netlink(Protocol):
    def observe(self) -> NetState: ...

    def run(self, ops: Sequence[Op], done: list[Op]) -> None:
        """Run `ops` in order; append each op that took effect to `done` (for rollback);
        raise (an `ApplyError` or `OSError`) if any failed."""

    def close(self) -> None: ...


def ok(op: Op, code: int) -> bool:
    """An op's outcome is success, idempotently: adding what exists, deleting what is gone."""
    if code == 0:
        return True
    adding = isinstance(op, AddAddress | AddRoute)
    return (code in _ALREADY and adding) or (code in _GONE and not adding)


class RtnlNetlink:
    def __init__(self) -> None:
        self._rtnl = rtnl.Rtnl()
        self._index: dict[str, int] = {}

    def observe(self) -> NetState:
        state = reader.observe()
        self._index = {link.ifname: link.index for link in state.links}
        return state

    def _idx(self, ifname: str) -> int:
        if ifname not in self._index:
            self._index[ifname] = socket.if_nametoindex(ifname)
        return self._index[ifname]

    def request(self, op: Op) -> rtnl.Request:
        if isinstance(op, SetLink):
            return rtnl.set_link(self._idx(op.ifname), op.mtu, op.up)
        if isinstance(op, AddAddress | DelAddress):
            iface = ipaddress.ip_interface(op.cidr)
            return rtnl.address(isinstance(op, AddAddress), self._idx(op.ifname),
                                iface.ip.packed, iface.network.prefixlen)
        assert isinstance(op, AddRoute | DelRoute)
        net = ipaddress.ip_network(op.destination)
        gateway = ipaddress.ip_address(op.gateway).packed if op.gateway else None
        return rtnl.route(isinstance(op, AddRoute), net.network_address.packed, net.prefixlen,
                          gateway, self._idx(op.ifname) if op.ifname else None)

    def run(self, ops: Sequence[Op], done: list[Op]) -> None:
        failures = []
        try:
            requests = [self.request(op) for op in ops]
        except OSError as exc:  # an interface name that does not exist
            raise CommandFailed(f"netlink: {exc}") from exc
        for op, outcome in zip(ops, self._rtnl.send(requests), strict=True):
            if ok(op, outcome.errno):
                done.append(op)
            else:
                detail = f" ({outcome.message})" if outcome.message else ""
                failures.append(f"{op}: {os.strerror(outcome.errno)}{detail}")
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise CommandFailed(f"netlink refused {failures[0]}{more}")

    def close(self) -> None:
        self._rtnl.close()
