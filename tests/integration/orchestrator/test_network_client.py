"""The orchestrator's network client against the real network API: a router's
model, its management port made and removed as admin, from the router's records."""

from __future__ import annotations

import uuid

import pytest
from tests.integration.network.helpers import external_network, name, tenant_network

from astara.common.device_owners import MGMT_OWNER
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers import port_status


def test_management_port_lifecycle_and_model(network_api, admin, demo, other):
    mgmt_net, mgmt_sub = tenant_network(admin, cidr="10.44.0.0/24")
    ext, _ = external_network(admin, cidr="172.24.7.0/24", pool=("172.24.7.10", "172.24.7.20"))
    _, sub = tenant_network(demo, cidr="10.45.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"),
                                            external_gateway_info={"network_id": ext.id})
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    # Another project's port labelled as this router's: refused, and never in the model.
    _, osub = tenant_network(other, cidr="10.46.0.0/24")
    with other.http() as c:
        r = c.post("/ports", json={"port": {"network_id": osub.network_id,
                                            "device_owner": "network:router_interface",
                                            "device_id": router.id}})
        assert r.status_code == 409
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        assert client.management_port(router.id, create=False) is None
        port = client.management_port(router.id, create=True)
        assert client.management_port(router.id, create=True)["id"] == port["id"]
        model = client.router_model(router.id)
        roles = sorted(p["device_owner"] for p in model.ports)
        assert roles == [MGMT_OWNER, "network:router_gateway", "network:router_interface"]
        assert set(model.networks) == {sub.network_id, ext.id}
        assert model.subnets[mgmt_sub.id]["cidr"] == "10.44.0.0/24"  # sizes the mgmt address
        client.delete_management_port(router.id)
        model = client.router_model(router.id)
        assert MGMT_OWNER not in {p["device_owner"] for p in model.ports}
        assert client.routers_on_network(sub.network_id)[0].id == router.id
    finally:
        client.close()


def test_a_router_is_found_by_its_management_ports_address_on_our_network_only(
        network_api, admin, demo):
    """What the metadata proxy asks of an appliance held by another member: the router
    whose management port holds the address, on the management network only."""
    mgmt_net, _ = tenant_network(admin, cidr="10.48.0.0/24")
    other_net, other_sub = tenant_network(admin, cidr="10.48.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        port = client.management_port(router.id, create=True)
        address = port["fixed_ips"][0]["ip_address"]
        # The same address on another network, labelled as another router's: not ours.
        with admin.http() as c:
            r = c.post("/ports", json={"port": {
                "network_id": other_net.id, "device_id": "planted", "device_owner": MGMT_OWNER,
                "fixed_ips": [{"subnet_id": other_sub.id, "ip_address": address}]}})
            assert r.status_code == 201, r.text
        assert client.router_by_management_address(address) == router.id
        assert client.router_by_management_address("10.48.0.250") is None
        client.delete_management_port(router.id)
        assert client.router_by_management_address(address) is None
    finally:
        client.close()


def test_a_deleted_router_first_keeps_the_one_call_model(network_api, admin, demo):
    """A 404 for a router just deleted is not 'no astara_model route': the fast path stays."""
    mgmt_net, _ = tenant_network(admin, cidr="10.47.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    gone = demo.sdk.network.create_router(name=name("gone"))
    demo.sdk.network.delete_router(gone)
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        assert client.router_model(gone.id) is None
        before = client.calls
        assert client.router_model(router.id).router["id"] == router.id
        assert client.calls - before == 1  # one read, not the five-call gather
    finally:
        client.close()


def test_a_neutron_without_the_route_falls_back_to_gathering():
    """A 404 on the route itself (a real Neutron) turns the fast path off, and only that."""
    import httpx

    seen: list[str] = []

    def neutron(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        path = request.url.path
        if path.endswith("/astara_model"):
            return httpx.Response(404, text="The resource could not be found.")
        if path == "/v2.0/routers/r1":
            return httpx.Response(200, json={"router": {"id": "r1", "project_id": "p"}})
        key = path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={key: []})

    client = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    client._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                                transport=httpx.MockTransport(neutron))
    try:
        assert client.router_model("r1").router["id"] == "r1"
        seen.clear()
        assert client.router_model("r1").router["id"] == "r1"
        assert not any(p.endswith("/astara_model") for p in seen)
    finally:
        client.close()


def test_routers_on_a_network_come_from_the_router_ports_not_labels(network_api, admin,
                                                                      demo, other):
    """A member's port labelled as a router interface on its own network names no
    router (its device_id may be '.*', or any id naming no router): the orchestrator
    hears of the routers the router API attached, with their own project."""
    mgmt_net, _ = tenant_network(admin, cidr="10.48.0.0/24")
    _, sub = tenant_network(demo, cidr="10.49.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    onet, _ = tenant_network(other, cidr="10.50.0.0/24")
    with other.http() as c:
        for device_id in (".*", "6f1c0d7e-8a9b-4c2d-9e3f-405162738495"):
            r = c.post("/ports", json={"port": {"network_id": onet.id,
                                                "device_owner": "network:router_interface",
                                                "device_id": device_id}})
            assert r.status_code == 201, r.text
        # The view is the orchestrator's (admin) alone.
        assert c.get(f"/networks/{onet.id}/astara_routers").status_code == 403
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        assert client.routers_on_network(onet.id) == []
        [ref] = client.routers_on_network(sub.network_id)
        assert (ref.id, ref.tenant_id) == (router.id, demo.project)
        assert client.routers_on_network("00000000-0000-0000-0000-000000000000") == []
        assert client.routers_on_network(onet.id) == []  # the route still used, no labels
    finally:
        client.close()


def test_a_neutron_without_the_routers_route_is_asked_for_labelled_ports():
    import httpx

    seen: list[str] = []

    def neutron(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/astara_routers"):
            return httpx.Response(404, text="The resource could not be found.")
        return httpx.Response(200, json={"ports": [
            {"device_id": "r1", "project_id": "p", "device_owner": "network:router_interface"}]})

    client = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    client._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                                transport=httpx.MockTransport(neutron))
    try:
        assert [r.id for r in client.routers_on_network("n1")] == ["r1"]
        seen.clear()
        assert [r.id for r in client.routers_on_network("n1")] == ["r1"]
        assert seen == ["/v2.0/ports"]
    finally:
        client.close()


def test_a_models_fingerprint_changes_with_the_model_and_only_then(network_api, admin, demo):
    ext, _ = external_network(admin, cidr="172.24.9.0/24", pool=("172.24.9.10", "172.24.9.20"))
    router = demo.sdk.network.create_router(name=name("r"),
                                            external_gateway_info={"network_id": ext.id})
    client = HttpNetworkAPI(network_api.url, "mgmt", admin.headers)
    try:
        first = client.router_model(router.id)
        assert first.fingerprint and client.router_model(router.id).fingerprint == \
            first.fingerprint
        _, sub = tenant_network(demo, cidr="10.47.0.0/24")
        demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
        assert client.router_model(router.id).fingerprint != first.fingerprint
    finally:
        client.close()


def test_a_routers_project_is_one_small_read_of_its_record(network_api, admin, demo):
    # What intake shards a new router's key by: its own record's project, not a message's.
    mgmt_net, _ = tenant_network(admin, cidr="10.49.0.0/24")
    router = demo.sdk.network.create_router(name=name("r"))
    gone = demo.sdk.network.create_router(name=name("gone"))
    demo.sdk.network.delete_router(gone)
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        before = client.calls
        assert client.router_project(router.id) == demo.project
        assert client.calls - before == 1
        assert client.router_project(gone.id) is None
    finally:
        client.close()


def test_instance_ports_to_activate_from_the_real_model_and_set_active(network_api, admin,
                                                                       demo):
    """The router's model as the network API gives it: a bound instance port is chosen;
    an unbound one and one on a network the router is not on are not; the client sets
    it ACTIVE as admin, and a port gone meanwhile is no error."""
    router = demo.sdk.network.create_router(name=name("r"))
    net, sub = tenant_network(demo, cidr="10.48.0.0/24")
    demo.sdk.network.add_interface_to_router(router, subnet_id=sub.id)
    lone, _ = tenant_network(demo, cidr="10.50.0.0/24")

    def vm_port(network_id: str, bound: bool) -> str:
        port = demo.sdk.network.create_port(network_id=network_id, device_owner="compute:nova",
                                            device_id=str(uuid.uuid4()))
        if bound:
            with admin.http() as c:
                r = c.put(f"/ports/{port.id}", json={"port": {"binding:host_id": "h1"}})
                assert r.status_code == 200, r.text
        return port.id

    bound, unbound, elsewhere = vm_port(net.id, True), vm_port(net.id, False), \
        vm_port(lone.id, True)
    client = HttpNetworkAPI(network_api.url, "mgmt", admin.headers)
    try:
        assert port_status.to_activate(client.router_model(router.id)) == (bound,)
        client.set_port_status(bound, "ACTIVE")
        assert demo.sdk.network.get_port(bound).status == "ACTIVE"
        assert port_status.to_activate(client.router_model(router.id)) == ()
        assert {demo.sdk.network.get_port(p).status for p in (unbound, elsewhere)} == {"DOWN"}
        demo.sdk.network.delete_port(unbound)
        client.set_port_status(unbound, "ACTIVE")  # gone: nothing to do
    finally:
        client.close()


def test_a_neutron_where_port_status_is_read_only_is_asked_once():
    """Neutron answers 400 for a read-only attribute: no retry storm, no error."""
    import httpx

    seen: list[str] = []

    def neutron(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(400, json={"NeutronError": {
            "type": "HTTPBadRequest", "detail": "",
            "message": "Cannot update read-only attribute status"}})

    client = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    client._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                                transport=httpx.MockTransport(neutron))
    try:
        client.set_port_status("p1", "ACTIVE")
        client.set_port_status("p2", "ACTIVE")
        assert seen == ["/v2.0/ports/p1"]
    finally:
        client.close()


def test_another_400_is_an_error_to_retry_not_a_reason_to_stop_asking():
    import httpx

    from astara.orchestrator.clients.base import RemoteError

    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(400, json={"NeutronError": {
            "type": "HTTPBadRequest", "detail": "", "message": "Invalid input for operation"}})

    client = HttpNetworkAPI("http://neutron.invalid:9696", "mgmt", {})
    client._http = httpx.Client(base_url="http://neutron.invalid:9696/v2.0",
                                transport=httpx.MockTransport(api))
    try:
        for port in ("p1", "p2"):
            with pytest.raises(RemoteError):
                client.set_port_status(port, "ACTIVE")
        assert seen == ["/v2.0/ports/p1", "/v2.0/ports/p2"]
    finally:
        client.close()


def test_a_load_balancers_management_port_and_vip_records(network_api, admin, demo):
    """What the loadbalancer driver reads as admin: its management port (device_id the
    load balancer's id: no router, so no router association) and the VIP's records."""
    mgmt_net, mgmt_sub = tenant_network(admin, cidr="10.48.0.0/24")
    _, sub = tenant_network(demo, cidr="10.49.0.0/24")
    lb_id = str(uuid.uuid4())
    vip = demo.sdk.network.create_port(network_id=sub.network_id, device_owner="Octavia",
                                       device_id=f"lb-{lb_id}",
                                       fixed_ips=[{"subnet_id": sub.id}])
    client = HttpNetworkAPI(network_api.url, mgmt_net.id, admin.headers)
    try:
        port = client.management_port(lb_id, create=True)
        assert port["device_id"] == lb_id and port["device_owner"] == MGMT_OWNER
        assert client.management_port(lb_id, create=False)["id"] == port["id"]
        assert client.show("subnets", port["fixed_ips"][0]["subnet_id"])["id"] == mgmt_sub.id
        shown = client.show("ports", vip.id)
        assert shown["device_owner"] == "Octavia" and shown["mac_address"] == vip.mac_address
        assert client.show("subnets", sub.id)["cidr"] == "10.49.0.0/24"
        assert client.show("networks", sub.network_id)["mtu"] > 0
        assert client.show("ports", str(uuid.uuid4())) is None
        client.delete_management_port(lb_id)
        assert client.management_port(lb_id, create=False) is None
    finally:
        client.close()
