"""A tenant's network named like the management network gets no management treatment:
the compute API marks an appliance's management port from the network's owner (the
network API's record), and the agent's decisions follow that mark only."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from astara.compute_service import catalog
from astara.compute_service.agent import mgmt_conflict, vxlan
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.models import Instance, Job


def _net(who, name: str, cidr: str, **fields):
    net = who.sdk.network.create_network(name=name, **fields)
    who.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr)
    return net


def test_a_tenants_network_named_like_management_gets_no_management_treatment(
        user, admin_user, other_user, compute):
    name = compute.settings.management_network  # "astara-mgmt", the all-in-one's default
    # the tenant names its network like the management network BEFORE the real one is
    # made, and puts it on its router: the orchestrator plugs that port into the appliance
    tenant_net = _net(user, name, "10.71.0.0/24")
    router = user.sdk.network.create_router(name="r-named-like-mgmt")
    subnet_id = user.sdk.network.get_network(tenant_net.id).subnet_ids[0]
    info = user.sdk.network.add_interface_to_router(router, subnet_id=subnet_id)
    mgmt = _net(admin_user, name, "10.72.0.0/24")  # the appliance's project's own
    # an admin's network so named in another project: not the appliance project's either
    elsewhere = _net(admin_user, name, "10.73.0.0/24", project_id=other_user.project)
    try:
        server = admin_user.sdk.compute.create_server(
            name="ak-mgmt", image_id=catalog.APPLIANCE_IMAGE, flavor_id="42",
            networks=[{"uuid": mgmt.id}, {"port": info["port_id"]},
                      {"uuid": elsewhere.id}])
        admin_user.wait_status(server.id, "ACTIVE")
        # the ports it booted with, read before the attach: the attached port joins
        # them as soon as the agent's event lands
        with compute.db.read() as s:
            booted = list(s.scalars(select(Instance).where(Instance.id == server.id))
                          .one().ports)
        with httpx.Client(base_url=compute.api.url + "/v2.1",
                          headers=admin_user.headers) as c:  # os-interface attach path
            r = c.post(f"/servers/{server.id}/os-interface",
                       json={"interfaceAttachment": {"net_id": tenant_net.id}})
        assert r.status_code == 200, r.text
        with compute.db.read() as s:
            job = s.scalars(select(Job).where(Job.instance_id == server.id,
                                              Job.op == "attach")).one()
            attached = job.payload["port"]  # what the agent is given to plug
        assert [(p["net_id"], p["management"]) for p in booted] == [
            (mgmt.id, True), (tenant_net.id, False), (elsewhere.id, False)]
        assert (attached["net_id"], attached["management"]) == (tenant_net.id, False)
        stored = {p["port_id"]: p for p in [*booted, attached]}
        assert {p["network_name"] for p in stored.values()} == {name}  # all named alike

        # the agent's decisions on these stored ports
        backend = NetnsBackend(FakeRunner(), Path("/nonexistent"))
        treated = {p["net_id"] for p in stored.values()
                   if backend.is_mgmt(p) or backend.pins(p, "appliance")}
        assert treated == {mgmt.id}
        ports = list(stored.values())
        assert vxlan.management_networks([(catalog.APPLIANCE_IMAGE, ports)],
                                         catalog.APPLIANCE_IMAGE) == {mgmt.id}
        assert mgmt_conflict.expected_bridge([ports[1:], ports[:1]], "brq") \
            == backend.bridge(mgmt.id)
        admin_user.sdk.compute.delete_server(server.id)
        admin_user.sdk.compute.wait_for_delete(server, wait=10, interval=0.05)
    finally:  # the network API is shared with tests that look for the real one by name
        user.sdk.network.remove_interface_from_router(router, subnet_id=subnet_id)
        for net in (tenant_net, mgmt, elsewhere):
            for port in admin_user.sdk.network.ports(network_id=net.id):
                # the attached port may be released only once its attach has landed
                admin_user.sdk.network.delete_port(port.id, ignore_missing=True)
            admin_user.sdk.network.delete_network(net.id, ignore_missing=True)
