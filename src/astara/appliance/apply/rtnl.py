"""Planned ops as pyroute2 rtnetlink messages, sent many at a time, one outcome each.

Used by `apply.netlink` (inside the appliance namespace). `message()` turns an op
into pyroute2's own message object (`ifinfmsg`, `ifaddrmsg`, `rtmsg`, `ndmsg`), encoded by
pyroute2. `send()` runs a list of them the way pyroute2's `nlm_request_batch`
does: every request is prepared on the `IPRoute` socket, they travel together
in one `send()` (the kernel runs them in order and acknowledges each), then
each acknowledgement is read. Unlike `nlm_request_batch`, a refused request
does not stop the reading: every request gets its `Outcome` (0 or an errno,
with the kernel's extended-ack text), so the caller knows exactly what was done
and can undo it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import NamedTuple

from pyroute2 import IPRoute
from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    nlmsg,
)
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nlsocket import NetlinkRequest
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELNEIGH,
    RTM_DELROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
)
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import NUD_PERMANENT, ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from astara.appliance.plan.ops import (
    AddAddress,
    AddNeighbour,
    AddRoute,
    DelAddress,
    DelNeighbour,
    DelRoute,
    Op,
    SetLink,
)

RT_TABLE_MAIN, RTPROT_STATIC, RTN_UNICAST = 254, 4, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_NOWHERE = 0, 255
CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL  # adding what exists: EEXIST
CHANGE = NLM_F_REQUEST | NLM_F_ACK
REPLACE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE  # `ip neigh replace`
CHUNK = 256  # requests per send(): their acks fit the socket's receive buffer


class Outcome(NamedTuple):
    errno: int  # 0: done
    message: str = ""  # the kernel's extended ack, if any


def _family(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def message(op: Op, index: int | None) -> nlmsg:
    """The request for `op`; `index` is its interface's (None for a route without one)."""
    if isinstance(op, SetLink):
        msg = ifinfmsg()
        msg["family"], msg["index"] = socket.AF_UNSPEC, index
        msg["flags"], msg["change"] = (IFF_UP if op.up else 0), IFF_UP
        msg["attrs"] = [("IFLA_MTU", op.mtu)]
        return _header(msg, RTM_NEWLINK, CHANGE)
    if isinstance(op, AddAddress | DelAddress):
        iface = ipaddress.ip_interface(op.cidr)
        msg = ifaddrmsg()
        msg["family"], msg["prefixlen"] = _family(iface.ip), iface.network.prefixlen
        msg["flags"], msg["scope"], msg["index"] = IFA_F_NODAD, RT_SCOPE_UNIVERSE, index
        attrs = [("IFA_ADDRESS", str(iface.ip))]
        if iface.version == 4:
            attrs.append(("IFA_LOCAL", str(iface.ip)))
        msg["attrs"] = [*attrs, ("IFA_FLAGS", IFA_F_NODAD)]
        adding = isinstance(op, AddAddress)
        return _header(msg, RTM_NEWADDR if adding else RTM_DELADDR, CREATE if adding else CHANGE)
    if isinstance(op, AddNeighbour | DelNeighbour):
        ip = ipaddress.ip_address(op.ip)
        msg = ndmsg()
        msg["family"], msg["ifindex"] = _family(ip), index
        msg["state"] = NUD_PERMANENT
        if isinstance(op, DelNeighbour):
            msg["attrs"] = [("NDA_DST", str(ip))]
            return _header(msg, RTM_DELNEIGH, CHANGE)
        msg["attrs"] = [("NDA_DST", str(ip)), ("NDA_LLADDR", op.mac)]
        return _header(msg, RTM_NEWNEIGH, REPLACE)
    assert isinstance(op, AddRoute | DelRoute)
    adding = isinstance(op, AddRoute)
    net = ipaddress.ip_network(op.destination)
    msg = rtmsg()
    msg["family"], msg["dst_len"] = _family(net.network_address), net.prefixlen
    msg["table"], msg["proto"] = RT_TABLE_MAIN, RTPROT_STATIC
    # deleting matches any scope and type, as `ip route del` does
    msg["scope"] = RT_SCOPE_UNIVERSE if adding else RT_SCOPE_NOWHERE
    msg["type"] = RTN_UNICAST if adding else 0
    attrs: list[tuple[str, object]] = []
    if net.prefixlen:
        attrs.append(("RTA_DST", str(net.network_address)))
    if op.gateway:
        attrs.append(("RTA_GATEWAY", op.gateway))
    if index is not None:
        attrs.append(("RTA_OIF", index))
    msg["attrs"] = attrs
    return _header(msg, RTM_NEWROUTE if adding else RTM_DELROUTE, CREATE if adding else CHANGE)


def _header(msg: nlmsg, kind: int, flags: int) -> nlmsg:
    msg["header"]["type"], msg["header"]["flags"] = kind, flags
    return msg


async def _send_chunk(sock, messages: list[nlmsg]) -> list[Outcome]:
    requests, data = [], bytearray()
    for msg in messages:
        request = NetlinkRequest(sock, msg)
        await request.prepare()
        data += request.msg.data
        requests.append(request)
    try:
        sock.send(bytes(data))
    except BaseException:
        for request in requests:
            request.cleanup()
        raise
    outcomes = []
    for request in requests:  # response() frees each request's sequence number
        try:
            async for _ack in request.response():
                pass
            outcomes.append(Outcome(0))
        except NetlinkError as exc:
            text = exc.args[1] if len(exc.args) > 1 else ""
            outcomes.append(Outcome(exc.code, "" if text == os.strerror(exc.code) else text))
    return outcomes


def send(ipr: IPRoute, messages: list[nlmsg]) -> list[Outcome]:
    """Run `messages` in order on `ipr`'s socket; one outcome each, in the same order."""
    core = ipr.asyncore
    outcomes: list[Outcome] = []
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start:start + CHUNK]
        outcomes += core.event_loop.run_until_complete(_send_chunk(core, chunk))
    return outcomes
