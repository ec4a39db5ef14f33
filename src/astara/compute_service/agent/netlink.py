"""A namespace's links and PERMANENT neighbours, read in this process.

The periodic reconcile looks at every namespace of the host: one ``ip`` process per
namespace cost a few milliseconds of CPU each, seconds per pass at a thousand
appliances, taken from the creates running beside it. Entering the namespace in
this thread and reading two rtnetlink dumps takes a fraction of a millisecond. The
dicts carry the fields of ``ip -j`` output the backend reads (links: ``ifname``,
``address``, ``flags``, ``link_index``; neighbours: ``dst``, ``lladdr``, ``dev``,
``state``), so the pure functions of ``agent.neighbours`` take either.
"""

from __future__ import annotations

import socket
import struct

from astara.common import netlink_dump as dump
from astara.common.netns import entered
from astara.common.rtnetlink import (
    IFF_LOWER_UP,
    IFF_UP,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_LINK,
    NDA_DST,
    NDA_LLADDR,
    NDMSG,
    NETLINK_ROUTE,
    NUD_PERMANENT,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
)

_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_LINK))
_U32 = struct.Struct("=I")
_LENGTHS = {socket.AF_INET: 4, socket.AF_INET6: 16}


def parse_link(payload: bytes) -> dict:
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    attrs = dump.attributes(payload, IFINFOMSG.size, _LINK_ATTRS)
    link: dict = {"ifindex": index, "ifname": dump.string(attrs.get(IFLA_IFNAME, b"")),
                  "address": attrs.get(IFLA_ADDRESS, b"").hex(":"),
                  "flags": [name for bit, name in ((IFF_UP, "UP"), (IFF_LOWER_UP, "LOWER_UP"))
                            if flags & bit]}
    if (peer := attrs.get(IFLA_LINK)) is not None and len(peer) == 4:
        link["link_index"] = _U32.unpack(peer)[0]
    return link


def parse_permanent(payload: bytes, names: dict[int, str]) -> dict | None:
    family, ifindex, state, _flags, _type = NDMSG.unpack_from(payload)
    if not state & NUD_PERMANENT or family not in _LENGTHS:
        return None
    attrs = dump.attributes(payload, NDMSG.size)
    ip, mac = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
    if not ip or not mac or len(ip) != _LENGTHS[family]:
        return None
    return {"dst": socket.inet_ntop(family, ip), "dev": names.get(ifindex, ""),
            "lladdr": mac.hex(":"), "state": ["PERMANENT"]}


def read(netns: str) -> tuple[list[dict], list[dict]]:
    """``netns``'s links and PERMANENT neighbours; ([], []) if it does not exist (any
    more), as ``ip -n`` printed nothing then."""
    try:
        with entered(netns), dump.Socket(NETLINK_ROUTE) as sock:
            links = [parse_link(m.payload) for m in sock.dump(RTM_GETLINK, bytes(IFINFOMSG.size))
                     if m.type == RTM_NEWLINK]
            names = {link["ifindex"]: link["ifname"] for link in links}
            pins = [n for m in sock.dump(RTM_GETNEIGH, bytes(NDMSG.size))
                    if m.type == RTM_NEWNEIGH and (n := parse_permanent(m.payload, names))]
    except OSError:
        return [], []
    return links, pins
