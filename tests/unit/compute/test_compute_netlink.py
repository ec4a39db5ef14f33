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


def test_addresses_as_ip_prints_them_for_the_vif_plugged_plan():
    def address(family: int, scope: int, text: str, local: bool = True) -> bytes:
        raw = socket.inet_pton(family, text)
        return (rt.IFADDRMSG.pack(family, 24 if family == socket.AF_INET else 64, 0, scope, 7)
                + attr(rt.IFA_LOCAL if local else rt.IFA_ADDRESS, raw))

    assert netlink.parse_address(address(socket.AF_INET, 0, "10.0.0.5")) == \
        (7, {"family": "inet", "local": "10.0.0.5", "prefixlen": 24, "scope": "global"})
    assert netlink.parse_address(address(socket.AF_INET6, 253, "fe80::1", local=False)) == \
        (7, {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"})
    assert netlink.parse_address(rt.IFADDRMSG.pack(socket.AF_PACKET, 0, 0, 0, 7)) is None
    truncated = rt.IFADDRMSG.pack(socket.AF_INET6, 64, 0, 0, 7) + attr(rt.IFA_ADDRESS, b"\1" * 4)
    assert netlink.parse_address(truncated) is None  # 4 bytes are no IPv6 address
