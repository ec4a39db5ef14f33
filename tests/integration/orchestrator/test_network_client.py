"""The orchestrator's network client against the real network API: a router's
model, its management port made and removed as admin, from the router's records."""

from __future__ import annotations

from tests.integration.network.helpers import external_network, name, tenant_network

from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers.router import MGMT_OWNER


def test_management_port_lifecycle_and_model(network_api, admin, demo, other):
    mgmt_net, _ = tenant_network(admin, cidr="10.44.0.0/24")
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
        client.delete_management_port(router.id)
        model = client.router_model(router.id)
        assert MGMT_OWNER not in {p["device_owner"] for p in model.ports}
        assert client.routers_on_network(sub.network_id)[0].id == router.id
    finally:
        client.close()
