"""Ports: IPAM, MACs, device ownership, address pairs, binding, filters and races."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.network.helpers import error, name, tenant_network


@pytest.fixture
def net_sub(demo):
    return tenant_network(demo, cidr="10.10.0.0/24")


def test_port_gets_address_from_pool_and_mac(demo, net_sub):
    net, sub = net_sub
    port = demo.sdk.network.create_port(network_id=net.id, name="vm-port",
                                        device_owner="compute:nova", device_id="vm-1")
    assert port.mac_address.startswith("fa:16:3e:")
    [fixed] = port.fixed_ips
    assert fixed["subnet_id"] == sub.id
    assert fixed["ip_address"] == "10.10.0.2"
    assert port.status == "DOWN"
    assert port.device_owner == "compute:nova"
    second = demo.sdk.network.create_port(network_id=net.id)
    assert second.fixed_ips[0]["ip_address"] == "10.10.0.3"
    assert second.mac_address != port.mac_address


def test_two_automatic_addresses_of_one_subnet_and_a_bulk_create(demo, net_sub):
    """Addresses picked in one transaction (two on one port, then ports of one bulk
    request) are all different: each pick sees those picked before it."""
    net, sub = net_sub
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id, "fixed_ips": [
            {"subnet_id": sub.id}, {"subnet_id": sub.id}]}})
        assert r.status_code == 201, r.text
        assert [ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]] == [
            "10.10.0.2", "10.10.0.3"]
        r = c.post("/ports", json={"ports": [{"network_id": net.id}, {"network_id": net.id}]})
        assert r.status_code == 201, r.text
        assert [p["fixed_ips"][0]["ip_address"] for p in r.json()["ports"]] == [
            "10.10.0.4", "10.10.0.5"]


def test_requested_ip_and_duplicates(demo, net_sub):
    net, sub = net_sub
    port = demo.sdk.network.create_port(
        network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.10.0.77"}])
    assert port.fixed_ips[0]["ip_address"] == "10.10.0.77"
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "fixed_ips": [{"ip_address": "10.10.0.77"}]}})
        assert r.status_code == 409
        assert error(r) == {"type": "IpAddressAlreadyAllocated", "detail": "",
                            "message": f"IP address 10.10.0.77 already allocated in subnet "
                                       f"{sub.id}"}
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "fixed_ips": [{"subnet_id": sub.id,
                                                           "ip_address": "10.99.0.5"}]}})
        assert r.status_code == 400
        assert error(r)["type"] == "InvalidIpForSubnet"
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "fixed_ips": [{"ip_address": "10.99.0.5"}]}})
        assert r.status_code == 400
        assert error(r)["type"] == "InvalidIpForNetwork"
        r = c.post("/ports", json={"port": {"network_id": net.id,
                                            "mac_address": port.mac_address}})
        assert r.status_code == 409
        assert error(r)["type"] == "MacAddressInUse"


def test_update_fixed_ips_and_pairs(demo, net_sub):
    net, sub = net_sub
    port = demo.sdk.network.create_port(network_id=net.id)
    port = demo.sdk.network.update_port(
        port.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.10.0.50"}],
        allowed_address_pairs=[{"ip_address": "10.10.0.200/32"}])
    assert [f["ip_address"] for f in port.fixed_ips] == ["10.10.0.50"]
    assert port.allowed_address_pairs == [{"ip_address": "10.10.0.200/32"}]
    # The old address went back to the pool.
    again = demo.sdk.network.create_port(network_id=net.id)
    assert again.fixed_ips[0]["ip_address"] == "10.10.0.2"


def test_slaac_port_gets_eui64_address(demo):
    net = demo.sdk.network.create_network(name=name("v6"))
    v4 = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.11.0.0/24", ip_version=4)
    v6 = demo.sdk.network.create_subnet(network_id=net.id, cidr="fd00:11::/64", ip_version=6,
                                        ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = demo.sdk.network.create_port(network_id=net.id, mac_address="fa:16:3e:00:11:22")
    by_subnet = {f["subnet_id"]: f["ip_address"] for f in port.fixed_ips}
    assert by_subnet[v4.id] == "10.11.0.2"
    assert by_subnet[v6.id] == "fd00:11::f816:3eff:fe00:1122"
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id, "fixed_ips": [
            {"subnet_id": v6.id, "ip_address": "fd00:11::5"}]}})
    assert r.status_code == 400
    assert error(r)["type"] == "AllocationOnAutoAddressSubnet"


def test_binding_host_is_admin_only(admin, demo, net_sub):
    net, _ = net_sub
    port = demo.sdk.network.create_port(network_id=net.id)
    with demo.http() as c:
        assert "binding:host_id" not in c.get(f"/ports/{port.id}").json()["port"]
        r = c.put(f"/ports/{port.id}", json={"port": {"binding:host_id": "h1"}})
        assert r.status_code == 403
    with admin.http() as c:
        r = c.put(f"/ports/{port.id}", json={"port": {"binding:host_id": "h1"}})
        assert r.json()["port"]["binding:host_id"] == "h1"


def test_port_filters(demo, net_sub):
    net, sub = net_sub
    a = demo.sdk.network.create_port(network_id=net.id, device_owner="compute:nova",
                                     device_id="vm-a")
    b = demo.sdk.network.create_port(network_id=net.id, device_owner="compute:nova",
                                     device_id="vm-b")
    assert [p.id for p in demo.sdk.network.ports(device_id="vm-b")] == [b.id]
    ip_a = a.fixed_ips[0]["ip_address"]
    with demo.http() as c:
        r = c.get("/ports", params={"fixed_ips": f"ip_address={ip_a}"})
        assert [p["id"] for p in r.json()["ports"]] == [a.id]
        r = c.get("/ports", params=[("fixed_ips", f"subnet_id={sub.id}"),
                                    ("device_owner", "compute:nova")])
        assert sorted(p["id"] for p in r.json()["ports"]) == sorted([a.id, b.id])
        r = c.get("/ports", params={"mac_address": b.mac_address})
        assert [p["id"] for p in r.json()["ports"]] == [b.id]


def test_ports_of_other_projects_are_invisible(demo, other, net_sub):
    net, _ = net_sub
    port = demo.sdk.network.create_port(network_id=net.id)
    assert port.id not in {p.id for p in other.sdk.network.ports()}
    with other.http() as c:
        assert c.get(f"/ports/{port.id}").status_code == 404
        r = c.post("/ports", json={"port": {"network_id": net.id}})
        assert r.status_code == 404


def test_concurrent_writers_racing_for_one_ip(demo, net_sub):
    net, sub = net_sub

    def grab(_):
        with demo.http() as c:
            return c.post("/ports", json={"port": {"network_id": net.id, "fixed_ips": [
                {"subnet_id": sub.id, "ip_address": "10.10.0.99"}]}})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(grab, range(16)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1, codes
    assert codes.count(409) == 15, codes
    for r in results:
        if r.status_code == 409:
            assert error(r)["type"] in ("IpAddressAlreadyAllocated", "Conflict")
    owners = list(demo.sdk.network.ports(fixed_ips="ip_address=10.10.0.99"))
    assert len(owners) == 1


def test_concurrent_automatic_allocation_never_duplicates(demo, net_sub):
    net, _ = net_sub

    def create(_):
        with demo.http() as c:
            return c.post("/ports", json={"port": {"network_id": net.id}})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(24)))
    assert all(r.status_code == 201 for r in results), [r.text for r in results]
    addresses = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results]
    assert len(set(addresses)) == 24
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.10.0.0/24")
               for a in addresses)


def test_pool_exhaustion(demo):
    net = demo.sdk.network.create_network(name=name("tiny"))
    demo.sdk.network.create_subnet(network_id=net.id, cidr="10.12.0.0/29", ip_version=4,
                                   allocation_pools=[{"start": "10.12.0.2",
                                                      "end": "10.12.0.3"}])
    demo.sdk.network.create_port(network_id=net.id)
    demo.sdk.network.create_port(network_id=net.id)
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id}})
    assert r.status_code == 409
    assert error(r)["type"] == "IpAddressGenerationFailure"
