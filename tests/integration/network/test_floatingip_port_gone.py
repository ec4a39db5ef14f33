"""A floating IP and its port stay consistent: found by the fuzzer, pinned here."""

from __future__ import annotations

from tests.integration.network.helpers import error, external_network, name, tenant_network


def test_removing_a_router_port_disassociates_its_floating_ip(admin, demo):
    ext, _ = external_network(admin, cidr="172.26.4.0/24", pool=("172.26.4.10", "172.26.4.99"))
    net, sub = tenant_network(demo, cidr="10.31.0.0/24")
    gw = {"network_id": ext.id}
    r1 = demo.sdk.network.create_router(name=name("r1"), external_gateway_info=gw)
    demo.sdk.network.add_interface_to_router(r1, subnet_id=sub.id)
    port = demo.sdk.network.create_port(network_id=net.id)
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id, port_id=port.id)
    assert fip.router_id == r1.id
    # The same port becomes another router's interface, then is removed (and deleted).
    r2 = demo.sdk.network.create_router(name=name("r2"))
    with demo.http() as c:
        r = c.put(f"/routers/{r2.id}/add_router_interface", json={"port_id": port.id})
        assert r.status_code == 200, r.text
        r = c.put(f"/routers/{r2.id}/remove_router_interface", json={"port_id": port.id})
        assert r.status_code == 200, r.text
        assert c.get(f"/ports/{port.id}").status_code == 404
        shown = c.get(f"/floatingips/{fip.id}").json()["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"], shown["router_id"]) == (None, None, None)



def test_the_address_of_a_floating_ip_stays_on_its_port(admin, demo):
    ext, _ = external_network(admin, cidr="172.28.4.0/24", pool=("172.28.4.10", "172.28.4.99"))
    net, sub = tenant_network(demo, cidr="10.34.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"), external_gateway_info={
        "network_id": ext.id})
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    port = demo.sdk.network.create_port(network_id=net.id)
    address = port.fixed_ips[0]["ip_address"]
    demo.sdk.network.create_ip(floating_network_id=ext.id, port_id=port.id)
    with demo.http() as c:
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": [
            {"subnet_id": sub.id, "ip_address": "10.34.0.77"}]}})
        assert r.status_code == 400
        assert error(r)["message"] == (
            f"Bad port request: Cannot update the fixed_ips of the port {port.id}, because its "
            "original fixed_ip has been associated to a floating ip.")
        r = c.put(f"/ports/{port.id}", json={"port": {"fixed_ips": [
            {"subnet_id": sub.id, "ip_address": address},
            {"subnet_id": sub.id, "ip_address": "10.34.0.78"}]}})
        assert r.status_code == 200, r.text
