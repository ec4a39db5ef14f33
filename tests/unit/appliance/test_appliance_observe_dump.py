"""The raw netlink readers: replies built byte by byte here are parsed into what the
planner and the status document use, and only that (other scopes, tables,
protocols, states and families are left out, as the pyroute2 reader did)."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from astara.appliance.observe import netlink as reader
from astara.appliance.observe import nftables
from astara.appliance.observe.state import Address, Link, Neighbour, Route
from astara.common import netlink_dump as dump

NAMES = {2: "ge0", 3: "ge1"}


def attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + bytes(-length % 4)


def message(kind: int, payload: bytes, seq: int = 1, flags: int = 2) -> bytes:
    body = payload + bytes(-len(payload) % 4)
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + body


def ip(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


def test_a_link_keeps_its_name_mac_mtu_state_and_counters():
    stats = struct.pack("=QQQQ", 7, 8, 700, 800) + bytes(16 * 8)
    payload = (reader.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 3, reader.IFF_UP, 0)
               + attr(reader.IFLA_IFNAME, b"ge1\0") + attr(50, b"\x01" * 37)
               + attr(reader.IFLA_ADDRESS, bytes.fromhex("fa163e000002"))
               + attr(reader.IFLA_MTU, struct.pack("=I", 1450))
               + attr(0x8000 | 26, attr(1, b"nested"))  # a nested attribute: skipped
               + attr(reader.IFLA_STATS64, stats))
    assert reader.parse_link(payload) == Link(3, "ge1", "fa:16:3e:00:00:02", 1450, True,
                                              rx_bytes=700, rx_packets=7, tx_bytes=800,
                                              tx_packets=8)
    down = reader.IFINFOMSG.pack(socket.AF_UNSPEC, 1, 4, 0, 0) + attr(reader.IFLA_IFNAME,
                                                                     b"ge2\0")
    assert reader.parse_link(down) == Link(4, "ge2", "", 0, False)


def address(family: int, prefixlen: int, scope: int, index: int, *attrs: bytes) -> bytes:
    return reader.IFADDRMSG.pack(family, prefixlen, 0, scope, index) + b"".join(attrs)


@pytest.mark.parametrize(("payload", "expected"), [
    (address(socket.AF_INET, 24, 0, 3, attr(reader.IFA_ADDRESS, ip("192.0.2.9")),
             attr(reader.IFA_LOCAL, ip("192.0.2.1"))), Address("ge1", "192.0.2.1/24")),
    (address(socket.AF_INET6, 64, 0, 2, attr(reader.IFA_ADDRESS, ip("fdca:0::0:2"))),
     Address("ge0", "fdca::2/64")),
    (address(socket.AF_INET6, 64, reader.RT_SCOPE_LINK, 2,
             attr(reader.IFA_ADDRESS, ip("fe80::1"))), None),  # the kernel's
    (address(socket.AF_INET, 8, 254, 1, attr(reader.IFA_LOCAL, ip("127.0.0.1"))), None),
    (address(socket.AF_INET, 24, 0, 9, attr(reader.IFA_LOCAL, ip("192.0.2.1"))), None),
])
def test_only_global_addresses_of_known_links_are_kept(payload, expected):
    assert reader.parse_address(payload, NAMES) == expected


def route(family: int, dst_len: int, table: int, proto: int, *attrs: bytes) -> bytes:
    return reader.RTMSG.pack(family, dst_len, 0, 0, table, proto, 0, 1, 0) + b"".join(attrs)


@pytest.mark.parametrize(("payload", "expected"), [
    (route(socket.AF_INET, 0, 254, 4, attr(reader.RTA_GATEWAY, ip("203.0.113.1")),
           attr(reader.RTA_OIF, struct.pack("=I", 3))),
     Route("0.0.0.0/0", "203.0.113.1", "ge1")),
    (route(socket.AF_INET6, 64, 254, 4, attr(reader.RTA_DST, ip("fd99::")),
           attr(reader.RTA_GATEWAY, ip("fd00:1::fd"))), Route("fd99::/64", "fd00:1::fd")),
    (route(socket.AF_INET6, 0, 254, 4, attr(reader.RTA_OIF, struct.pack("=I", 2))),
     Route("::/0", None, "ge0")),
    (route(socket.AF_INET, 8, 254, 2, attr(reader.RTA_DST, ip("10.0.0.0"))), None),  # kernel
    (route(socket.AF_INET, 8, 100, 4, attr(reader.RTA_DST, ip("10.0.0.0"))), None),
    (route(socket.AF_INET, 8, 252, 4, attr(reader.RTA_DST, ip("10.0.0.0")),
           attr(reader.RTA_TABLE, struct.pack("=I", 1000))), None),  # table 1000
    (route(28, 0, 254, 4), None),  # MPLS
])
def test_only_static_routes_of_the_main_table_are_kept(payload, expected):
    assert reader.parse_static_route(payload, NAMES) == expected


def neighbour(family: int, index: int, state: int, *attrs: bytes) -> bytes:
    return reader.NDMSG.pack(family, index, state, 0, 1) + b"".join(attrs)


@pytest.mark.parametrize(("payload", "expected"), [
    (neighbour(socket.AF_INET, 3, reader.NUD_PERMANENT, attr(reader.NDA_DST, ip("192.0.2.10")),
               attr(reader.NDA_LLADDR, bytes.fromhex("FA163EAA0001"))),
     Neighbour("ge1", "192.0.2.10", "fa:16:3e:aa:00:01")),
    (neighbour(socket.AF_INET6, 3, reader.NUD_PERMANENT, attr(reader.NDA_DST, ip("fd00::a")),
               attr(reader.NDA_LLADDR, bytes(6))), Neighbour("ge1", "fd00::a",
                                                             "00:00:00:00:00:00")),
    (neighbour(socket.AF_INET, 3, 0x02, attr(reader.NDA_DST, ip("192.0.2.11")),  # REACHABLE
               attr(reader.NDA_LLADDR, bytes(6))), None),
    (neighbour(socket.AF_INET, 3, reader.NUD_PERMANENT,
               attr(reader.NDA_DST, ip("192.0.2.12"))), None),  # no link-layer address
    (neighbour(socket.AF_INET, 7, reader.NUD_PERMANENT, attr(reader.NDA_DST, ip("192.0.2.1")),
               attr(reader.NDA_LLADDR, bytes(6))), None),  # unknown link
])
def test_only_permanent_neighbours_with_an_address_are_kept(payload, expected):
    assert reader.parse_permanent_neighbour(payload, NAMES) == expected


def test_a_reply_ends_at_done_and_skips_other_requests_answers():
    data = (message(16, b"one", seq=7) + message(16, b"old", seq=6)
            + message(16, b"two", seq=7, flags=2 | dump.NLM_F_DUMP_INTR)
            + message(dump.NLMSG_DONE, bytes(4), seq=7) + message(16, b"after", seq=7))
    found = list(dump.messages(data, 7))
    assert [m.payload.rstrip(b"\0") if m else None for m in found] == [b"one", b"two", None]
    assert found[1].flags & dump.NLM_F_DUMP_INTR


def test_an_error_reply_raises_with_its_errno():
    data = message(dump.NLMSG_ERROR, struct.pack("=i", -errno.EPERM) + bytes(16), seq=3)
    with pytest.raises(OSError) as err:
        list(dump.messages(data, 3))
    assert err.value.errno == errno.EPERM


def test_an_acknowledgement_is_no_error():
    data = message(dump.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16), seq=3)
    assert list(dump.messages(data, 3)) == []


def test_nftables_tables_are_named_with_their_family():
    table = nftables.NFGENMSG.pack(5, 0, 0) + attr(nftables.NFTA_TABLE_NAME, b"astara\0")
    assert nftables.parse_table(table) == ("netdev", "astara")
    assert nftables.parse_table(nftables.NFGENMSG.pack(99, 0, 0)
                                + attr(nftables.NFTA_TABLE_NAME, b"x\0")) is None


def counter(table: bytes, name: bytes, kind: int, packets: int, octets: int) -> bytes:
    data = (attr(nftables.NFTA_COUNTER_BYTES, struct.pack(">Q", octets))
            + attr(nftables.NFTA_COUNTER_PACKETS, struct.pack(">Q", packets)))
    return (nftables.NFGENMSG.pack(1, 0, 0) + attr(nftables.NFTA_OBJ_TABLE, table + b"\0")
            + attr(nftables.NFTA_OBJ_NAME, name + b"\0")
            + attr(nftables.NFTA_OBJ_TYPE, struct.pack(">I", kind))
            + attr(0x8000 | nftables.NFTA_OBJ_DATA, data))


def test_named_counters_of_the_table_are_read_big_endian():
    assert nftables.parse_counter(counter(b"astara", b"snat4", 1, 3, 2**40), "astara") == (
        "snat4", (3, 2**40))
    assert nftables.parse_counter(counter(b"other", b"snat4", 1, 3, 4), "astara") is None
    assert nftables.parse_counter(counter(b"astara", b"q", 2, 3, 4), "astara") is None  # quota


def test_a_done_carrying_an_error_raises_and_one_flagged_changed_says_so():
    failed = message(dump.NLMSG_DONE, struct.pack("=i", -errno.EMSGSIZE), seq=4)
    with pytest.raises(OSError) as err:
        list(dump.messages(failed, 4))
    assert err.value.errno == errno.EMSGSIZE
    changed = message(16, b"one", seq=4) + message(
        dump.NLMSG_DONE, bytes(4), seq=4, flags=2 | dump.NLM_F_DUMP_INTR)
    found = list(dump.messages(changed, 4))
    assert found[-1] is None and found[-2].flags & dump.NLM_F_DUMP_INTR


class _Kernel:
    """A netlink socket whose every dump reply says the dump changed meanwhile."""

    def __init__(self):
        self.sent = 0

    def send(self, data):
        self.sent += 1
        self.seq = struct.unpack_from("=IHHII", data)[3]

    def recv_into(self, view):
        reply = message(16, b"x", seq=self.seq, flags=2 | dump.NLM_F_DUMP_INTR) + \
            message(dump.NLMSG_DONE, bytes(4), seq=self.seq)
        view[:len(reply)] = reply
        return len(reply)

    def close(self):
        pass


def test_a_dump_that_keeps_changing_is_an_error_not_a_half_view():
    sock = dump.Socket.__new__(dump.Socket)
    sock._sock, sock._seq, sock._buffer = _Kernel(), 0, bytearray(dump.BUFFER)
    with pytest.raises(OSError) as err:
        sock.dump(18, b"")
    assert err.value.errno == errno.EAGAIN and sock._sock.sent == dump.TRIES


class _Answers:
    """A netlink socket that answers each request with the datagrams `answer` makes
    from its sequence number, one per read."""

    def __init__(self, answer):
        self.answer, self.queue, self.timeouts = answer, [], []

    def send(self, data):
        self.flags, self.seq = struct.unpack_from("=IHHII", data)[2:4]
        self.queue += self.answer(self.seq)

    def settimeout(self, value):
        self.timeouts.append(value)

    def recv_into(self, view):
        reply = self.queue.pop(0)
        view[:len(reply)] = reply
        return len(reply)


def _socket(answer) -> dump.Socket:
    sock = dump.Socket.__new__(dump.Socket)
    sock._sock, sock._seq, sock._buffer = _Answers(answer), 0, bytearray(dump.BUFFER)
    return sock


def test_a_get_returns_its_reply_and_asks_for_an_acknowledgement():
    sock = _socket(lambda seq: [message(99, b"stale", seq=seq - 1) + message(88, b"mine",
                                                                         seq=seq),
                                message(dump.NLMSG_ERROR, bytes(4), seq=seq)])
    reply = sock.get(90, b"")
    assert (reply.type, reply.payload[:4]) == (88, b"mine")  # not the earlier answer
    assert sock._sock.flags & dump.NLM_F_ACK and sock._sock.timeouts == [dump.GET_TIMEOUT,
                                                                         None]


def test_a_get_refused_or_answered_with_no_message_is_an_error_not_a_wait():
    refused = _socket(lambda seq: [message(dump.NLMSG_ERROR, struct.pack("=i", -errno.EINVAL),
                                           seq=seq)])
    with pytest.raises(OSError) as err:
        refused.get(90, b"")
    assert err.value.errno == errno.EINVAL
    silent = _socket(lambda seq: [message(dump.NLMSG_ERROR, bytes(4), seq=seq)])
    with pytest.raises(OSError) as err:
        silent.get(90, b"")
    assert err.value.errno == errno.ENOMSG
