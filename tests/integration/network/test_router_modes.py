"""Router modes as Neutron 29 answers them: extra routes (``extraroute``), the gateway's
``enable_snat`` (``ext-gw-mode``), and ``ha`` (``l3-ha``: an admin's attribute)."""

from __future__ import annotations

import pytest

from tests.integration.network.helpers import error, external_network, name, tenant_network


@pytest.fixture
def routed(demo):
    """A router with one interface on 10.28.0.0/24 (the router holds 10.28.0.1)."""
    net, sub = tenant_network(demo, cidr="10.28.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    return router, net, sub


def put_routes(client, router_id: str, routes: list[dict]):
    return client.put(f"/routers/{router_id}", json={"router": {"routes": routes}})


@pytest.mark.parametrize(("route", "reason"), [
    ({"destination": "192.168.101.0/24", "nexthop": "10.99.0.1"},
     "the nexthop is not connected with router"),
    ({"destination": "192.168.101.0/24", "nexthop": "10.28.0.1"},
     "the nexthop is used by router"),
    ({"destination": "2001:db8::/64", "nexthop": "10.28.0.50"},
     "the nexthop is not connected with router"),
])
def test_a_bad_nexthop_is_invalid_routes(demo, routed, route, reason):
    router, _, _ = routed
    with demo.http() as c:
        r = put_routes(c, router.id, [route])
        assert r.status_code == 400
        err = error(r)
        assert err["type"] == "InvalidRoutes"
        assert err["message"] == f"Invalid format for routes: {[route]}, {reason}"
        assert c.get(f"/routers/{router.id}").json()["router"]["routes"] == []


def test_a_malformed_nexthop_is_refused_by_the_attribute_check(demo, routed):
    router, _, _ = routed
    with demo.http() as c:
        r = put_routes(c, router.id, [{"destination": "192.168.1.0/24", "nexthop": "abc"}])
        assert r.status_code == 400 and "abc" in error(r)["message"]


def test_the_interface_a_route_needs_cannot_go(demo, routed):
    router, net, sub = routed
    routes = [{"destination": "192.168.100.0/24", "nexthop": "10.28.0.50"}]
    assert demo.sdk.network.update_router(router.id, routes=routes).routes == routes
    port = next(p for p in demo.sdk.network.ports(device_id=router.id))
    with demo.http() as c:
        for body in ({"subnet_id": sub.id}, {"port_id": port.id}):
            r = c.put(f"/routers/{router.id}/remove_router_interface", json=body)
            assert r.status_code == 409
            err = error(r)
            assert err["type"] == "RouterInterfaceInUseByRoute"
            assert err["message"] == (
                f"Router interface for subnet {sub.id} on router {router.id} cannot be "
                "deleted, as it is required by one or more routes.")
    demo.sdk.network.update_router(router.id, routes=[])
    demo.sdk.network.remove_interface_from_router(router, subnet_id=sub.id)


def test_a_nexthop_on_the_gateway_subnet_is_accepted(admin):
    ext, _ = external_network(admin, cidr="172.25.4.0/24",
                              pool=("172.25.4.10", "172.25.4.200"))
    router = admin.sdk.network.create_router(external_gateway_info={"network_id": ext.id})
    routes = [{"destination": "198.18.0.0/15", "nexthop": "172.25.4.254"}]
    assert admin.sdk.network.update_router(router.id, routes=routes).routes == routes


def test_enable_snat_defaults_to_true_and_an_admin_turns_it_off(admin):
    ext, _ = external_network(admin, cidr="172.25.5.0/24",
                              pool=("172.25.5.10", "172.25.5.200"))
    router = admin.sdk.network.create_router(external_gateway_info={"network_id": ext.id})
    assert router.external_gateway_info["enable_snat"] is True
    router = admin.sdk.network.update_router(router.id, external_gateway_info={
        "network_id": ext.id, "enable_snat": False})
    assert router.external_gateway_info["enable_snat"] is False
    with admin.http() as c:
        model = c.get(f"/routers/{router.id}/astara_model").json()
    assert model["router"]["external_gateway_info"]["enable_snat"] is False


def test_ha_is_an_admin_attribute_on_create_and_update(admin, demo):
    """As Neutron's default policy: only an admin sets ``ha`` (and sees it)."""
    with admin.http() as c:
        r = c.post("/routers", json={"router": {"name": "ha", "ha": True}})
        assert r.status_code == 201 and r.json()["router"]["ha"] is True
        ha_id = r.json()["router"]["id"]
        r = c.post("/routers", json={"router": {"name": "single", "ha": False}})
        assert r.status_code == 201 and r.json()["router"]["ha"] is False
        router_id = r.json()["router"]["id"]
        r = c.put(f"/routers/{router_id}", json={"router": {"ha": True}})
        assert r.status_code == 200 and r.json()["router"]["ha"] is True
        assert c.get(f"/routers/{router_id}/astara_model").json()["router"]["ha"] is True
        r = c.put(f"/routers/{router_id}", json={"router": {"ha": False}})
        assert r.status_code == 200 and r.json()["router"]["ha"] is False
        for rid in (ha_id, router_id):
            assert c.delete(f"/routers/{rid}").status_code == 204
    with demo.http() as c:
        r = c.post("/routers", json={"router": {"name": "ha", "ha": True}})
        assert r.status_code == 403
        assert error(r)["type"] == "PolicyNotAuthorized"
        r = c.post("/routers", json={"router": {"name": "mine"}})
        assert r.status_code == 201 and "ha" not in r.json()["router"]
        router_id = r.json()["router"]["id"]
        r = c.put(f"/routers/{router_id}", json={"router": {"ha": True}})
        assert r.status_code == 403
        assert c.delete(f"/routers/{router_id}").status_code == 204


def test_an_ha_member_port_has_no_address_and_goes_with_its_network(admin, demo):
    """What the orchestrator makes for an HA router's second appliance (docs/ha.md): an
    admin-labelled port without address or port security, which a member cannot make,
    and which the network's deletion takes with it (as Neutron's HA ports)."""
    net, _ = tenant_network(demo, cidr="10.29.0.0/24")
    body = {"port": {"network_id": net.id, "device_id": "r.ha1", "fixed_ips": [],
                     "device_owner": "network:router_ha_interface",
                     "port_security_enabled": False, "name": "ASTARA:HA:r.ha1"}}
    with demo.http() as c:
        assert c.post("/ports", json=body).status_code == 403
    with admin.http() as c:
        r = c.post("/ports", json=body)
        assert r.status_code == 201
        port = r.json()["port"]
        assert port["fixed_ips"] == [] and port["port_security_enabled"] is False
        assert [p["id"] for p in c.get("/ports", params={
            "device_id": "r.ha1", "device_owner": "network:router_ha_interface"}
        ).json()["ports"]] == [port["id"]]
    with demo.http() as c:
        assert c.delete(f"/networks/{net.id}").status_code == 204
    with admin.http() as c:
        assert c.get(f"/ports/{port['id']}").status_code == 404
