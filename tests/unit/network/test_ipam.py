"""IPAM as tables: pools, gateways, next free address, EUI-64."""

from __future__ import annotations

import ipaddress

import pytest

from astara.network_service import errors, ipam


@pytest.mark.parametrize("cidr, gateway, pools", [
    ("10.0.0.0/24", "10.0.0.1", [("10.0.0.2", "10.0.0.254")]),
    ("10.0.0.0/24", "10.0.0.254", [("10.0.0.1", "10.0.0.253")]),
    ("10.0.0.0/24", "10.0.0.9", [("10.0.0.1", "10.0.0.8"), ("10.0.0.10", "10.0.0.254")]),
    ("10.0.0.0/24", None, [("10.0.0.1", "10.0.0.254")]),
    ("10.0.0.0/30", "10.0.0.1", [("10.0.0.2", "10.0.0.2")]),
    ("fd00::/64", "fd00::1", [("fd00::2", "fd00::ffff:ffff:ffff:ffff")]),
])
def test_default_pools(cidr, gateway, pools):
    got = ipam.default_pools(ipaddress.ip_network(cidr), gateway)
    assert got == [{"start": a, "end": b} for a, b in pools]


@pytest.mark.parametrize("pools, gateway, error", [
    ([("10.0.0.5", "10.0.0.2")], None, errors.InvalidAllocationPool),
    ([("10.0.1.5", "10.0.1.9")], None, errors.OutOfBoundsAllocationPool),
    ([("10.0.0.0", "10.0.0.9")], None, errors.InvalidAllocationPool),
    ([("10.0.0.2", "10.0.0.255")], None, errors.InvalidAllocationPool),
    ([("10.0.0.2", "10.0.0.9"), ("10.0.0.9", "10.0.0.20")], None,
     errors.OverlappingAllocationPools),
    ([("10.0.0.2", "10.0.0.9")], "10.0.0.3", errors.GatewayConflictWithAllocationPools),
    ([("fd00::2", "fd00::9")], None, errors.InvalidAllocationPool),
])
def test_bad_pools(pools, gateway, error):
    with pytest.raises(error):
        ipam.check_pools(ipaddress.ip_network("10.0.0.0/24"),
                         [{"start": a, "end": b} for a, b in pools], gateway)


def test_good_pools_pass_through():
    pools = [{"start": "10.0.0.20", "end": "10.0.0.30"}, {"start": "10.0.0.2", "end": "10.0.0.9"}]
    assert ipam.check_pools(ipaddress.ip_network("10.0.0.0/24"), pools, "10.0.0.1") == pools


@pytest.mark.parametrize("gateway", ["10.0.0.0", "10.0.0.255", "10.0.1.1", "fd00::1"])
def test_bad_gateways(gateway):
    with pytest.raises(errors.InvalidInput):
        ipam.check_gateway(ipaddress.ip_network("10.0.0.0/24"), gateway)


@pytest.mark.parametrize("taken, skip, expected", [
    ([], 0, "10.0.0.2"),
    (["10.0.0.2", "10.0.0.3"], 0, "10.0.0.4"),
    (["10.0.0.3"], 0, "10.0.0.2"),
    (["10.0.0.2"], 1, "10.0.0.4"),
    (["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"], 0, "10.0.0.11"),
    ([f"10.0.0.{i}" for i in (2, 3, 4, 10, 11)], 0, None),
])
def test_next_free(taken, skip, expected):
    pools = [{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.10", "end": "10.0.0.11"}]
    assert ipam.next_free(pools, taken, skip=skip) == expected


@pytest.mark.parametrize("taken, expected", [
    (["fd00::2", "fd00::3"], "fd00::4"),
    (["fd00:0::2", "FD00::3"], "fd00::4"),  # any spelling of an address is that address
    (["10.0.0.2", "fd00::2", "fd00::3"], "fd00::4"),  # another family's: not in the way
    (["fd00::3", "10.0.0.2", "::ffff:10.0.0.2"], "fd00::2"),
])
def test_next_free_ipv6_and_mixed_families(taken, expected):
    assert ipam.next_free([{"start": "fd00::2", "end": "fd00::9"}], taken) == expected


def test_next_free_takes_a_one_pass_iterable_of_mixed_families():
    taken = (a for a in ["10.0.0.2", "fd00::2", "10.0.0.3"])
    assert ipam.next_free([{"start": "10.0.0.2", "end": "10.0.0.4"}], taken) == "10.0.0.4"


def test_eui64():
    assert ipam.eui64("fd00:11::/64", "fa:16:3e:00:11:22") == "fd00:11::f816:3eff:fe00:1122"
    assert ipam.eui64("2001:db8::/64", "00:00:5e:00:53:01") == "2001:db8::200:5eff:fe00:5301"


@pytest.mark.parametrize("version, mode, auto", [
    (6, "slaac", True), (6, "dhcpv6-stateless", True), (6, "dhcpv6-stateful", False),
    (6, None, False), (4, None, False),
])
def test_auto_address(version, mode, auto):
    assert ipam.is_auto_address(version, mode) is auto


@pytest.mark.parametrize("cidr, gateway", [
    # Neutron 29: an IPv6 subnet's first address (Subnet-Router anycast), IPv4's first host.
    ("2001:db8:a1::/64", "2001:db8:a1::"), ("fd00::/120", "fd00::"),
    ("10.0.0.0/24", "10.0.0.1"), ("10.0.0.0/31", None),
])
def test_default_gateway(cidr, gateway):
    assert ipam.default_gateway(ipaddress.ip_network(cidr)) == gateway


def test_the_default_ipv6_pool_starts_right_after_the_gateway():
    net = ipaddress.ip_network("2001:db8:a1::/64")
    assert ipam.default_pools(net, ipam.default_gateway(net)) == [
        {"start": "2001:db8:a1::1", "end": "2001:db8:a1:0:ffff:ffff:ffff:ffff"}]


def test_an_ipv6_subnets_first_address_is_a_valid_gateway():
    ipam.check_gateway(ipaddress.ip_network("2001:db8:a1::/64"), "2001:db8:a1::")


@pytest.mark.parametrize("cidr, address, owner, valid", [
    ("10.0.0.0/24", "10.0.0.1", "", True),  # the gateway address: free until taken
    ("10.0.0.0/24", "10.0.0.0", "network:router_interface", False),
    ("10.0.0.0/24", "10.0.0.255", "", False),
    ("10.0.0.0/24", "10.0.1.1", "", False),
    ("fd00::/64", "fd00::", "", True),  # Neutron: an owner-less port may (for a router)
    ("fd00::/64", "fd00::", "compute:nova", False),
    ("fd00::/64", "fd00::", "network:dhcp", False),
    ("fd00::/64", "fd00::", "network:router_interface", True),
    ("fd00::/64", "fd00::", "network:router_gateway", True),
    ("fd00::/64", "fd00::1", "", True),
    ("fd00::/64", "10.0.0.1", "", False),
])
def test_valid_on_subnet(cidr, address, owner, valid):
    assert ipam.valid_on_subnet(ipaddress.ip_network(cidr), address, owner) is valid


@pytest.mark.parametrize("version, address_mode, ra_mode, auto", [
    (6, None, "slaac", True), (6, None, "dhcpv6-stateless", True),
    (6, "dhcpv6-stateful", "dhcpv6-stateful", False), (6, None, None, False),
])
def test_the_ra_mode_alone_makes_an_auto_address_subnet(version, address_mode, ra_mode, auto):
    assert ipam.is_auto_address(version, address_mode, ra_mode) is auto
