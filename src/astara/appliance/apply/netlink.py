"""Netlink port: observe the namespace and run planned ops as one batch.

`Netlink` is the Protocol `converge` uses; `IPRouteNetlink` is the real one, on
pyroute2, and must be created and used inside the appliance namespace (see
`apply.netns`); it reads with `observe.netlink` (its own short-lived socket)
and writes with `apply.rtnl` (every op of a plan in one netlink batch, each
acknowledged) on a pyroute2 `IPRoute`, opened by the first write only: an
observation alone (a status, a restarted agent's check) costs no pyroute2 socket.
`apply.fakes.FakeNetlink` is its in-memory twin for unit tests. Ops are
idempotent: adding what exists or deleting what is gone succeeds.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import Protocol

from pyroute2 import IPRoute
from pyroute2.netlink import nlmsg

from astara.appliance.apply import rtnl
from astara.appliance.apply.errors import CommandFailed
from astara.appliance.observe import netlink as reader
from astara.appliance.observe.state import NetState
from astara.appliance.plan.ops import AddAddress, AddNeighbour, AddRoute, Op

_ALREADY = {errno.EEXIST}
_GONE = {errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV}


class Netlink(Protocol):
    def observe(self, full: bool = True) -> NetState:
        """The namespace; with `full` False, its links and addresses only (what a
        status shows): no routes, no neighbours."""

    def run(self, ops: Sequence[Op], done: list[Op]) -> None:
        """Run `ops` in order; append each op that took effect to `done` (for rollback;
        not one that found its address or route there, or gone, already); raise (an
        `ApplyError` or `OSError`) if any failed."""

    def close(self) -> None: ...


def open_iproute() -> IPRoute:
    """An rtnetlink socket in the current thread's namespace: no multicast groups
    (nothing is queued behind our back), extended acks (the kernel's error text)."""
    return IPRoute(groups=0, ext_ack=True)


def ok(op: Op, code: int) -> bool:
    """An op's outcome is success, idempotently: adding what exists, deleting what is gone."""
    if code == 0:
        return True
    adding = isinstance(op, AddAddress | AddRoute | AddNeighbour)
    return (code in _ALREADY and adding) or (code in _GONE and not adding)


class IPRouteNetlink:
    """The real port, created and used by one thread in the namespace it observes and
    changes (see `apply.netns.entered`); its pyroute2 `IPRoute` is opened there too,
    by the first write."""

    def __init__(self) -> None:
        self._ipr: IPRoute | None = None
        self._index: dict[str, int] = {}

    @property
    def ipr(self) -> IPRoute:
        if self._ipr is None:
            self._ipr = open_iproute()
        return self._ipr

    def observe(self, full: bool = True) -> NetState:
        state = reader.observe(full)
        self._index = {link.ifname: link.index for link in state.links}
        return state

    def _idx(self, ifname: str) -> int:
        if ifname not in self._index:
            found = self.ipr.link_lookup(ifname=ifname)
            if not found:
                raise CommandFailed(f"netlink: no interface {ifname}")
            self._index[ifname] = found[0]
        return self._index[ifname]

    def message(self, op: Op) -> nlmsg:
        ifname = op.ifname
        return rtnl.message(op, self._idx(ifname) if ifname else None)

    def run(self, ops: Sequence[Op], done: list[Op]) -> None:
        if not ops:
            return
        messages = [self.message(op) for op in ops]
        failures = []
        for op, outcome in zip(ops, rtnl.send(self.ipr, messages), strict=True):
            if outcome.errno == 0:
                done.append(op)
            elif not ok(op, outcome.errno):  # else it was there (or gone) already
                detail = f" ({outcome.message})" if outcome.message else ""
                failures.append(f"{op}: {os.strerror(outcome.errno)}{detail}")
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise CommandFailed(f"netlink refused {failures[0]}{more}")

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
