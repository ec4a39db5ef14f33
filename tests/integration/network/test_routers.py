"""Routers: gateway, interfaces by subnet and by port, extra routes, and their conflicts."""

from __future__ import annotations

import openstack.exceptions as osexc
import pytest

from tests.integration.network.helpers import error, external_network, name, tenant_network


@pytest.fixture
def public(admin):
    return external_network(admin, cidr="172.24.4.0/24")


def test_router_with_gateway(admin, demo, public):
    ext, ext_sub = public
    router = demo.sdk.network.create_router(name=name("r"),
                                            external_gateway_info={"network_id": ext.id})
    info = router.external_gateway_info
    assert info["network_id"] == ext.id
    assert info["enable_snat"] is True
    [fixed] = info["external_fixed_ips"]
    assert fixed["subnet_id"] == ext_sub.id
    assert fixed["ip_address"].startswith("172.24.4.")
    assert router.status == "BUILD"  # until an orchestrator reports its appliance configured
    # The gateway port belongs to no project: only an admin sees it.
    assert list(demo.sdk.network.ports(device_owner="network:router_gateway")) == []
    gw = list(admin.sdk.network.ports(device_id=router.id,
                                      device_owner="network:router_gateway"))
    assert len(gw) == 1 and gw[0].project_id == ""
    with demo.http() as c:
        r = c.get(f"/routers/{router.id}").json()["router"]
        assert "ha" not in r and "distributed" not in r
    # Clearing the gateway removes its port.
    router = demo.sdk.network.update_router(router.id, external_gateway_info={})
    assert router.external_gateway_info is None
    assert list(admin.sdk.network.ports(device_id=router.id)) == []


def test_gateway_needs_an_external_network(demo):
    net, _ = tenant_network(demo, cidr="10.20.0.0/24")
    with demo.http() as c:
        r = c.post("/routers", json={"router": {"external_gateway_info": {
            "network_id": net.id}}})
    assert r.status_code == 400
    assert "not an external network" in error(r)["message"]


def test_member_cannot_pick_gateway_address(demo, public):
    ext, ext_sub = public
    with demo.http() as c:
        r = c.post("/routers", json={"router": {"external_gateway_info": {
            "network_id": ext.id,
            "external_fixed_ips": [{"subnet_id": ext_sub.id, "ip_address": "172.24.4.50"}]}}})
    assert r.status_code == 403


def test_admin_sets_gateway_address_and_snat(admin, public):
    ext, ext_sub = public
    router = admin.sdk.network.create_router(external_gateway_info={
        "network_id": ext.id, "enable_snat": False,
        "external_fixed_ips": [{"subnet_id": ext_sub.id, "ip_address": "172.24.4.150"}]})
    info = router.external_gateway_info
    assert info["enable_snat"] is False
    assert info["external_fixed_ips"][0]["ip_address"] == "172.24.4.150"
    assert router.is_ha is False


def test_interfaces_by_subnet_and_by_port(demo):
    net1, sub1 = tenant_network(demo, cidr="10.21.0.0/24")
    net2, sub2 = tenant_network(demo, cidr="10.22.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    info = demo.sdk.network.add_interface_to_router(router, subnet_id=sub1.id)
    assert info["subnet_id"] == sub1.id
    assert info["network_id"] == net1.id
    port = demo.sdk.network.get_port(info["port_id"])
    assert port.device_owner == "network:router_interface"
    assert port.device_id == router.id
    assert port.fixed_ips == [{"subnet_id": sub1.id, "ip_address": "10.21.0.1"}]

    user_port = demo.sdk.network.create_port(
        network_id=net2.id, fixed_ips=[{"subnet_id": sub2.id, "ip_address": "10.22.0.254"}])
    info2 = demo.sdk.network.add_interface_to_router(router, port_id=user_port.id)
    assert info2["port_id"] == user_port.id
    assert info2["subnet_ids"] == [sub2.id]
    owners = {p.id for p in demo.sdk.network.ports(device_id=router.id)}
    assert owners == {port.id, user_port.id}

    with demo.http() as c:
        r = c.delete(f"/routers/{router.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "RouterInUse"
        r = c.delete(f"/ports/{port.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "ServicePortInUse"

    demo.sdk.network.remove_interface_from_router(router, subnet_id=sub1.id)
    demo.sdk.network.remove_interface_from_router(router, port_id=user_port.id)
    assert list(demo.sdk.network.ports(device_id=router.id)) == []
    with pytest.raises(osexc.NotFoundException):
        demo.sdk.network.remove_interface_from_router(router, subnet_id=sub1.id)
    demo.sdk.network.delete_router(router)


def test_interface_errors(demo):
    _, sub1 = tenant_network(demo, cidr="10.23.0.0/24")
    _, overlapping = tenant_network(demo, cidr="10.23.0.0/25")
    _, no_gw = tenant_network(demo, cidr="10.24.0.0/24", gateway_ip=None)
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub1.id)
    with demo.http() as c:
        url = f"/routers/{router.id}/add_router_interface"
        r = c.put(url, json={"subnet_id": sub1.id})
        assert r.status_code == 400
        assert "already has a port" in error(r)["message"]
        r = c.put(url, json={"subnet_id": overlapping.id})
        assert r.status_code == 400
        assert "overlaps" in error(r)["message"]
        r = c.put(url, json={"subnet_id": no_gw.id})
        assert r.status_code == 400
        assert "gateway IP" in error(r)["message"]
        r = c.put(url, json={})
        assert r.status_code == 400
        r = c.put(url, json={"subnet_id": sub1.id, "port_id": sub1.id})
        assert r.status_code == 400


def test_port_already_in_use_cannot_become_an_interface(demo):
    net, _ = tenant_network(demo, cidr="10.25.0.0/24")
    port = demo.sdk.network.create_port(network_id=net.id, device_id="vm-1",
                                        device_owner="compute:nova")
    router = demo.sdk.network.create_router(name=name("r"))
    with demo.http() as c:
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"port_id": port.id})
    assert r.status_code == 409
    assert error(r)["type"] == "PortInUse"


def test_dual_stack_interfaces_share_the_ipv6_port(demo):
    net = demo.sdk.network.create_network(name=name("ds"))
    v4 = demo.sdk.network.create_subnet(network_id=net.id, cidr="10.26.0.0/24", ip_version=4)
    v6a = demo.sdk.network.create_subnet(network_id=net.id, cidr="fd00:26::/64", ip_version=6,
                                         ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    v6b = demo.sdk.network.create_subnet(network_id=net.id, cidr="fd00:27::/64", ip_version=6,
                                         ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    router = demo.sdk.network.create_router(name=name("r"))
    for sub in (v4, v6a, v6b):
        demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    ports = list(demo.sdk.network.ports(device_id=router.id))
    assert len(ports) == 2
    v6_port = next(p for p in ports if ":" in p.fixed_ips[0]["ip_address"])
    # Neutron's default IPv6 gateway: the subnet's first (Subnet-Router anycast) address.
    assert sorted(f["ip_address"] for f in v6_port.fixed_ips) == ["fd00:26::", "fd00:27::"]
    demo.sdk.network.remove_interface_from_router(router, subnet_id=v6a.id)
    v6_port = demo.sdk.network.get_port(v6_port.id)
    assert [f["ip_address"] for f in v6_port.fixed_ips] == ["fd00:27::"]


def test_extra_routes(demo):
    _, sub = tenant_network(demo, cidr="10.28.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    routes = [{"destination": "192.168.100.0/24", "nexthop": "10.28.0.50"}]
    router = demo.sdk.network.update_router(router.id, routes=routes)
    assert router.routes == routes
    with demo.http() as c:
        r = c.put(f"/routers/{router.id}", json={"router": {"routes": [
            {"destination": "192.168.101.0/24", "nexthop": "10.99.0.1"}]}})
        assert r.status_code == 400
        assert "nexthop is not connected" in error(r)["message"]
        r = c.put(f"/routers/{router.id}/remove_router_interface", json={"subnet_id": sub.id})
        assert r.status_code == 409
        assert error(r)["type"] == "RouterInterfaceInUseByRoute"
    router = demo.sdk.network.update_router(router.id, routes=[])
    demo.sdk.network.remove_interface_from_router(router, subnet_id=sub.id)


def test_router_scoping(demo, other):
    router = demo.sdk.network.create_router(name=name("r"))
    assert router.id not in {r.id for r in other.sdk.network.routers()}
    with pytest.raises(osexc.NotFoundException):
        other.sdk.network.get_router(router.id)
    _, sub = tenant_network(other, cidr="10.29.0.0/24")
    with demo.http() as c:
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"subnet_id": sub.id})
    assert r.status_code == 404


def test_router_model_in_one_read(admin, demo, public):
    ext, _ = public
    net, sub = tenant_network(demo, cidr="10.33.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"),
                                            external_gateway_info={"network_id": ext.id})
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    vm = demo.sdk.network.create_port(network_id=net.id, device_owner="compute:nova",
                                      device_id="vm-1")
    demo.sdk.network.create_port(network_id=net.id)  # not an instance: no lease
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id, port_id=vm.id)
    with admin.http() as c:
        body = c.get(f"/routers/{router.id}/astara_model").json()
    assert body["router"]["id"] == router.id
    assert {p["device_owner"] for p in body["ports"]} == {"network:router_interface",
                                                          "network:router_gateway"}
    assert {s["id"] for s in body["subnets"]} >= {sub.id}
    assert {n["id"] for n in body["networks"]} == {net.id, ext.id}
    assert [f["id"] for f in body["floatingips"]] == [fip.id]
    assert [p["id"] for p in body["tenant_ports"]] == [vm.id]
    with demo.http() as c:
        assert c.get(f"/routers/{router.id}/astara_model").status_code == 403


def test_only_admins_report_router_status(admin, demo):
    router = demo.sdk.network.create_router(name=name("r"))
    with demo.http() as c:
        r = c.put(f"/routers/{router.id}", json={"router": {"status": "ERROR"}})
        assert r.status_code == 403
    with admin.http() as c:
        r = c.put(f"/routers/{router.id}", json={"router": {"status": "BUILD"}})
        assert r.json()["router"]["status"] == "BUILD"
        r = c.put(f"/routers/{router.id}", json={"router": {"status": "HAPPY"}})
        assert r.status_code == 400
    assert demo.sdk.network.get_router(router.id).status == "BUILD"
