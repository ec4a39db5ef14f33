"""The rtnetlink writer's encoding and ack decoding, and the idempotent outcome rule."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from astara.appliance.apply import rtnl
from astara.appliance.apply.netlink import ok
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute, SetLink


def _attrs(body: bytes, start: int) -> dict[int, bytes]:
    out, pos = {}, start
    while pos + 4 <= len(body):
        size, kind = struct.unpack_from("=HH", body, pos)
        out[kind] = body[pos + 4:pos + size]
        pos += (size + 3) & ~3
    return out


def test_ipv4_address_carries_local_and_address_and_nodad():
    req = rtnl.address(True, 7, socket.inet_aton("203.0.113.2"), 24)
    assert req.kind == rtnl.RTM_NEWADDR and req.flags == rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    family, prefixlen, flags, scope, index = struct.unpack_from("=BBBBI", req.body)
    assert (family, prefixlen, flags, scope, index) == (socket.AF_INET, 24, 2, 0, 7)
    attrs = _attrs(req.body, 8)
    assert attrs[rtnl.IFA_LOCAL] == attrs[rtnl.IFA_ADDRESS] == socket.inet_aton("203.0.113.2")
    assert struct.unpack("=I", attrs[rtnl.IFA_FLAGS])[0] == rtnl.IFA_F_NODAD


def test_ipv6_address_and_delete():
    req = rtnl.address(False, 3, socket.inet_pton(socket.AF_INET6, "fdca::2"), 64)
    assert req.kind == rtnl.RTM_DELADDR and req.flags == 0
    assert rtnl.IFA_LOCAL not in _attrs(req.body, 8)


def test_default_route_has_no_destination_and_delete_matches_any_scope():
    gw = socket.inet_aton("203.0.113.1")
    add = rtnl.route(True, bytes(4), 0, gw, None)
    fields = struct.unpack_from("=BBBBBBBBI", add.body)
    assert fields[:8] == (socket.AF_INET, 0, 0, 0, 254, rtnl.RTPROT_STATIC, 0, rtnl.RTN_UNICAST)
    assert _attrs(add.body, 12) == {rtnl.RTA_GATEWAY: gw}
    delete = rtnl.route(False, socket.inet_aton("10.0.0.0"), 8, gw, 4)
    fields = struct.unpack_from("=BBBBBBBBI", delete.body)
    assert delete.kind == rtnl.RTM_DELROUTE and fields[6] == rtnl.RT_SCOPE_NOWHERE
    assert set(_attrs(delete.body, 12)) == {rtnl.RTA_DST, rtnl.RTA_GATEWAY, rtnl.RTA_OIF}


def test_error_ack_with_the_kernels_message():
    msg = rtnl._attr(rtnl.NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0")
    payload = struct.pack("=i", -errno.ENETUNREACH) + bytes(16) + msg
    header = struct.pack("=IHHII", 16 + len(payload), rtnl.NLMSG_ERROR,
                         rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS, 5, 0)
    data = header + payload
    assert rtnl._outcome(data, 0, len(data), rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS) == \
        rtnl.Outcome(errno.ENETUNREACH, "Nexthop has invalid gateway")


@pytest.mark.parametrize(
    ("op", "code", "expected"),
    [
        (AddAddress("ge1", "203.0.113.2/24"), 0, True),
        (AddAddress("ge1", "203.0.113.2/24"), errno.EEXIST, True),
        (DelAddress("ge1", "203.0.113.2/24"), errno.EADDRNOTAVAIL, True),
        (DelRoute("10.0.0.0/8", "192.0.2.9"), errno.ESRCH, True),
        (AddRoute("10.0.0.0/8", "10.9.9.9"), errno.ENETUNREACH, False),
        (DelAddress("ge1", "203.0.113.2/24"), errno.EEXIST, False),
        (SetLink("ge1", 1500, True, 1500, False), errno.EINVAL, False),
    ],
)
def test_outcomes_are_idempotent(op, code, expected):
    assert ok(op, code) is expected
