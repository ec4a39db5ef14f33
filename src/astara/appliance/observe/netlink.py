"""Read links, addresses, static routes and pinned neighbours of the current namespace.

Called by `apply.netlink.IPRouteNetlink.observe` (inside the appliance namespace)
to produce the `NetState` the planner diffs against, the status document reads
and a restarted agent checks its record with. Four rtnetlink dumps on one
short-lived socket (`common.netlink_dump`): links, addresses, the main table's "static"
routes and the PERMANENT neighbour entries; each reply is parsed with `struct`
(the `parse_*` functions, pure) and only the fields the planner and the status
document use are kept. Writes stay with pyroute2 (`apply.rtnl`).
"""

from __future__ import annotations

import socket
import struct

from astara.appliance.observe.state import Address, Link, Neighbour, NetState, Route
from astara.common import netlink_dump as dump
from astara.common.rtnetlink import (
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDRMSG,
    IFF_UP,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_MTU,
    IFLA_STATS64,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NETLINK_ROUTE,
    NUD_PERMANENT,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
)

_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_STATS64))
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTPROT_STATIC = 254, 4
RT_SCOPE_LINK = 253  # link and host scopes belong to the kernel

RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_STATS = struct.Struct("=QQQQ")  # rtnl_link_stats64 opens with rx/tx packets, rx/tx bytes
_U32 = struct.Struct("=I")
_FAMILIES = {socket.AF_INET: 4, socket.AF_INET6: 16}  # address length


def _ip(family: int, value: bytes) -> str:
    return socket.inet_ntop(family, value)


def parse_link(payload: bytes) -> Link:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    attrs = dump.attributes(payload, IFINFOMSG.size, _LINK_ATTRS)
    rx_packets = tx_packets = rx_bytes = tx_bytes = 0
    if (stats := attrs.get(IFLA_STATS64)) is not None and len(stats) >= _STATS.size:
        rx_packets, tx_packets, rx_bytes, tx_bytes = _STATS.unpack_from(stats)
    mtu = attrs.get(IFLA_MTU)
    return Link(index=index, ifname=dump.string(attrs.get(IFLA_IFNAME, b"")),
                mac_address=attrs.get(IFLA_ADDRESS, b"").hex(":"),
                mtu=_U32.unpack(mtu)[0] if mtu and len(mtu) == 4 else 0,
                up=bool(flags & IFF_UP), rx_bytes=rx_bytes, rx_packets=rx_packets,
                tx_bytes=tx_bytes, tx_packets=tx_packets)


def parse_address(payload: bytes, names: dict[int, str]) -> Address | None:
    family, prefixlen, _flags, scope, index = IFADDRMSG.unpack_from(payload)
    if scope >= RT_SCOPE_LINK or index not in names or family not in _FAMILIES:
        return None
    attrs = dump.attributes(payload, IFADDRMSG.size)
    ip = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if not ip or len(ip) != _FAMILIES[family]:
        return None
    return Address(names[index], f"{_ip(family, ip)}/{prefixlen}")


def parse_static_route(payload: bytes, names: dict[int, str]) -> Route | None:
    family, dst_len, _src, _tos, table, proto, _scope, _type, _flags = RTMSG.unpack_from(payload)
    if family not in _FAMILIES or proto != RTPROT_STATIC:
        return None
    attrs = dump.attributes(payload, RTMSG.size)
    if (full := attrs.get(RTA_TABLE)) is not None and len(full) == 4:
        table = _U32.unpack(full)[0]
    if table != RT_TABLE_MAIN:
        return None
    dst = attrs.get(RTA_DST)
    gateway = attrs.get(RTA_GATEWAY)
    oif = attrs.get(RTA_OIF)
    oif_index = _U32.unpack(oif)[0] if oif and len(oif) == 4 else 0
    return Route(f"{_ip(family, dst) if dst else ('0.0.0.0' if family == socket.AF_INET else '::')}"
                 f"/{dst_len}", _ip(family, gateway) if gateway else None,
                 names.get(oif_index) if oif_index else None)


def parse_permanent_neighbour(payload: bytes, names: dict[int, str]) -> Neighbour | None:
    family, ifindex, state, _flags, _type = NDMSG.unpack_from(payload)
    if not state & NUD_PERMANENT or ifindex not in names or family not in _FAMILIES:
        return None
    attrs = dump.attributes(payload, NDMSG.size)
    ip, mac = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
    if not ip or not mac or len(ip) != _FAMILIES[family]:
        return None
    return Neighbour(names[ifindex], _ip(family, ip), mac.hex(":"))


def _payloads(sock: dump.Socket, request: int, header: struct.Struct, reply: int) -> list[bytes]:
    return [m.payload for m in sock.dump(request, bytes(header.size)) if m.type == reply]


def observe(full: bool = True) -> NetState:
    """Dump the namespace of the calling thread (without `full`: links and addresses)."""
    with dump.Socket(NETLINK_ROUTE) as sock:
        links = tuple(parse_link(p) for p in _payloads(sock, RTM_GETLINK, IFINFOMSG,
                                                       RTM_NEWLINK))
        names = {link.index: link.ifname for link in links}
        addresses = frozenset(
            a for p in _payloads(sock, RTM_GETADDR, IFADDRMSG, RTM_NEWADDR)
            if (a := parse_address(p, names)) is not None)
        if not full:
            return NetState(links, addresses)
        routes = frozenset(
            r for p in _payloads(sock, RTM_GETROUTE, RTMSG, RTM_NEWROUTE)
            if (r := parse_static_route(p, names)) is not None)
        pins = frozenset(
            n for p in _payloads(sock, RTM_GETNEIGH, NDMSG, RTM_NEWNEIGH)
            if (n := parse_permanent_neighbour(p, names)) is not None)
    return NetState(links, addresses, routes, pins)
