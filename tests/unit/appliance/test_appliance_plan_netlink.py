"""Table tests for the pure netlink planner."""

import pytest
from _appliance_support import LINKS, NAMES

from astara.appliance.observe.state import Address, NetState, Route
from astara.appliance.plan.netlink import PlanError, diff, interface_names
from astara.appliance.plan.ops import AddAddress, AddRoute, DelAddress, DelRoute, SetLink
from astara.wire.examples import router_config


def _observed(addresses=(), routes=(), links=LINKS):
    return NetState(tuple(links), frozenset(addresses), frozenset(routes))


def test_interfaces_are_found_by_mac():
    assert interface_names(router_config(), _observed()) == NAMES


def test_missing_mac_is_a_plan_error():
    with pytest.raises(PlanError, match="no interface with MAC fa:16:3e:00:00:04"):
        diff(router_config(), _observed(links=LINKS[:4]))


def test_first_plan_brings_links_up_adds_addresses_and_default_route():
    ops = diff(router_config(1), _observed())
    assert [o for o in ops if isinstance(o, SetLink)] == [
        SetLink("ge1", 1500, True, 1500, False),
        SetLink("ge2", 1500, True, 1500, False),
        SetLink("ge3", 1500, True, 1500, False),
    ]
    adds = {(o.ifname, o.cidr) for o in ops if isinstance(o, AddAddress)}
    assert adds == {("ge0", "fdca::2/64"), ("ge1", "203.0.113.2/24"), ("ge2", "192.0.2.1/24"),
                    ("ge2", "fd00:1::1/64"), ("ge3", "198.51.100.1/24")}
    assert ops[-1] == AddRoute("0.0.0.0/0", "203.0.113.1")


def _converged(config):
    from astara.appliance.apply.fakes import FakeNetlink
    fake = FakeNetlink(LINKS)
    fake.run(diff(config, fake.observe()), [])
    return fake.observe()


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (router_config(2), router_config(2), []),
        (router_config(2), router_config(3), []),  # floating IPs are no addresses
        (router_config(0), router_config(0, default_v4_gateway="203.0.113.254"),
         [DelRoute("0.0.0.0/0", "203.0.113.1"), AddRoute("0.0.0.0/0", "203.0.113.254")]),
        (router_config(0), router_config(0, routes=[
            {"destination": "10.0.0.0/8", "nexthop": "192.0.2.254"}]),
         [AddRoute("10.0.0.0/8", "192.0.2.254")]),
    ],
)
def test_changes_touch_only_what_differs(before, after, expected):
    assert diff(after, _converged(before)) == expected


def test_moving_a_floating_ip_to_another_fixed_ip_needs_no_netlink_change():
    moved = router_config(0, floating_ips=[
        {"floating_ip": "203.0.113.10", "fixed_ip": "192.0.2.99"}])
    assert diff(moved, _converged(router_config(1))) == []


def test_floating_ip_addresses_left_by_an_older_agent_are_removed():
    observed = _converged(router_config(1))
    extra = NetState(observed.links, observed.addresses | {Address("ge1", "203.0.113.10/32")},
                     observed.routes)
    assert diff(router_config(1), extra) == [DelAddress("ge1", "203.0.113.10/32")]


def test_link_local_and_foreign_interfaces_are_left_alone():
    observed = _converged(router_config())
    extra = NetState(observed.links, observed.addresses | {
        Address("ge2", "fe80::1/64"), Address("lo", "127.0.0.1/8")}, observed.routes)
    assert diff(router_config(), extra) == []


def test_unwanted_static_route_is_removed():
    observed = _converged(router_config())
    extra = NetState(observed.links, observed.addresses,
                     observed.routes | {Route("10.0.0.0/8", "192.0.2.9", "ge2")})
    assert diff(router_config(), extra) == [DelRoute("10.0.0.0/8", "192.0.2.9")]


def test_every_op_inverts():
    for op in diff(router_config(2), _observed()):
        assert op.inverse().inverse() == op


def _with_allocs(allocs, config=None):
    doc = (config or router_config(0)).model_dump(mode="json")
    doc["networks"][2]["allocations"] = allocs  # ge2, internal: 192.0.2.0/24, fd00:1::/64
    return type(router_config()).model_validate(doc)


A1 = {"mac_address": "FA:16:3E:AA:00:01", "ip_addresses": ["192.0.2.10", "fd00:1:0::10"]}
A2 = {"mac_address": "fa:16:3e:aa:00:02", "ip_addresses": ["192.0.2.11"]}


def test_internal_ports_are_pinned_and_unpinned_with_their_allocation():
    from astara.appliance.observe.state import Neighbour
    from astara.appliance.plan.ops import AddNeighbour, DelNeighbour
    pins = [AddNeighbour("ge2", "192.0.2.10", "fa:16:3e:aa:00:01"),
            AddNeighbour("ge2", "fd00:1::10", "fa:16:3e:aa:00:01")]
    first = diff(_with_allocs([A1]), _converged(_with_allocs([])))
    assert first == pins
    assert diff(_with_allocs([A1]), _converged(_with_allocs([A1]))) == []
    # a port gone: its pins go; a port's MAC changed: its pin is replaced
    assert diff(_with_allocs([A2]), _converged(_with_allocs([A1]))) == [
        DelNeighbour("ge2", "192.0.2.10", "fa:16:3e:aa:00:01"),
        DelNeighbour("ge2", "fd00:1::10", "fa:16:3e:aa:00:01"),
        AddNeighbour("ge2", "192.0.2.11", "fa:16:3e:aa:00:02")]
    moved = {**A1, "mac_address": "fa:16:3e:aa:00:09"}
    assert diff(_with_allocs([moved]), _converged(_with_allocs([A1])))[-2:] == [
        AddNeighbour("ge2", "192.0.2.10", "fa:16:3e:aa:00:09"),
        AddNeighbour("ge2", "fd00:1::10", "fa:16:3e:aa:00:09")]
    # the management link's pin (the compute agent's) and the router's own address:
    # never the appliance agent's business
    observed = _converged(_with_allocs([]))
    theirs = NetState(observed.links, observed.addresses, observed.routes,
                      frozenset({Neighbour("ge0", "fdca::1", "02:00:00:00:00:01")}))
    own = {"mac_address": "fa:16:3e:aa:00:03", "ip_addresses": ["192.0.2.1"]}
    assert diff(_with_allocs([own]), theirs) == []
