"""IPv6 auto addresses as Neutron 29 gives them: every port but a router's interface
has its EUI-64 address on each SLAAC or DHCPv6-stateless subnet of its network,
whatever its ``fixed_ips`` ask for, through updates, and from subnets added later."""

from __future__ import annotations

import pytest

from tests.integration.network.helpers import error, name

MAC = "fa:16:3e:00:a1:01"
SLAAC_IP = "2001:db8:a1:0:f816:3eff:fe00:a101"  # EUI-64 of MAC on 2001:db8:a1::/64
STATELESS_IP = "2001:db8:a2:0:f816:3eff:fe00:a101"


@pytest.fixture
def dual(demo):
    """A network with an IPv4, a SLAAC and a DHCPv6-stateless subnet."""
    net = demo.sdk.network.create_network(name=name("dual"))
    v4 = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.61.0.0/24", ip_version=4)
    slaac = demo.sdk.network.create_subnet(network_id=net.id, cidr="2001:db8:a1::/64",
                                           ip_version=6, ipv6_ra_mode="slaac",
                                           ipv6_address_mode="slaac")
    stateless = demo.sdk.network.create_subnet(
        network_id=net.id, cidr="2001:db8:a2::/64", ip_version=6,
        ipv6_ra_mode="dhcpv6-stateless", ipv6_address_mode="dhcpv6-stateless")
    return net, v4, slaac, stateless


def addresses(port) -> dict[str, str]:
    fixed = port["fixed_ips"] if isinstance(port, dict) else port.fixed_ips
    return {f["subnet_id"]: f["ip_address"] for f in fixed}


@pytest.mark.parametrize("fixed_ips", [
    lambda v4: [{"subnet_id": v4.id}],
    lambda v4: [{"ip_address": "10.61.0.50"}],
    lambda v4: [{"subnet_id": v4.id, "ip_address": "10.61.0.50"}],
])
def test_a_port_asking_only_for_ipv4_also_gets_its_eui64_addresses(demo, dual, fixed_ips):
    net, v4, slaac, stateless = dual
    port = demo.sdk.network.create_port(network_id=net.id, mac_address=MAC,
                                        fixed_ips=fixed_ips(v4))
    got = addresses(port)
    assert got[slaac.id] == SLAAC_IP
    assert got[stateless.id] == STATELESS_IP
    assert set(got) == {v4.id, slaac.id, stateless.id}


def test_a_port_keeps_its_eui64_addresses_when_its_fixed_ips_are_updated(demo, dual):
    net, v4, slaac, stateless = dual
    port = demo.sdk.network.create_port(network_id=net.id, mac_address=MAC)
    assert set(addresses(port)) == {v4.id, slaac.id, stateless.id}
    with demo.http() as c:
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": [
            {"subnet_id": v4.id, "ip_address": "10.61.0.60"}]}})
        assert r.status_code == 200, r.text
        assert addresses(r.json()["port"]) == {
            v4.id: "10.61.0.60", slaac.id: SLAAC_IP, stateless.id: STATELESS_IP}
        # Sending the port's own addresses back (a GET, edited, PUT) is no new request.
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": r.json()["port"]["fixed_ips"]}})
        assert r.status_code == 200, r.text
        assert addresses(r.json()["port"])[slaac.id] == SLAAC_IP
        # Another address on an auto-address subnet stays refused, as in Neutron.
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": [
            {"subnet_id": slaac.id, "ip_address": "2001:db8:a1::5"}]}})
        assert r.status_code == 400
        assert error(r)["type"] == "AllocationOnAutoAddressSubnet"


def test_a_router_interface_gets_no_auto_address_on_other_subnets(demo, dual):
    net, v4, slaac, stateless = dual
    router = demo.sdk.network.create_router(name=name("r"))
    info = demo.sdk.network.add_interface_to_router(router, subnet_id=v4.id)
    assert addresses(demo.sdk.network.get_port(info["port_id"])) == {v4.id: "10.61.0.1"}
    info6 = demo.sdk.network.add_interface_to_router(router, subnet_id=slaac.id)
    assert addresses(demo.sdk.network.get_port(info6["port_id"])) == {slaac.id: "2001:db8:a1::"}


def test_an_auto_subnet_added_later_gives_existing_ports_their_address(demo):
    net = demo.sdk.network.create_network(name=name("later"))
    v4 = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.62.0.0/24", ip_version=4)
    port = demo.sdk.network.create_port(network_id=net.id, mac_address=MAC)
    router = demo.sdk.network.create_router(name=name("r"))
    iface = demo.sdk.network.add_interface_to_router(router, subnet_id=v4.id)["port_id"]
    # SLAAC through the RA mode alone is an auto-address subnet too (Neutron's rule).
    slaac = demo.sdk.network.create_subnet(network_id=net.id, cidr="2001:db8:a1::/64",
                                           ip_version=6, ipv6_ra_mode="slaac")
    assert addresses(demo.sdk.network.get_port(port.id)) == {
        v4.id: "10.62.0.2", slaac.id: SLAAC_IP}
    assert addresses(demo.sdk.network.get_port(iface)) == {v4.id: "10.62.0.1"}
    # Deleting the subnet takes the automatic addresses back instead of refusing.
    demo.sdk.network.delete_subnet(slaac.id)
    assert addresses(demo.sdk.network.get_port(port.id)) == {v4.id: "10.62.0.2"}


def test_an_auto_subnet_with_a_router_interface_cannot_be_deleted(demo, dual):
    net, _, slaac, _ = dual
    demo.sdk.network.create_port(network_id=net.id)
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=slaac.id)
    with demo.http() as c:
        r = c.delete(f"/subnets/{slaac.id}")
    assert r.status_code == 409
    assert error(r)["type"] == "SubnetInUse"


def test_a_ports_eui64_addresses_follow_its_new_mac(admin, demo, dual):
    net, v4, slaac, stateless = dual
    port = demo.sdk.network.create_port(network_id=net.id, mac_address=MAC)
    with admin.http() as c:  # only an admin changes a MAC
        r = c.put(f"/ports/{port.id}", json={"port": {"mac_address": "fa:16:3e:00:b2:02"}})
    assert r.status_code == 200, r.text
    assert addresses(r.json()["port"]) == {
        v4.id: addresses(port)[v4.id],
        slaac.id: "2001:db8:a1:0:f816:3eff:fe00:b202",
        stateless.id: "2001:db8:a2:0:f816:3eff:fe00:b202"}


def test_an_ha_member_port_gets_no_auto_address(admin, demo, dual):
    """An HA router's member port (made by the orchestrator with no fixed IP) holds no
    address, also on auto-address subnets, also on one added later (docs/ha.md)."""
    net, v4, slaac, stateless = dual
    port = admin.sdk.network.create_port(network_id=net.id, mac_address=MAC, fixed_ips=[],
                                         device_owner="network:router_ha_interface",
                                         device_id="c61d6b42-85ba-4431-a014-539ade35216c.ha1")
    assert addresses(port) == {}
    demo.sdk.network.create_subnet(network_id=net.id, cidr="2001:db8:a9::/64", ip_version=6,
                                   ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert addresses(admin.sdk.network.get_port(port.id)) == {}
