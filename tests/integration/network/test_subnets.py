"""Subnets: defaults, pools, IPv6 modes, and the errors Neutron gives for bad ones."""

from __future__ import annotations

import pytest

from tests.integration.network.helpers import error, name


@pytest.fixture
def net(demo):
    return demo.sdk.network.create_network(name=name("net"))


def post_subnet(who, **subnet) -> tuple[int, dict]:
    with who.http() as c:
        r = c.post("/subnets", json={"subnet": subnet})
    return r.status_code, r.json()


def test_ipv4_defaults(demo, net):
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.1.0.0/24", ip_version=4,
                                         dns_nameservers=["192.0.2.53"],
                                         host_routes=[{"destination": "10.9.0.0/16",
                                                       "nexthop": "10.1.0.254"}])
    assert sub.gateway_ip == "10.1.0.1"
    assert sub.allocation_pools == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert sub.is_dhcp_enabled is True
    assert sub.dns_nameservers == ["192.0.2.53"]
    assert sub.host_routes == [{"destination": "10.9.0.0/16", "nexthop": "10.1.0.254"}]
    assert demo.sdk.network.get_network(net.id).subnet_ids == [sub.id]
    updated = demo.sdk.network.update_subnet(sub.id, dns_nameservers=["192.0.2.54"],
                                             allocation_pools=[{"start": "10.1.0.100",
                                                                "end": "10.1.0.150"}])
    assert updated.dns_nameservers == ["192.0.2.54"]
    assert updated.allocation_pools == [{"start": "10.1.0.100", "end": "10.1.0.150"}]


def test_custom_pools_and_no_gateway(demo, net):
    sub = demo.sdk.network.create_subnet(
        network_id=net.id, cidr="10.2.0.0/24", ip_version=4, gateway_ip=None,
        allocation_pools=[{"start": "10.2.0.10", "end": "10.2.0.20"},
                          {"start": "10.2.0.30", "end": "10.2.0.40"}])
    assert sub.gateway_ip is None
    assert len(sub.allocation_pools) == 2


def test_gateway_splits_default_pool(demo, net):
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.3.0.0/24", ip_version=4,
                                         gateway_ip="10.3.0.100")
    assert sub.allocation_pools == [{"start": "10.3.0.1", "end": "10.3.0.99"},
                                    {"start": "10.3.0.101", "end": "10.3.0.254"}]


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless", "dhcpv6-stateful"])
def test_ipv6_modes(demo, net, mode):
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="fd00:1::/64", ip_version=6,
                                         ipv6_ra_mode=mode, ipv6_address_mode=mode)
    assert sub.ipv6_ra_mode == mode
    assert sub.ipv6_address_mode == mode
    assert sub.gateway_ip == "fd00:1::"
    assert sub.allocation_pools == [{"start": "fd00:1::1", "end": "fd00:1::ffff:ffff:ffff:ffff"}]


@pytest.mark.parametrize("subnet, gateway, pools", [
    # Neutron 29: an IPv6 subnet's default gateway is its first address, the pool follows.
    ({"cidr": "2001:db8:a1::/64", "ip_version": 6}, "2001:db8:a1::",
     [{"start": "2001:db8:a1::1", "end": "2001:db8:a1:0:ffff:ffff:ffff:ffff"}]),
    ({"cidr": "2001:db8:a2::/120", "ip_version": 6}, "2001:db8:a2::",
     [{"start": "2001:db8:a2::1", "end": "2001:db8:a2::ff"}]),
    ({"cidr": "2001:db8:a3::/64", "ip_version": 6, "gateway_ip": "2001:db8:a3::1"},
     "2001:db8:a3::1",
     [{"start": "2001:db8:a3::2", "end": "2001:db8:a3:0:ffff:ffff:ffff:ffff"}]),
    ({"cidr": "2001:db8:a4::/64", "ip_version": 6, "gateway_ip": None}, None,
     [{"start": "2001:db8:a4::1", "end": "2001:db8:a4:0:ffff:ffff:ffff:ffff"}]),
    ({"cidr": "10.5.0.0/24", "ip_version": 4}, "10.5.0.1",
     [{"start": "10.5.0.2", "end": "10.5.0.254"}]),
])
def test_default_gateway_and_pool(demo, net, subnet, gateway, pools):
    code, body = post_subnet(demo, network_id=net.id, **subnet)
    assert code == 201, body
    assert body["subnet"]["gateway_ip"] == gateway
    assert body["subnet"]["allocation_pools"] == pools


@pytest.mark.parametrize("subnet, status, fragment", [
    ({"cidr": "10.0.0.0/33", "ip_version": 4}, 400, "10.0.0.0/33 is not in a CIDR format"),
    ({"cidr": "banana", "ip_version": 4}, 400, "banana is not in a CIDR format"),
    ({"cidr": "10.0.0.1/24", "ip_version": 4}, 400, "10.0.0.0/24' is recommended"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, 400, "not compatible"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4,
      "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]}, 400, "spans beyond"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4,
      "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"},
                           {"start": "10.0.0.5", "end": "10.0.0.20"}]}, 400, "overlapping"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4, "gateway_ip": "10.0.0.5",
      "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]}, 409, "conflicts"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4, "gateway_ip": "10.9.9.9"}, 400, "Gateway"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4, "ipv6_ra_mode": "slaac"}, 400, "ip_version is 4"),
    ({"cidr": "fd00::/64", "ip_version": 6, "ipv6_ra_mode": "slaac",
      "ipv6_address_mode": "dhcpv6-stateful"}, 400, "must be the same"),
    ({"cidr": "fd00::/80", "ip_version": 6, "ipv6_ra_mode": "slaac",
      "ipv6_address_mode": "slaac"}, 400, "/64"),
    ({"cidr": "10.0.0.0/24", "ip_version": 4, "dns_nameservers": ["8.8.8.300"]}, 400,
     "not a valid IP address"),
])
def test_invalid_subnets(demo, net, subnet, status, fragment):
    code, body = post_subnet(demo, network_id=net.id, **subnet)
    assert code == status, body
    assert fragment in body["NeutronError"]["message"]
    assert demo.sdk.network.get_network(net.id).subnet_ids == []


def test_overlapping_subnet_on_one_network(demo, net):
    demo.sdk.network.create_subnet(network_id=net.id, cidr="10.4.0.0/24", ip_version=4)
    code, body = post_subnet(demo, network_id=net.id, cidr="10.4.0.128/25", ip_version=4)
    assert code == 400
    assert "overlaps with another subnet" in body["NeutronError"]["message"]


def test_subnet_on_someone_elses_network(demo, other, net):
    code, body = post_subnet(other, network_id=net.id, cidr="10.5.0.0/24", ip_version=4)
    # As Neutron: a private network the caller cannot see is not found (see test_subnet_policy).
    assert code == 404
    assert body["NeutronError"]["type"] == "NetworkNotFound"


def test_subnet_in_use_cannot_be_deleted(demo, net):
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.6.0.0/24", ip_version=4)
    port = demo.sdk.network.create_port(network_id=net.id)
    with demo.http() as c:
        r = c.delete(f"/subnets/{sub.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "SubnetInUse"
        r = c.delete(f"/networks/{net.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "NetworkInUse"
    demo.sdk.network.delete_port(port)
    demo.sdk.network.delete_subnet(sub)
    demo.sdk.network.delete_network(net)
