"""Ops as pyroute2 rtnetlink messages (encoded, then decoded back), and the outcome rule."""

from __future__ import annotations

import errno
import socket

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from astara.appliance.apply import rtnl
from astara.appliance.apply.netlink import ok
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute, SetLink


def _wire(op, index, cls):
    """What goes on the wire, as the kernel would read it back."""
    msg = rtnl.message(op, index)
    msg.encode()
    back = cls(msg.data)
    back.decode()
    return back


def test_ipv4_address_carries_local_and_address_and_nodad():
    msg = _wire(AddAddress("ge1", "203.0.113.2/24"), 7, ifaddrmsg)
    assert msg["header"]["type"] == rtnl.RTM_NEWADDR
    assert msg["header"]["flags"] == rtnl.CREATE
    assert (msg["family"], msg["prefixlen"], msg["flags"], msg["scope"], msg["index"]) == \
        (socket.AF_INET, 24, 2, 0, 7)
    assert msg.get("IFA_LOCAL") == msg.get("IFA_ADDRESS") == "203.0.113.2"
    assert msg.get("IFA_FLAGS") == 2


def test_ipv6_address_delete():
    msg = _wire(DelAddress("ge0", "fdca::2/64"), 3, ifaddrmsg)
    assert msg["header"]["type"] == rtnl.RTM_DELADDR and msg["header"]["flags"] == rtnl.CHANGE
    assert msg["family"] == socket.AF_INET6 and msg.get("IFA_ADDRESS") == "fdca::2"
    assert msg.get("IFA_LOCAL") is None


def test_default_route_has_no_destination_and_delete_matches_any_scope():
    add = _wire(AddRoute("0.0.0.0/0", "203.0.113.1"), None, rtmsg)
    assert add["header"]["type"] == rtnl.RTM_NEWROUTE
    assert (add["family"], add["dst_len"], add["table"], add["proto"], add["scope"],
            add["type"]) == (socket.AF_INET, 0, 254, rtnl.RTPROT_STATIC, 0, rtnl.RTN_UNICAST)
    assert [name for name, _ in add["attrs"]] == ["RTA_GATEWAY"]
    delete = _wire(DelRoute("10.0.0.0/8", "203.0.113.1", "ge1"), 4, rtmsg)
    assert delete["header"]["type"] == rtnl.RTM_DELROUTE
    assert delete["scope"] == rtnl.RT_SCOPE_NOWHERE and delete["type"] == 0
    assert (delete.get("RTA_DST"), delete.get("RTA_GATEWAY"), delete.get("RTA_OIF")) == \
        ("10.0.0.0", "203.0.113.1", 4)


def test_set_link_changes_only_the_up_flag_and_the_mtu():
    msg = _wire(SetLink("ge1", 1450, True, 1500, False), 5, ifinfmsg)
    assert msg["header"]["flags"] == rtnl.CHANGE
    assert (msg["index"], msg["flags"], msg["change"], msg.get("IFLA_MTU")) == (5, 1, 1, 1450)
    down = _wire(SetLink("ge1", 1500, False, 1450, True), 5, ifinfmsg)
    assert (down["flags"], down["change"]) == (0, 1)


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
