"""Netlink port: observe the namespace and run planned ops.

`Netlink` is the Protocol `converge` uses; `PyRoute2Netlink` is the real one and
must be created and used inside the appliance namespace (see `apply.netns`);
`apply.fakes.FakeNetlink` is its in-memory twin for unit tests. Ops are idempotent:
adding what exists or deleting what is gone succeeds.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import Protocol

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from astara.appliance.observe import netlink as reader
from astara.appliance.observe.state import NetState
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, Op, SetLink

IFA_F_NODAD = 0x02
_ALREADY = {errno.EEXIST}
_GONE = {errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV}


class Netlink(Protocol):
    def observe(self) -> NetState: ...

    def run(self, op: Op) -> None: ...

    def close(self) -> None: ...


class PyRoute2Netlink:
    def __init__(self) -> None:
        self._ipr = IPRoute()
        self._index: dict[str, int] = {}

    def observe(self) -> NetState:
        state = reader.observe()
        self._index = {link.ifname: link.index for link in state.links}
        return state

    def _idx(self, ifname: str) -> int:
        if ifname not in self._index:
            self._index = {link.ifname: link.index for link in reader.observe().links}
        return self._index[ifname]

    def run(self, op: Op) -> None:
        try:
            self._run(op)
        except NetlinkError as exc:
            adding = isinstance(op, AddAddress | AddRoute)
            if (exc.code in _ALREADY and adding) or (exc.code in _GONE and not adding):
                return
            raise

    def _run(self, op: Op) -> None:
        if isinstance(op, SetLink):
            self._ipr.link("set", index=self._idx(op.ifname), mtu=op.mtu,
                           state="up" if op.up else "down")
        elif isinstance(op, AddAddress | DelAddress):
            iface = ipaddress.ip_interface(op.cidr)
            self._ipr.addr("add" if isinstance(op, AddAddress) else "del",
                           index=self._idx(op.ifname), address=str(iface.ip),
                           prefixlen=iface.network.prefixlen, flags=IFA_F_NODAD)
        else:
            net = ipaddress.ip_network(op.destination)
            kw = {"dst": str(net.network_address), "dst_len": net.prefixlen,
                  "family": 10 if net.version == 6 else 2, "proto": 4}
            if op.gateway:
                kw["gateway"] = op.gateway
            if op.ifname:
                kw["oif"] = self._idx(op.ifname)
            self._ipr.route("add" if isinstance(op, AddRoute) else "del", **kw)

    def close(self) -> None:
        self._ipr.close()
