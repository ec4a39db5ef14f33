"""Read links, addresses and static routes of the current namespace through pyroute2.

Called by `apply.netlink.IPRouteNetlink.observe` (inside the appliance namespace,
on its `IPRoute`) to produce the `NetState` the planner diffs against, and by
`discovery` (which opens its own `IPRoute`). Four dumps: links, addresses, the
main table's "static" routes and the PERMANENT neighbour entries; pyroute2
decodes, this module keeps only the fields the planner and the status document use.
"""

from __future__ import annotations

import socket

from pyroute2 import IPRoute
from pyroute2.netlink import nlmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from astara.appliance.observe.state import Address, Link, Neighbour, NetState, Route

RT_TABLE_MAIN, RTPROT_STATIC = 254, 4
RT_SCOPE_LINK = 253  # link and host scopes belong to the kernel
NUD_PERMANENT = 0x80


def open_iproute() -> IPRoute:
    """An rtnetlink socket in the current thread's namespace: no multicast groups
    (nothing is queued behind our back), extended acks (the kernel's error text)."""
    return IPRoute(groups=0, ext_ack=True)


def _link(msg: nlmsg) -> Link:
    stats = msg.get("IFLA_STATS64") or {}
    return Link(
        index=msg["index"],
        ifname=msg.get("IFLA_IFNAME"),
        mac_address=msg.get("IFLA_ADDRESS") or "",
        mtu=msg.get("IFLA_MTU"),
        up=bool(msg["flags"] & IFF_UP),
        rx_packets=stats.get("rx_packets", 0), tx_packets=stats.get("tx_packets", 0),
        rx_bytes=stats.get("rx_bytes", 0), tx_bytes=stats.get("tx_bytes", 0),
    )


def links(ipr: IPRoute) -> tuple[Link, ...]:
    return tuple(_link(msg) for msg in ipr.get_links())


def addresses(ipr: IPRoute, names: dict[int, str]) -> frozenset[Address]:
    out = set()
    for msg in ipr.get_addr():
        if msg["scope"] >= RT_SCOPE_LINK or msg["index"] not in names:
            continue
        ip = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
        if ip:
            out.add(Address(names[msg["index"]], f"{ip}/{msg['prefixlen']}"))
    return frozenset(out)


def static_routes(ipr: IPRoute, names: dict[int, str]) -> frozenset[Route]:
    out = set()
    for msg in ipr.get_routes(table=RT_TABLE_MAIN, proto=RTPROT_STATIC):
        if msg["family"] not in (socket.AF_INET, socket.AF_INET6):
            continue
        default = "0.0.0.0" if msg["family"] == socket.AF_INET else "::"
        dst = msg.get("RTA_DST") or default
        oif = msg.get("RTA_OIF")
        out.add(Route(f"{dst}/{msg['dst_len']}", msg.get("RTA_GATEWAY"),
                      names.get(oif) if oif else None))
    return frozenset(out)


def permanent_neighbours(ipr: IPRoute, names: dict[int, str]) -> frozenset[Neighbour]:
    out = set()
    for msg in ipr.get_neighbours():
        if not msg["state"] & NUD_PERMANENT or msg["ifindex"] not in names:
            continue
        ip, mac = msg.get("NDA_DST"), msg.get("NDA_LLADDR")
        if ip and mac:
            out.add(Neighbour(names[msg["ifindex"]], ip, mac.lower()))
    return frozenset(out)


def observe(ipr: IPRoute | None = None) -> NetState:
    """Dump the namespace of `ipr` (default: a socket opened in the current thread's)."""
    own = ipr is None
    ipr = open_iproute() if ipr is None else ipr
    try:
        found = links(ipr)
        names = {link.index: link.ifname for link in found}
        return NetState(found, addresses(ipr, names), static_routes(ipr, names),
                        permanent_neighbours(ipr, names))
    finally:
        if own:
            ipr.close()
