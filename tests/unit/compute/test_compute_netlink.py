"""The compute agent's in-process namespace reader: rtnetlink replies to ``ip -j`` dicts."""

from __future__ import annotations

import socket
import struct

from astara.common import rtnetlink as rt
from astara.compute_service.agent import netlink


def attr(kind: int, value: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(value), kind) + value + b"\0" * (-len(value) % 4)


def test_a_veth_link_with_its_peer_and_flags():
    payload = (rt.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 7, rt.IFF_UP | rt.IFF_LOWER_UP, 0)
               + attr(rt.IFLA_IFNAME, b"eth0\0") + attr(rt.IFLA_LINK, struct.pack("=I", 912))
               + attr(rt.IFLA_ADDRESS, bytes.fromhex("fa163e000001")))
    assert netlink.parse_link(payload) == {"ifindex": 7, "ifname": "eth0",
                                           "address": "fa:16:3e:00:00:01",
                                           "flags": ["UP", "LOWER_UP"], "link_index": 912}
    down = rt.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 1, 0, 0) + attr(rt.IFLA_IFNAME, b"lo\0")
    assert netlink.parse_link(down) == {"ifindex": 1, "ifname": "lo", "address": "",
                                        "flags": []}


def test_only_permanent_entries_with_an_address_and_a_mac():
    def entry(state: int, family: int, ip: bytes, mac: bytes | None) -> bytes:
        return (rt.NDMSG.pack(family, 7, state, 0, 1) + attr(rt.NDA_DST, ip)
                + (attr(rt.NDA_LLADDR, mac) if mac else b""))

    v6 = socket.inet_pton(socket.AF_INET6, "fdca::1")
    mac = bytes.fromhex("020000000aaa")
    assert netlink.parse_permanent(entry(rt.NUD_PERMANENT, socket.AF_INET6, v6, mac),
                                   {7: "eth0"}) == \
        {"dst": "fdca::1", "dev": "eth0", "lladdr": "02:00:00:00:0a:aa",
         "state": ["PERMANENT"]}
    assert netlink.parse_permanent(entry(0x02, socket.AF_INET6, v6, mac), {7: "eth0"}) is None
    assert netlink.parse_permanent(entry(rt.NUD_PERMANENT, socket.AF_INET6, v6, None),
                                   {7: "eth0"}) is None
    assert netlink.parse_permanent(entry(rt.NUD_PERMANENT, socket.AF_INET, v6, mac),
                                   {7: "eth0"}) is None  # 16 bytes are no IPv4 address
