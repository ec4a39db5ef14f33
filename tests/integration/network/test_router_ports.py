"""A router's ports come from the router-port association, not from port labels.

Labels (``device_owner``/``device_id``) stay what the port's owner or the router API
wrote; what the router has (its model, its in-use checks, which ports the port API
may not delete) follows the router's own records.
"""

from __future__ import annotations

import pytest

from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers.router import Management, build
from tests.integration.network.helpers import error, external_network, name, tenant_network

INTERFACE = "network:router_interface"
MGMT = "network:astara_management"


def _model(admin, router_id: str) -> dict:
    with admin.http() as c:
        r = c.get(f"/routers/{router_id}/astara_model")
    assert r.status_code == 200, r.text
    return r.json()


def test_orphan_port_with_a_router_owner_label_is_its_owners_to_delete(admin, demo):
    net, _ = tenant_network(demo, cidr="10.40.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    with demo.http() as c:
        # Neutron's policy lets a network's owner use network:* labels on it; a label
        # alone makes no router port, so nothing keeps the port from its owner.
        for device_id in ("", router.id, "no-such-router"):
            r = c.post("/ports", json={"port": {"network_id": net.id, "device_owner": INTERFACE,
                                                "device_id": device_id}})
            assert r.status_code == 201, r.text
            assert _model(admin, router.id)["ports"] == []
            assert c.delete(f"/ports/{r.json()['port']['id']}").status_code == 204
        r = c.post("/ports", json={"port": {"network_id": net.id, "device_owner": INTERFACE,
                                            "device_id": router.id}})
        assert r.status_code == 201, r.text
        assert c.delete(f"/routers/{router.id}").status_code == 204


def test_relabelled_interface_stays_the_routers(admin, demo):
    net, sub = tenant_network(demo, cidr="10.41.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    info = demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    with demo.http() as c:
        r = c.put(f"/ports/{info['port_id']}", json={"port": {
            "device_owner": "compute:nova", "device_id": "vm-1"}})
        assert r.status_code == 200, r.text
        [port] = _model(admin, router.id)["ports"]
        assert (port["id"], port["device_owner"], port["device_id"]) == (
            info["port_id"], INTERFACE, router.id)
        r = c.delete(f"/ports/{info['port_id']}")
        assert r.status_code == 409
        assert error(r)["type"] == "ServicePortInUse"
        r = c.delete(f"/routers/{router.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "RouterInUse"
        r = c.put(f"/routers/{router.id}/remove_router_interface",
                  json={"port_id": info["port_id"]})
        assert r.status_code == 200, r.text
        assert c.delete(f"/routers/{router.id}").status_code == 204


def test_floating_ip_port_is_kept_by_the_floating_ip(admin, demo):
    ext, _ = external_network(admin, cidr="172.24.6.0/24", pool=("172.24.6.10", "172.24.6.20"))
    fip = demo.sdk.network.create_ip(floating_network_id=ext.id)
    [port] = list(admin.sdk.network.ports(device_id=fip.id))
    with admin.http() as c:
        r = c.delete(f"/ports/{port.id}")
        assert r.status_code == 409
        assert error(r)["type"] == "ServicePortInUse"
        assert "network:floatingip" in error(r)["message"]
        # An admin-made port merely labelled network:floatingip is an ordinary port.
        r = c.post("/ports", json={"port": {"network_id": ext.id,
                                            "device_owner": "network:floatingip"}})
        assert r.status_code == 201, r.text
        assert c.delete(f"/ports/{r.json()['port']['id']}").status_code == 204


def test_management_port_is_recorded_when_an_admin_makes_it(admin, demo):
    mgmt_net, _ = tenant_network(admin, cidr="10.42.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    with admin.http() as c:
        r = c.post("/ports", json={"port": {"network_id": mgmt_net.id, "device_owner": MGMT,
                                            "device_id": router.id}})
        assert r.status_code == 201, r.text
        port = r.json()["port"]
        model = _model(admin, router.id)
        assert [(p["id"], p["device_owner"]) for p in model["ports"]] == [(port["id"], MGMT)]
        # The orchestrator deletes it when the appliance goes: not a protected port.
        assert c.delete(f"/ports/{port['id']}").status_code == 204
    assert _model(admin, router.id)["ports"] == []


@pytest.mark.parametrize("owner", [MGMT, "network:router_gateway", "network:floatingip"])
def test_members_cannot_use_service_owners_even_on_their_network(demo, owner):
    net, _ = tenant_network(demo, cidr="10.43.0.0/24")
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net.id, "device_owner": owner}})
        assert r.status_code == 403
        assert error(r)["type"] == "PolicyNotAuthorized"
        assert "create_port:device_owner" in error(r)["message"]
        port = c.post("/ports", json={"port": {"network_id": net.id}}).json()["port"]
        r = c.put(f"/ports/{port['id']}", json={"port": {"device_owner": owner}})
        assert r.status_code == 403
        assert "update_port:device_owner" in error(r)["message"]


def test_a_port_made_on_the_gateway_address_becomes_an_interface_like_a_subnet_add(
        network_api, admin, demo):
    """Neutron lets a port take a subnet's gateway address (nothing holds it until a
    router does); added by ``port_id`` it is the router's interface exactly as one
    added by ``subnet_id``: recorded, in the model, in the appliance's config."""
    net1, sub1 = tenant_network(demo, cidr="10.48.0.0/24")
    net2, sub2 = tenant_network(demo, cidr="10.49.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    by_subnet = demo.sdk.network.add_interface_to_router(router, subnet_id=sub1.id)
    with demo.http() as c:
        r = c.post("/ports", json={"port": {"network_id": net2.id, "fixed_ips": [
            {"subnet_id": sub2.id, "ip_address": "10.49.0.1"}]}})
        assert r.status_code == 201, r.text
        gw_port = r.json()["port"]
        assert gw_port["fixed_ips"] == [{"subnet_id": sub2.id, "ip_address": "10.49.0.1"}]
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"port_id": gw_port["id"]})
        assert r.status_code == 200, r.text
        assert (r.json()["port_id"], r.json()["subnet_ids"]) == (gw_port["id"], [sub2.id])
        # The gateway address is now held: a router adding the subnet again is refused.
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"subnet_id": sub2.id})
        assert r.status_code == 400
        r = c.delete(f"/ports/{gw_port['id']}")
        assert r.status_code == 409
        assert error(r)["type"] == "ServicePortInUse"
    port = demo.sdk.network.get_port(gw_port["id"])
    assert (port.device_owner, port.device_id) == (INTERFACE, router.id)
    model = _model(admin, router.id)
    assert sorted((p["id"], p["device_owner"]) for p in model["ports"]) == sorted(
        [(by_subnet["port_id"], INTERFACE), (gw_port["id"], INTERFACE)])
    assert {s["id"] for s in model["subnets"]} == {sub1.id, sub2.id}

    mgmt_net, _ = tenant_network(admin, cidr="10.50.0.0/24")
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        config = build(client.router_model(router.id), Management(
            mac_address="fa:16:3e:00:00:50", addresses=("fdca::5/64",),
            orchestrator_address="fdca::1", metadata_port=9697))
    finally:
        client.close()
    internal = {n.network_id: n for n in config.networks if n.network_type == "internal"}
    assert set(internal) == {net1.id, net2.id}
    for net, sub, cidr in ((net1, sub1, "10.48.0.1/24"), (net2, sub2, "10.49.0.1/24")):
        assert [str(a) for a in internal[net.id].interface.addresses] == [cidr]
        assert [str(s.cidr) for s in internal[net.id].subnets] == [sub.cidr]


def test_a_port_added_by_port_id_forwards_like_one_added_by_subnet_id(demo):
    """The compute host's anti-spoofing holds a port with port security to its own
    addresses; a router interface forwards other hosts' traffic, so a port added by
    ``port_id`` loses port security and its address pairs, as a ``subnet_id`` add's has none."""
    _, sub1 = tenant_network(demo, cidr="10.51.0.0/24")
    net2, sub2 = tenant_network(demo, cidr="10.52.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    by_subnet = demo.sdk.network.add_interface_to_router(router, subnet_id=sub1.id)
    with demo.http() as c:
        r = c.post("/ports", json={"port": {
            "network_id": net2.id, "fixed_ips": [{"subnet_id": sub2.id}],
            "allowed_address_pairs": [{"ip_address": "10.52.0.0/24"}]}})
        assert r.status_code == 201, r.text
        made = r.json()["port"]
        assert (made["port_security_enabled"], len(made["allowed_address_pairs"])) == (True, 1)
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"port_id": made["id"]})
        assert r.status_code == 200, r.text
        fields = ("port_security_enabled", "allowed_address_pairs", "device_owner",
                  "device_id")
        shown, like = ({f: c.get(f"/ports/{pid}").json()["port"][f] for f in fields}
                       for pid in (made["id"], by_subnet["port_id"]))
    assert shown == like == {"port_security_enabled": False, "allowed_address_pairs": [],
                             "device_owner": INTERFACE, "device_id": router.id}


def test_an_ipv6_default_gateway_is_taken_only_by_a_port_with_no_owner_or_a_routers(demo):
    """Neutron's check_subnet_ip: an IPv6 subnet's first address (its default gateway,
    the Subnet-Router anycast address) is refused to a port with a device owner other
    than a router's (400 InvalidIpForSubnet); a port with none may take it and then be
    added to a router by ``port_id``."""
    net = demo.sdk.network.create_network(name=name("v6"))
    sub = demo.sdk.network.create_subnet(network_id=net.id, cidr="2001:db8:53::/64",
                                         ip_version=6)
    assert sub.gateway_ip == "2001:db8:53::"
    router = demo.sdk.network.create_router(name=name("r"))
    fixed = [{"subnet_id": sub.id, "ip_address": "2001:db8:53::"}]
    with demo.http() as c:
        for owner in ("compute:nova", "network:dhcp"):
            r = c.post("/ports", json={"port": {"network_id": net.id, "device_owner": owner,
                                                "fixed_ips": fixed}})
            assert r.status_code == 400, r.text
            assert error(r)["type"] == "InvalidIpForSubnet"
        r = c.post("/ports", json={"port": {"network_id": net.id, "fixed_ips": fixed}})
        assert r.status_code == 201, r.text
        port = r.json()["port"]
        assert port["fixed_ips"] == fixed
        r = c.put(f"/routers/{router.id}/add_router_interface", json={"port_id": port["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["subnet_ids"] == [sub.id]
        shown = c.get(f"/ports/{port['id']}").json()["port"]
    assert (shown["device_owner"], shown["fixed_ips"]) == (INTERFACE, fixed)
