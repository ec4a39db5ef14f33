"""Announcing what an apply took over: the choice (pure), the frames, the timing, and
converge calling it with the fakes."""

import ipaddress
import struct

import pytest
from _appliance_support import NAMES
from tests.support import wait_for

from astara.appliance.apply import announce
from astara.appliance.apply.announce import Announcer
from astara.appliance.plan.announce import Announcement, announcements
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress
from astara.wire import examples
from astara.wire.appliance_config import ApplianceConfig
from astara.wire.examples import loadbalancer_document, router_config

EXT, INT1 = examples.EXT_MAC, examples.INT1_MAC
FIP10 = int(ipaddress.IPv4Address("203.0.113.10"))


def test_new_addresses_and_newly_answered_floating_ips_are_announced():
    done = [AddAddress("ge1", "203.0.113.2/24"), AddAddress("ge2", "fd00:1::1/64"),
            AddAddress("ge2", "fe80::1/64"), DelAddress("ge3", "198.51.100.1/24"),
            AddRoute("0.0.0.0/0", "203.0.113.1")]
    old = frozenset({(FIP10, 1)})
    new = frozenset({(FIP10, 2), (FIP10 + 1, 3)})  # .10 moved to another fixed IP: kept
    got = announcements(router_config(), NAMES, done, old, new)
    assert got == (Announcement("ge1", "203.0.113.2", EXT),
                   Announcement("ge2", "fd00:1::1", INT1),  # link-local: no one held it
                   Announcement("ge1", "203.0.113.11", EXT))


def test_nothing_taken_over_nothing_announced():
    fips = frozenset({(FIP10, 1)})
    assert announcements(router_config(), NAMES, [], fips, fips) == ()


def test_a_load_balancers_vip_is_announced_on_its_interface():
    config = ApplianceConfig.model_validate(loadbalancer_document())
    got = announcements(config, {"mgmt": "ge0", "vipnet": "ge2"},
                        [AddAddress("ge2", "192.0.2.10/24")], frozenset(), frozenset())
    assert got == (Announcement("ge2", "192.0.2.10", INT1),)


def test_gratuitous_arp_frame():
    data = announce.arp_announcement("fa:16:3e:00:00:02", "203.0.113.11")
    dst, src, ethertype = struct.unpack("!6s6sH", data[:14])
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s",
                                                                     data[14:42])
    assert (dst, src, ethertype) == (b"\xff" * 6, bytes.fromhex("fa163e000002"), 0x0806)
    assert (htype, ptype, hlen, plen, op) == (1, 0x0800, 6, 4, 1)  # a request
    assert sha == src and spa == tpa == ipaddress.IPv4Address("203.0.113.11").packed
    assert tha == b"\0" * 6 and len(data) == 42


def test_neighbour_advertisement_frame_and_checksum():
    data = announce.neighbour_advertisement("fa:16:3e:00:00:03", "fd00:1::1")
    target = ipaddress.IPv6Address("fd00:1::1").packed
    assert data[:6] == bytes.fromhex("333300000001") and data[12:14] == b"\x86\xdd"
    ip6 = data[14:54]
    plen, nh, hops = struct.unpack("!HBB", ip6[4:8])
    assert (plen, nh, hops) == (32, 58, 255) and ip6[8:24] == target
    assert ip6[24:40] == ipaddress.IPv6Address("ff02::1").packed
    icmp = data[54:]
    assert icmp[0] == 136 and struct.unpack("!I", icmp[4:8])[0] == 0xA0000000  # router, override
    assert icmp[8:24] == target and icmp[24:26] == b"\x02\x01"
    assert icmp[26:32] == bytes.fromhex("fa163e000003")
    pseudo = ip6[8:40] + struct.pack("!I3xB", len(icmp), 58)
    assert announce._checksum(pseudo + icmp) == 0  # a valid checksum sums to zero


class FakeSocket:
    def __init__(self, ifname, fail=False):
        self.ifname, self.sent, self.closed, self.fail = ifname, [], False, fail

    def send(self, data):
        if self.fail:
            raise OSError(100, "Network is down")
        self.sent.append(data)

    def close(self):
        self.closed = True


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def lab():
    clock, socks = Clock(), []

    def opener(ifname):
        socks.append(FakeSocket(ifname, fail=ifname == "down0"))
        return socks[-1]

    return Announcer(count=3, interval=1.0, opener=opener, clock=clock,
                     threaded=False), clock, socks


def test_first_copy_at_once_then_one_a_second_then_the_socket_closes(lab):
    announcer, clock, socks = lab
    announcer([Announcement("ge1", "203.0.113.2", EXT),
               Announcement("ge1", "203.0.113.11", EXT),
               Announcement("ge2", "fd00:1::1", INT1)])
    assert [(s.ifname, len(s.sent)) for s in socks] == [("ge1", 2), ("ge2", 1)]
    assert announcer.tick() == pytest.approx(1.0)  # nothing due yet
    clock.now += 1.0
    assert announcer.tick() == pytest.approx(1.0)
    assert [len(s.sent) for s in socks] == [4, 2]
    clock.now += 1.0
    assert announcer.tick() is None and announcer.pending() == 0
    assert [len(s.sent) for s in socks] == [6, 3] and all(s.closed for s in socks)
    assert socks[0].sent[0] == socks[0].sent[2] == announce.arp_announcement(EXT,
                                                                             "203.0.113.2")


def test_a_link_that_cannot_send_is_given_up_quietly(lab):
    announcer, _, socks = lab
    announcer([Announcement("down0", "192.0.2.1", INT1)])
    assert socks[0].closed and announcer.pending() == 0


def test_the_real_thread_sends_the_later_copies():
    socks = []
    announcer = Announcer(count=2, interval=0.01,
                          opener=lambda name: socks.append(FakeSocket(name)) or socks[-1])
    announcer([Announcement("ge1", "203.0.113.2", EXT)])
    wait_for(lambda: socks[0].closed, 5, "the second copy")
    assert len(socks[0].sent) == 2


def test_converge_announces_what_it_added_and_the_floating_ips_it_took(appliance):
    told = []
    appliance.ports.announce = told.append
    first = appliance.apply(router_config(1))
    assert first.error is None
    ips = [a.ip for a in told[0]]
    assert "203.0.113.2" in ips and "192.0.2.1" in ips and "203.0.113.10" in ips
    assert first.announced == told[0]
    assert not appliance.apply(router_config(1)).changed and len(told) == 1
    second = appliance.apply(router_config(2))  # the shortcut: one more floating IP
    assert second.nft == "delta"
    assert told[1] == (Announcement("ge1", "203.0.113.11", EXT),)


def test_a_failing_announcer_does_not_fail_the_apply(appliance):
    def broken(items):
        raise OSError(1, "Operation not permitted")
    appliance.ports.announce = broken
    result = appliance.apply(router_config(1))
    assert result.error is None and appliance.digest == router_config(1).digest()
