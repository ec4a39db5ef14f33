"""The pyroute2 netlink port in a namespace made here: one batch, every outcome, rollback.

A refused op in the middle of a batch does not stop the others; the failure names
the op and carries the kernel's own text; the ops that took effect are exactly
the ones reported, so running their inverses restores the namespace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from topology import Topology, sh

from astara.appliance.apply.errors import CommandFailed
from astara.appliance.apply.netlink import IPRouteNetlink
from astara.appliance.apply.netns import entered
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute, SetLink

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]


@pytest.fixture
def ns():
    work = Path(tempfile.mkdtemp(prefix="astara-nl-"))
    topo = Topology(work)
    try:
        name = topo.netns("nl")
        sh("ip", "-n", name, "link", "add", "ge0", "address", "fa:16:3e:00:00:09", "type",
           "veth", "peer", "name", "pe0")
        yield name
    finally:
        topo.destroy()
        shutil.rmtree(work, ignore_errors=True)


def test_batch_reports_each_outcome_and_its_inverse_restores(ns):
    with entered(ns):
        netlink = IPRouteNetlink()
        try:
            before = netlink.observe()
            ops = [SetLink("ge0", 1400, True, 1500, False),
                   AddAddress("ge0", "192.0.2.1/24"),
                   AddAddress("ge0", "fd00:9::1/64"),
                   AddRoute("10.0.0.0/8", "10.99.99.99"),  # refused: unreachable next hop
                   AddRoute("0.0.0.0/0", "192.0.2.254"),
                   AddRoute("::/0", "fd00:9::fe"),
                   DelAddress("ge0", "198.51.100.1/24"),  # gone already: success, no effect
                   DelRoute("172.16.0.0/12", "192.0.2.9")]  # likewise
            done: list = []
            with pytest.raises(CommandFailed) as err:
                netlink.run(ops, done)
            assert "AddRoute(destination='10.0.0.0/8'" in str(err.value)
            assert "Network is unreachable (Nexthop has invalid gateway)" in str(err.value)
            assert done == ops[:3] + ops[4:6]  # what took effect, nothing else
            state = netlink.observe()
            link = state.link("ge0")
            assert (link.mtu, link.up) == (1400, True)
            assert {a.cidr for a in state.addresses} == {"192.0.2.1/24", "fd00:9::1/64"}
            assert {(r.destination, r.gateway) for r in state.routes} == \
                {("0.0.0.0/0", "192.0.2.254"), ("::/0", "fd00:9::fe")}

            netlink.run([op.inverse() for op in reversed(done)], [])
            assert netlink.observe() == before
            netlink.run(ops[:3], [])
            again: list = []
            netlink.run(ops[1:3], again)  # adding what exists: success, without effect
            assert again == []
        finally:
            netlink.close()


def test_unknown_interface_is_a_command_failure(ns):
    with entered(ns):
        netlink = IPRouteNetlink()
        try:
            with pytest.raises(CommandFailed, match="no interface nope0"):
                netlink.run([AddAddress("nope0", "192.0.2.1/24")], [])
        finally:
            netlink.close()


def test_a_batch_larger_than_one_send(ns):
    adds = [AddAddress("ge0", f"10.{i // 250}.{i % 250}.1/32") for i in range(600)]
    with entered(ns):
        netlink = IPRouteNetlink()
        try:
            netlink.observe()
            done: list = []
            netlink.run(adds, done)
            assert done == adds and len(netlink.observe().addresses) == 600
            netlink.run([op.inverse() for op in reversed(done)], [])
            assert netlink.observe().addresses == frozenset()
        finally:
            netlink.close()


def test_neighbour_pins_are_permanent_observed_replaced_and_removed(ns):
    from astara.appliance.observe.state import Neighbour
    from astara.appliance.plan.ops import AddNeighbour, DelNeighbour
    pins = [AddNeighbour("ge0", "192.0.2.10", "fa:16:3e:aa:00:01"),
            AddNeighbour("ge0", "fd00:9::10", "fa:16:3e:aa:00:01")]
    with entered(ns):
        netlink = IPRouteNetlink()
        try:
            done: list = []
            netlink.run(pins, done)
            assert done == pins
            assert netlink.observe().neighbours == {
                Neighbour("ge0", "192.0.2.10", "fa:16:3e:aa:00:01"),
                Neighbour("ge0", "fd00:9::10", "fa:16:3e:aa:00:01")}
            netlink.run([AddNeighbour("ge0", "192.0.2.10", "fa:16:3e:aa:00:02")], [])
            netlink.run([DelNeighbour("ge0", "fd00:9::10", "fa:16:3e:aa:00:01"),
                         DelNeighbour("ge0", "fd00:9::11", "fa:16:3e:aa:00:01")], [])  # gone
            assert netlink.observe().neighbours == {
                Neighbour("ge0", "192.0.2.10", "fa:16:3e:aa:00:02")}
        finally:
            netlink.close()
    assert "PERMANENT" in sh("ip", "-n", ns, "neigh", "show", "192.0.2.10").stdout


def _pyroute2_view(ipr):
    """What the reader must see, decoded by pyroute2 (the reader's former implementation)."""
    from astara.appliance.observe.state import Address, Link, Neighbour, NetState, Route
    links = tuple(Link(m["index"], m.get("IFLA_IFNAME"), m.get("IFLA_ADDRESS") or "",
                       m.get("IFLA_MTU"), bool(m["flags"] & 1)) for m in ipr.get_links())
    names = {link.index: link.ifname for link in links}
    addresses = {Address(names[m["index"]], f"{m.get('IFA_LOCAL') or m.get('IFA_ADDRESS')}"
                                            f"/{m['prefixlen']}")
                 for m in ipr.get_addr() if m["scope"] < 253 and m["index"] in names}
    routes = {Route(f"{m.get('RTA_DST') or ('0.0.0.0' if m['family'] == 2 else '::')}"
                    f"/{m['dst_len']}", m.get("RTA_GATEWAY"),
                    names.get(m.get("RTA_OIF")) if m.get("RTA_OIF") else None)
              for m in ipr.get_routes(table=254, proto=4) if m["family"] in (2, 10)}
    pins = {Neighbour(names[m["ifindex"]], m.get("NDA_DST"), m.get("NDA_LLADDR").lower())
            for m in ipr.get_neighbours()
            if m["state"] & 0x80 and m["ifindex"] in names and m.get("NDA_LLADDR")}
    return NetState(links, frozenset(addresses), frozenset(routes), frozenset(pins))


def test_the_raw_reader_sees_what_pyroute2_decodes(ns):
    """Addresses of both families (and the kernel's), static routes in and out of the
    main table, routes of other protocols, pinned and learnt neighbours."""
    from pyroute2 import IPRoute

    from astara.appliance.observe import netlink as reader
    for args in (["link", "set", "ge0", "up", "mtu", "1450"], ["link", "set", "pe0", "up"],
                 ["addr", "add", "192.0.2.1/24", "dev", "ge0"],
                 ["addr", "add", "fd00:9::1/64", "dev", "ge0", "nodad"],
                 ["route", "add", "10.0.0.0/8", "via", "192.0.2.254", "proto", "static"],
                 ["route", "add", "0.0.0.0/0", "via", "192.0.2.253", "proto", "static"],
                 ["route", "add", "fd99::/64", "via", "fd00:9::fd", "proto", "static"],
                 ["route", "add", "172.16.0.0/12", "dev", "ge0", "proto", "static"],
                 ["route", "add", "10.1.0.0/16", "via", "192.0.2.9", "proto", "static",
                  "table", "100"],
                 ["route", "add", "10.2.0.0/16", "via", "192.0.2.9", "proto", "boot"],
                 ["neigh", "add", "192.0.2.10", "lladdr", "FA:16:3E:AA:00:01", "dev", "ge0",
                  "nud", "permanent"],
                 ["neigh", "add", "fd00:9::10", "lladdr", "fa:16:3e:aa:00:01", "dev", "ge0",
                  "nud", "permanent"],
                 ["neigh", "add", "192.0.2.11", "lladdr", "fa:16:3e:aa:00:02", "dev", "ge0",
                  "nud", "reachable"]):
        sh("ip", "-n", ns, *args)
    with entered(ns):
        raw = reader.observe()
        ipr = IPRoute()
        try:
            expected = _pyroute2_view(ipr)
        finally:
            ipr.close()
    assert tuple(link.__class__(link.index, link.ifname, link.mac_address, link.mtu, link.up)
                 for link in raw.links) == expected.links
    assert raw.link("ge0").mac_address == "fa:16:3e:00:00:09" and raw.link("ge0").mtu == 1450
    assert raw.addresses == expected.addresses and len(raw.addresses) == 2
    assert raw.routes == expected.routes and len(raw.routes) == 4
    assert raw.neighbours == expected.neighbours and len(raw.neighbours) == 2
