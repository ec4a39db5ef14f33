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
