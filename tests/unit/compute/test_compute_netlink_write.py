"""The few ``ip`` lines the compute agent makes over rtnetlink itself: which lines are
taken, and the exact requests they become (the real kernel round trip is in
tests/functional/compute/test_compute_neighbour_pins.py)."""

import socket
import struct

import pytest

from astara.common.rtnetlink import (
    IFADDRMSG,
    IFINFOMSG,
    NDMSG,
    NUD_PERMANENT,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
)
from astara.compute_service.agent import netlink
from astara.compute_service.agent.neighbours import fdb_line, pin_lines, unpin_lines


def test_the_agents_own_pin_and_unpin_lines_are_taken():
    [pin] = pin_lines([("FA:16:3E:00:00:01", "fdca::5")], "brqabc")
    c = netlink.change(pin)
    assert (c.kind, c.ip, c.mac, c.dev) == ("neigh replace", "fdca::5", "fa:16:3e:00:00:01",
                                            "brqabc")
    entries = [{"dst": "10.0.0.1", "dev": "brqabc", "lladdr": "fa:16:3e:00:00:01",
                "state": ["PERMANENT"]}]
    [unpin] = unpin_lines(entries, [("fa:16:3e:00:00:01", "10.0.0.1")], "brqabc")
    assert netlink.change(unpin).kind == "neigh del"
    assert netlink.change("link set eth3 up") == netlink.Change("link set eth3 up",
                                                                 "link up", "eth3")


@pytest.mark.parametrize("line", [
    "link set tapx master brq1 up",            # more than up: ip runs it
    "link add tapx type veth peer name eth0",
    "neigh replace 10.0.0.1 lladdr fa:16:3e:00:00:01 dev br",  # not permanent
    "neigh replace 10.0.0.1 dev br nud permanent",             # no MAC
    "neigh del 10.0.0.1 lladdr fa:16:3e:00:00:01 dev br",
    "neigh replace 10.0.0 lladdr fa:16:3e:00:00:01 dev br nud permanent",
    "addr replace 10.0.0.1 dev eth0",           # no length: ip's default, not ours
    "addr replace 10.0.0.300/24 dev eth0",
    "addr add 10.0.0.1/24 dev eth0",
    "addr replace 10.0.0.1/24 dev eth0 nodad extra",
    "fdb replace fa:16:3e:00:00:01 dev tapx master",   # not static: bridge's, not ours
    "fdb add fa:16:3e:00:00:01 dev tapx master static",
])
def test_anything_else_is_left_to_ip(line):
    assert netlink.change(line) is None


def test_a_pin_is_a_permanent_replace_with_both_addresses():
    c = netlink.change("neigh replace 10.1.2.3 lladdr fa:16:3e:0a:0b:0c dev br nud permanent")
    kind, flags, body = netlink.message(c, 42)
    assert kind == RTM_NEWNEIGH and flags & 0x100 and flags & 0x400  # REPLACE | CREATE
    family, index, state, _flags, _type = NDMSG.unpack_from(body)
    assert (family, index, state) == (socket.AF_INET, 42, NUD_PERMANENT)
    attrs = body[NDMSG.size:]
    length, kind1 = struct.unpack_from("=HH", attrs)
    assert (length, kind1, attrs[4:8]) == (8, 1, bytes([10, 1, 2, 3]))  # NDA_DST
    length, kind2 = struct.unpack_from("=HH", attrs, 8)
    assert (length, kind2, attrs[12:18]) == (10, 2, bytes.fromhex("fa163e0a0b0c"))


def test_a_static_fdb_entry_is_the_bridges_with_the_mac_only():
    line = fdb_line("FA:16:3E:0A:0B:0C", "tapx")
    c = netlink.change(line)
    assert (c.kind, c.dev, c.mac, c.ip) == ("fdb static", "tapx", "fa:16:3e:0a:0b:0c", "")
    kind, flags, body = netlink.message(c, 7)
    assert kind == RTM_NEWNEIGH and flags & 0x100 and flags & 0x400  # REPLACE | CREATE
    family, index, state, ntf, _type = NDMSG.unpack_from(body)
    # in the bridge's own table (NTF_MASTER), static (NUD_NOARP): not the bridge's own
    # address (NUD_PERMANENT), never aged
    assert (family, index, state, ntf) == (socket.AF_BRIDGE, 7, 0x40, 0x04)
    assert attributes(body[NDMSG.size:]) == [(2, bytes.fromhex("fa163e0a0b0c"))]  # LLADDR


def test_link_up_changes_only_the_up_flag():
    kind, flags, body = netlink.message(netlink.change("link set lo up"), 1)
    _family, _type, index, ifflags, change = IFINFOMSG.unpack_from(body)
    assert (kind, flags, index, ifflags, change) == (RTM_NEWLINK, 0, 1, 1, 1)


def test_an_ipv6_unpin_names_the_address_only():
    kind, _flags, body = netlink.message(netlink.change("neigh del fdca::9 dev br"), 3)
    family, index, state, _f, _t = NDMSG.unpack_from(body)
    assert (kind, family, index, state) == (29, socket.AF_INET6, 3, 0)
    assert body[NDMSG.size + 4:] == socket.inet_pton(socket.AF_INET6, "fdca::9")


def attributes(raw: bytes) -> list[tuple[int, bytes]]:
    out, offset = [], 0
    while offset < len(raw):
        length, kind = struct.unpack_from("=HH", raw, offset)
        out.append((kind, raw[offset + 4:offset + length]))
        offset += (length + 3) & ~3
    return out


def test_an_appliance_management_address_is_a_replace_with_local_and_address():
    c = netlink.change("addr replace fdca:3ba5::7/64 dev eth0 nodad")
    assert (c.kind, c.dev, c.ip, c.nodad) == ("addr replace", "eth0", "fdca:3ba5::7/64", True)
    kind, flags, body = netlink.message(c, 2)
    assert kind == RTM_NEWADDR and flags & 0x100 and flags & 0x400
    family, prefixlen, ifa_flags, scope, index = IFADDRMSG.unpack_from(body)
    assert (family, prefixlen, ifa_flags, scope, index) == (socket.AF_INET6, 64, 0x02, 0, 2)
    packed = socket.inet_pton(socket.AF_INET6, "fdca:3ba5::7")
    assert attributes(body[IFADDRMSG.size:]) == [(2, packed), (1, packed)]  # LOCAL, ADDRESS


def test_an_ipv4_address_keeps_duplicate_detection_flags_off_and_its_length():
    kind, _flags, body = netlink.message(netlink.change("addr replace 10.9.8.7/22 dev eth0"), 5)
    family, prefixlen, ifa_flags, _scope, index = IFADDRMSG.unpack_from(body)
    assert (kind, family, prefixlen, ifa_flags, index) == (RTM_NEWADDR, socket.AF_INET, 22, 0, 5)
    assert attributes(body[IFADDRMSG.size:])[0] == (2, bytes([10, 9, 8, 7]))
