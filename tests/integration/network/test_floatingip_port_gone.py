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


def test_removing_a_subnet_from_a_router_port_keeps_a_floating_ip_address(admin, demo):
    # Fuzz seed 2104488159: a port holding another router's floating IP became r2's
    # interface; removing its IPv4 subnet from r2 took the address off the port (Neutron
    # updates the port to its other addresses, and that update is refused).
    ext, _ = external_network(admin, cidr="172.29.4.0/24", pool=("172.29.4.10", "172.29.4.99"))
    net, v4 = tenant_network(demo, cidr="10.35.0.0/24")
    demo.sdk.network.create_subnet(network_id=net.id, cidr="fd35::/64", ip_version=6,
                                   ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    r1 = demo.sdk.network.create_router(name=name("r1"), external_gateway_info={
        "network_id": ext.id})
    demo.sdk.network.add_interface_to_router(r1, subnet_id=v4.id)
    port = demo.sdk.network.create_port(network_id=net.id)
    address = next(a["ip_address"] for a in port.fixed_ips if a["subnet_id"] == v4.id)
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id, port_id=port.id)
    assert (fip.router_id, fip.fixed_ip_address) == (r1.id, address)
    r2 = demo.sdk.network.create_router(name=name("r2"))
    with demo.http() as c:
        r = c.put(f"/routers/{r2.id}/add_router_interface", json={"port_id": port.id})
        assert r.status_code == 200, r.text
        r = c.put(f"/routers/{r2.id}/remove_router_interface", json={"subnet_id": v4.id})
        assert r.status_code == 400, r.text
        assert error(r) == {"type": "BadRequest", "detail": "", "message": (
            f"Bad port request: Cannot update the fixed_ips of the port {port.id}, because its "
            "original fixed_ip has been associated to a floating ip.")}
        kept = c.get(f"/ports/{port.id}").json()["port"]["fixed_ips"]
        assert address in {a["ip_address"] for a in kept}
        assert len(kept) == 2
        shown = c.get(f"/floatingips/{fip.id}").json()["floatingip"]
        assert (shown["port_id"], shown["fixed_ip_address"]) == (port.id, address)
        # Once the floating IP lets go, the subnet leaves the port as before.
        r = c.put(f"/floatingips/{fip.id}", json={"floatingip": {"port_id": None}})
        assert r.status_code == 200, r.text
        r = c.put(f"/routers/{r2.id}/remove_router_interface", json={"subnet_id": v4.id})
        assert r.status_code == 200, r.text
        left = c.get(f"/ports/{port.id}").json()["port"]["fixed_ips"]
        assert [a["ip_address"] for a in left] == [a["ip_address"] for a in kept
                                                    if a["subnet_id"] != v4.id]


def test_a_floating_ip_is_not_associated_with_an_ipv6_address(admin, demo):
    # An IPv6 (here SLAAC) address can leave its port with its subnet or the port's
    # MAC: Neutron associates floating IPs with IPv4 addresses only.
    ext, _ = external_network(admin, cidr="172.30.4.0/24", pool=("172.30.4.10", "172.30.4.99"))
    net, v4 = tenant_network(demo, cidr="10.36.0.0/24")
    v6 = demo.sdk.network.create_subnet(network_id=net.id, cidr="fd36::/64", ip_version=6,
                                        ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    router = demo.sdk.network.create_router(name=name("r"), external_gateway_info={
        "network_id": ext.id})
    demo.sdk.network.add_interface_to_router(router, subnet_id=v4.id)
    demo.sdk.network.add_interface_to_router(router, subnet_id=v6.id)
    port = demo.sdk.network.create_port(network_id=net.id)
    v6_address = next(a["ip_address"] for a in port.fixed_ips if a["subnet_id"] == v6.id)
    message = (f"Bad floatingip request: Cannot process floating IP association with "
               f"{v6_address}, since that is not an IPv4 address.")
    with demo.http() as c:
        r = c.post("/floatingips", json={"floatingip": {
            "floating_network_id": ext.id, "port_id": port.id, "fixed_ip_address": v6_address}})
        assert r.status_code == 400, r.text
        assert error(r)["message"] == message
        r = c.post("/floatingips", json={"floatingip": {"floating_network_id": ext.id}})
        assert r.status_code == 201, r.text
        fip_id = r.json()["floatingip"]["id"]
        r = c.put(f"/floatingips/{fip_id}", json={"floatingip": {
            "port_id": port.id, "fixed_ip_address": v6_address}})
        assert r.status_code == 400, r.text
        assert error(r)["message"] == message
        shown = c.get(f"/floatingips/{fip_id}").json()["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"]) == (None, None)
