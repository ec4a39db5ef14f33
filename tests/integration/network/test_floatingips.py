"""Floating IPs: allocation, association with router resolution, moves, conflicts."""

from __future__ import annotations

import pytest

from tests.integration.network.helpers import error, external_network, name, tenant_network


@pytest.fixture
def topology(admin, demo):
    ext, ext_sub = external_network(admin, cidr="172.25.4.0/24",
                                    pool=("172.25.4.10", "172.25.4.200"))
    net, sub = tenant_network(demo, cidr="10.30.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"),
                                            external_gateway_info={"network_id": ext.id})
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    return ext, net, sub, router


def test_floating_ip_lifecycle(admin, demo, topology):
    ext, net, sub, router = topology
    vm1 = demo.sdk.network.create_port(network_id=net.id, name="vm1",
                                       device_owner="compute:nova", device_id="vm-1")
    vm2 = demo.sdk.network.create_port(network_id=net.id, name="vm2")
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id)
    assert fip.floating_ip_address.startswith("172.25.4.")
    assert fip.port_id is None and fip.router_id is None
    assert fip.status == "DOWN"
    fip_ports = list(admin.sdk.network.ports(device_owner="network:floatingip",
                                             device_id=fip.id))
    assert [p.fixed_ips[0]["ip_address"] for p in fip_ports] == [fip.floating_ip_address]

    fip = demo.sdk.network.update_ip(fip.id, port_id=vm1.id)
    assert fip.port_id == vm1.id
    assert fip.router_id == router.id
    assert fip.fixed_ip_address == vm1.fixed_ips[0]["ip_address"]
    assert fip.port_details["name"] == "vm1"
    assert fip.port_details["device_owner"] == "compute:nova"

    fip = demo.sdk.network.update_ip(fip.id, port_id=vm2.id)
    assert fip.fixed_ip_address == vm2.fixed_ips[0]["ip_address"]

    with demo.http() as c:
        r = c.put(f"/routers/{router.id}/remove_router_interface", json={"subnet_id": sub.id})
        assert r.status_code == 409
        assert error(r)["type"] == "RouterInterfaceInUseByFloatingIP"
        r = c.put(f"/routers/{router.id}", json={"router": {"external_gateway_info": {}}})
        assert r.status_code == 409
        assert error(r)["type"] == "RouterExternalGatewayInUseByFloatingIp"
        r = c.post("/floatingips", json={"floatingip": {"floating_network_id": ext.id,
                                                        "port_id": vm2.id}})
        assert r.status_code == 409
        assert error(r)["type"] == "FloatingIPPortAlreadyAssociated"

    fip = demo.sdk.network.update_ip(fip.id, port_id=None)
    assert fip.port_id is None and fip.router_id is None and fip.port_details is None
    demo.sdk.network.delete_ip(fip)
    assert list(admin.sdk.network.ports(device_id=fip.id)) == []


def test_create_associated_and_port_deletion_disassociates(demo, topology):
    ext, net, _, router = topology
    vm = demo.sdk.network.create_port(network_id=net.id)
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id, port_id=vm.id)
    assert fip.router_id == router.id
    demo.sdk.network.delete_port(vm)
    fip = demo.sdk.network.get_ip(fip.id)
    assert fip.port_id is None and fip.router_id is None


def test_floating_ip_needs_external_network_and_a_router(admin, demo, topology):
    ext, _, _, _ = topology
    lonely_net, _ = tenant_network(demo, cidr="10.31.0.0/24")
    port = demo.sdk.network.create_port(network_id=lonely_net.id)
    with demo.http() as c:
        r = c.post("/floatingips", json={"floatingip": {"floating_network_id": lonely_net.id}})
        assert r.status_code == 400
        assert "not a valid external network" in error(r)["message"]
        r = c.post("/floatingips", json={"floatingip": {"floating_network_id": ext.id,
                                                        "port_id": port.id}})
        assert r.status_code == 404
        assert error(r)["type"] == "ExternalGatewayForFloatingIPNotFound"
        r = c.post("/floatingips", json={"floatingip": {"floating_network_id": ext.id,
                                                        "floating_ip_address": "172.25.4.99"}})
        assert r.status_code == 403
    fip = admin.sdk.network.create_ip(floating_network_id=ext.id,
                                      floating_ip_address="172.25.4.99")
    assert fip.floating_ip_address == "172.25.4.99"


def test_floating_ips_are_scoped(demo, other, topology):
    ext, _, _, _ = topology
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id)
    assert fip.id not in {f.id for f in other.sdk.network.ips()}
    assert [f.id for f in demo.sdk.network.ips(floating_ip_address=fip.floating_ip_address)] \
        == [fip.id]
