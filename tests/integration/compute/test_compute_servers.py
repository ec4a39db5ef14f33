"""Servers through openstacksdk's compute proxy, against a real network service."""

from __future__ import annotations

import httpx
import pytest
from openstack import exceptions
from sqlalchemy import select
from tests.support import wait_for

from astara.compute_service import catalog, jobs
from astara.compute_service.models import Job

TENANT = catalog.TENANT_IMAGE


def make_net(user, cidr="10.50.0.0/24"):
    net = user.sdk.network.create_network(name="cnet")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr)
    return net


def test_create_on_network_goes_active_with_a_bound_port(user, compute):
    net = make_net(user)
    server = user.sdk.compute.create_server(
        name="vm1", image_id=TENANT, flavor_id="1", networks=[{"uuid": net.id}],
        metadata={"role": "test"})
    assert server.admin_password
    seen = user.sdk.compute.get_server(server.id)
    assert seen.status in ("BUILD", "ACTIVE")
    active = user.wait_status(server.id, "ACTIVE")
    assert active.power_state == 1 and active.vm_state == "active"
    assert active.task_state is None
    assert active.metadata == {"role": "test"}
    ports = list(user.sdk.network.ports(device_id=server.id))
    assert len(ports) == 1
    assert ports[0].device_owner == "compute:nova"
    addr = active.addresses["cnet"][0]
    assert addr["addr"] == ports[0].fixed_ips[0]["ip_address"]
    assert addr["OS-EXT-IPS-MAC:mac_addr"] == ports[0].mac_address
    assert ("create", server.id) in compute.backend.actions


def test_binding_host_is_set_on_the_port(user, admin_user, compute):
    net = make_net(user)
    server = user.sdk.compute.create_server(name="vm-b", image_id=TENANT, flavor_id="1",
                                            networks=[{"uuid": net.id}])
    port = next(iter(user.sdk.network.ports(device_id=server.id)))
    seen = admin_user.sdk.network.get_port(port.id)
    assert seen.binding_host_id == compute.settings.host


def test_existing_port_is_bound_then_unbound_on_delete(user):
    net = make_net(user)
    port = user.sdk.network.create_port(network_id=net.id)
    server = user.sdk.compute.create_server(name="vm-p", image_id=TENANT, flavor_id="1",
                                            networks=[{"port": port.id}])
    user.wait_status(server.id, "ACTIVE")
    assert user.sdk.network.get_port(port.id).device_id == server.id
    user.sdk.compute.delete_server(server.id)
    user.sdk.compute.wait_for_delete(server, wait=10,
                                     interval=0.05)
    kept = user.sdk.network.get_port(port.id)
    assert kept.device_id == "" and kept.device_owner == ""


def test_list_detail_show_update_delete(user):
    server = user.sdk.compute.create_server(name="vm-l", image_id=TENANT, flavor_id="1",
                                            networks="none")
    user.wait_status(server.id, "ACTIVE")
    assert [s.id for s in user.sdk.compute.servers(details=False)] == [server.id]
    assert [s.name for s in user.sdk.compute.servers(name="vm-")] == ["vm-l"]
    assert list(user.sdk.compute.servers(status="SHUTOFF")) == []
    user.sdk.compute.update_server(server.id, name="vm-renamed")
    assert user.sdk.compute.get_server(server.id).name == "vm-renamed"
    user.sdk.compute.delete_server(server.id)
    with pytest.raises(exceptions.ResourceNotFound):
        for _ in range(200):
            user.sdk.compute.get_server(server.id)
            __import__("time").sleep(0.02)
    assert list(user.sdk.compute.servers()) == []


def test_stop_start_reboot_and_conflicts(user):
    server = user.sdk.compute.create_server(name="vm-s", image_id=TENANT, flavor_id="1",
                                            networks="none")
    user.wait_status(server.id, "ACTIVE")
    with pytest.raises(exceptions.ConflictException, match="vm_state active"):
        user.sdk.compute.start_server(server.id)
    user.sdk.compute.stop_server(server.id)
    off = user.wait_status(server.id, "SHUTOFF")
    assert off.power_state == 4 and off.vm_state == "stopped"
    user.sdk.compute.start_server(server.id)
    user.wait_status(server.id, "ACTIVE")
    user.sdk.compute.reboot_server(server.id, "HARD")
    user.wait_status(server.id, "ACTIVE")


def test_other_project_sees_nothing(user, other_user):
    server = user.sdk.compute.create_server(name="vm-o", image_id=TENANT, flavor_id="1",
                                            networks="none")
    with pytest.raises(exceptions.ResourceNotFound):
        other_user.sdk.compute.get_server(server.id)
    assert list(other_user.sdk.compute.servers()) == []


def test_flavors_and_images(user, admin_user):
    flavors = {f.id: f for f in user.sdk.compute.flavors()}
    assert flavors["1"].name == "m1.tiny" and flavors["1"].ram == 512
    # Nova's image proxy shows what the caller may boot, as the image service does.
    assert {i.name for i in user.sdk.compute.images()} == {"astara-tenant"}
    assert {"astara-appliance", "astara-tenant"} <= {
        i.name for i in admin_user.sdk.compute.images()}
    appliance = next(i for i in admin_user.sdk.compute.images() if i.name == "astara-appliance")
    with pytest.raises(exceptions.NotFoundException):
        user.sdk.compute.get_image(appliance.id)


def test_quota_is_reserved_atomically(user):
    ids = [user.sdk.compute.create_server(name=f"q{i}", image_id=TENANT, flavor_id="1",
                                          networks="none").id for i in range(4)]
    with pytest.raises(exceptions.HttpException) as err:
        user.sdk.compute.create_server(name="q5", image_id=TENANT, flavor_id="1",
                                       networks="none")
    assert err.value.status_code == 403
    for sid in ids:
        user.sdk.compute.delete_server(sid)


def test_no_identity_is_refused(compute):
    resp = httpx.get(f"{compute.api.url}/v2.1/servers")
    assert resp.status_code == 401


def test_idempotent_create_with_idempotency_key(user, compute):
    body = {"server": {"name": "idem", "imageRef": TENANT, "flavorRef": "1",
                       "networks": "none"}}
    headers = {**user.headers, "Idempotency-Key": "boot-" + user.project,
               "OpenStack-API-Version": "compute 2.37"}
    with httpx.Client(base_url=f"{compute.api.url}/v2.1", headers=headers) as c:
        first = c.post("/servers", json=body)
        again = c.post("/servers", json=body)
    assert first.status_code == again.status_code == 202
    assert first.json()["server"]["id"] == again.json()["server"]["id"]
    assert len(list(user.sdk.compute.servers())) == 1


def test_admin_plugs_a_router_port_without_taking_it_over(user, admin_user):
    """An appliance carries its router's ports: they stay the router's."""
    net = make_net(user, cidr="10.51.0.0/24")
    router = user.sdk.network.create_router(name="r-plug")
    subnet_id = user.sdk.network.get_network(net.id).subnet_ids[0]
    info = user.sdk.network.add_interface_to_router(router, subnet_id=subnet_id)
    with httpx.Client(base_url=user.compute.api.url + "/v2.1",
                      headers=user.headers) as c:
        r = c.post("/servers", json={"server": {"name": "steal", "imageRef": TENANT,
                                                "flavorRef": "1",
                                                "networks": [{"port": info["port_id"]}]}})
        assert r.status_code == 409  # a member cannot plug a router's port
    server = admin_user.sdk.compute.create_server(
        name="ak-appliance", image_id=TENANT, flavor_id="1",
        networks=[{"port": info["port_id"]}])
    admin_user.wait_status(server.id, "ACTIVE")
    port = admin_user.sdk.network.get_port(info["port_id"])
    assert port.device_id == router.id
    assert port.device_owner == "network:router_interface"
    assert port.binding_host_id == user.compute.settings.host
    admin_user.sdk.compute.delete_server(server.id)
    admin_user.sdk.compute.wait_for_delete(server,
                                           wait=10, interval=0.05)
    port = admin_user.sdk.network.get_port(info["port_id"])
    assert port.device_id == router.id and port.binding_host_id == ""


def test_service_project_quota_override(compute, network_api):
    """The orchestrator's project boots one appliance per router: no fixed cap."""
    from tests.integration.compute.conftest import User

    service = User(compute, network_api.url, "astara-service", admin=True)
    ids = [service.sdk.compute.create_server(name=f"ak-q{i}", image_id=TENANT, flavor_id="1",
                                             networks="none").id for i in range(6)]
    assert len(set(ids)) == 6  # beyond quota_instances=4 of other projects
    for sid in ids:
        service.sdk.compute.delete_server(sid)


def test_admin_attaches_a_router_port_to_a_running_appliance(user, admin_user):
    """ReplugVM: an interface added to a router after its appliance booted."""
    net = make_net(user, cidr="10.52.0.0/24")
    router = user.sdk.network.create_router(name="r-replug")
    server = admin_user.sdk.compute.create_server(name="ak-replug", image_id=TENANT,
                                                  flavor_id="1", networks="none")
    admin_user.wait_status(server.id, "ACTIVE")
    subnet_id = user.sdk.network.get_network(net.id).subnet_ids[0]
    info = user.sdk.network.add_interface_to_router(router, subnet_id=subnet_id)
    with httpx.Client(base_url=user.compute.api.url + "/v2.1",
                      headers=admin_user.headers) as c:
        r = c.post(f"/servers/{server.id}/os-interface",
                   json={"interfaceAttachment": {"port_id": info["port_id"]}})
    assert r.status_code == 200, r.text
    port = admin_user.sdk.network.get_port(info["port_id"])
    assert port.device_id == router.id and port.device_owner == "network:router_interface"
    admin_user.sdk.compute.delete_server(server.id)


def test_delete_gives_back_a_port_whose_attach_never_joined_the_server(user, compute):
    """The attach made a port, the host failed to plug it (so the server's record never
    lists it): deleting the server deletes that port too, as Nova does."""
    net = make_net(user, cidr="10.51.0.0/24")
    server = user.sdk.compute.create_server(name="vm-af", image_id=TENANT, flavor_id="1",
                                            networks=[{"uuid": net.id}])
    user.wait_status(server.id, "ACTIVE")
    compute.backend.fail.add("attach")
    try:
        with httpx.Client(base_url=user.compute.api.url + "/v2.1", headers=user.headers) as c:
            r = c.post(f"/servers/{server.id}/os-interface",
                       json={"interfaceAttachment": {"net_id": net.id}})
        assert r.status_code == 200, r.text
        attached = r.json()["interfaceAttachment"]["port_id"]

        def attach_failed():
            with compute.db.read() as s:
                return s.scalar(select(Job.status).where(
                    Job.instance_id == server.id, Job.op == "attach")) == jobs.FAILED
        wait_for(attach_failed, timeout=10, what="the attach job failed")
    finally:
        compute.backend.fail.discard("attach")
    assert user.sdk.network.find_port(attached) is not None
    user.sdk.compute.delete_server(server.id)
    user.sdk.compute.wait_for_delete(server, wait=10, interval=0.05)
    assert user.sdk.network.find_port(attached) is None
    assert list(user.sdk.network.ports(device_id=server.id)) == []
