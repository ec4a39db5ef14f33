"""BYONF against the real network and compute APIs: the orchestrator's clients read a
project's entry as an admin, check its image and flavor with the compute API, and boot
an appliance from them (what ``Executor`` does for CreateVM)."""

from __future__ import annotations

from astara.compute_service import catalog
from astara.orchestrator.byonf import BootSpec, BootSpecs
from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.drivers.router import NAMING, RouterDriver

DEFAULT = BootSpec("astara-appliance", "astara.appliance")


def test_a_projects_router_boots_from_its_entry(user, admin_user, compute, network_api):
    router = user.sdk.network.create_router(name="byonf-r")
    network = HttpNetworkAPI(network_api.url, "unused", admin_user.headers)
    nova = HttpComputeAPI(f"{compute.api.url}/", admin_user.headers, DEFAULT.image,
                          DEFAULT.flavor)
    specs = BootSpecs(network, nova, DEFAULT, enabled=True)
    try:
        # The project comes from the router's own record.
        project = RouterDriver(network).read(router.id).project_id
        assert project == user.project
        assert specs.resolve("router", project) == (DEFAULT, None)
        r = admin_user.sdk.network.post("/byonfs", json={"byonf": {
            "tenant_id": project, "function_type": "router",
            "image_uuid": catalog.APPLIANCE_IMAGE, "flavor_id": "2"}})
        assert r.status_code == 201, r.text
        entry = r.json()["byonf"]
        spec, problem = specs.resolve("router", project)
        assert problem is None
        assert spec == BootSpec(catalog.APPLIANCE_IMAGE, "2", f"byonf {entry['id']}")
        # Disabled, or another kind: the defaults.
        assert BootSpecs(network, nova, DEFAULT, False).resolve("router", project)[0] \
            == DEFAULT
        assert specs.resolve("loadbalancer", project)[0] == DEFAULT

        net = admin_user.sdk.network.create_network(name="byonf-mgmt")
        admin_user.sdk.network.create_subnet(network_id=net.id, ip_version=6,
                                             cidr="fdca:3ba5:a17a:acd7::/64")
        port = admin_user.sdk.network.create_port(network_id=net.id)
        who = NAMING.identity(router.id)
        server_id = nova.boot(who, [port.id], "req-byonf-test-1", spec)
        admin_user.wait_status(server_id, "ACTIVE")
        shown = nova._req("GET", f"/servers/{server_id}").json()["server"]  # at 2.1
        assert shown["flavor"]["id"] == "2"
        assert shown["image"]["id"] == catalog.APPLIANCE_IMAGE
        admin_user.sdk.compute.delete_server(server_id)

        # An image the compute API does not know: named, with where it came from.
        admin_user.sdk.network.put(f"/byonfs/{entry['id']}", json={"byonf": {
            "image_uuid": "5a1e0000-0000-4000-8000-00000000dead"}})
        spec, problem = specs.resolve("router", project)
        assert problem == ("no image named '5a1e0000-0000-4000-8000-00000000dead' in the "
                           f"compute service (image and flavor from byonf {entry['id']})")
        admin_user.sdk.network.put(f"/byonfs/{entry['id']}", json={"byonf": {
            "image_uuid": catalog.APPLIANCE_IMAGE, "flavor_id": "no-such-flavor"}})
        assert "no flavor named 'no-such-flavor'" in specs.resolve("router", project)[1]
        admin_user.sdk.network.delete(f"/byonfs/{entry['id']}")
    finally:
        network.close()
        nova.close()
