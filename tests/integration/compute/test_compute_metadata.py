"""The metadata service on its own port, read with httpx as a signing proxy would, and
through the orchestrator's proxy (network API lookups, a cache on a driven clock)."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx
import pytest
from tests.support import Server, free_port

from astara.compute_service import catalog
from astara.compute_service.metadata import routes as metadata
from astara.orchestrator import metadata_proxy
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.wire import instance_signature

SECRET = "s3cret-" + uuid.uuid4().hex
MGMT = "fdca::10"  # the appliance's management address, as the proxy's client


@pytest.fixture(scope="module")
def metadata_api(compute):
    server = Server(metadata.build_app(compute.db, SECRET), free_port()).start()
    yield server
    server.stop()


def get(api: Server, path: str, instance_id: str | None, signature: str | None = None,
        **headers: str) -> httpx.Response:
    if instance_id is not None:
        headers["X-Instance-ID"] = instance_id
    if signature is not None:
        headers["X-Instance-ID-Signature"] = signature
    return httpx.get(api.url + path, headers=headers, timeout=5, trust_env=False)


def boot(user, name: str, net_id: str, user_data: bytes = b"#cloud-config\n"):
    created = user.sdk.compute.create_server(
        name=name, image_id=catalog.TENANT_IMAGE, flavor_id="1", networks=[{"uuid": net_id}],
        metadata={"role": name}, user_data=base64.b64encode(user_data).decode())
    return user.wait_status(created.id, "ACTIVE")


def own_port(user, server) -> dict:
    [port] = user.sdk.network.ports(device_id=server.id)
    return {"X-Tenant-ID": port.project_id, "X-Astara-Port-ID": port.id,
            "X-Forwarded-For": port.fixed_ips[0]["ip_address"]}


@pytest.fixture
def server(user):
    net = user.sdk.network.create_network(name="mdnet")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.62.0.0/24")
    created = boot(user, "md-vm", net.id)
    yield created
    user.sdk.compute.delete_server(created.id)


def test_openstack_and_ec2_documents(metadata_api, server, user):
    sig, who = instance_signature.sign(SECRET, server.id), own_port(user, server)
    doc = get(metadata_api, "/openstack/latest/meta_data.json", server.id, sig, **who).json()
    assert doc["uuid"] == server.id and doc["name"] == "md-vm"
    assert doc["meta"] == {"role": "md-vm"} and doc["project_id"] == user.project
    res = get(metadata_api, "/openstack/latest/user_data", server.id, sig, **who)
    assert res.status_code == 200 and res.content == b"#cloud-config\n"
    ip = server.addresses["mdnet"][0]["addr"]
    assert get(metadata_api, "/latest/meta-data/local-ipv4", server.id, sig, **who).text == ip
    assert get(metadata_api, "/latest/meta-data/hostname", server.id, sig, **who).text \
        == "md-vm"
    assert get(metadata_api, "/latest/meta-data/instance-id", server.id, sig, **who).text == \
        "i-" + server.id.replace("-", "")[:8]
    assert get(metadata_api, "/latest/meta-data/nothing", server.id, sig, **who) \
        .status_code == 404


def test_refusals(metadata_api, server, user):
    path = "/openstack/latest/meta_data.json"
    sig, who = instance_signature.sign(SECRET, server.id), own_port(user, server)
    assert get(metadata_api, path, None, **who).status_code == 400
    assert get(metadata_api, path, server.id, **who).status_code == 403
    assert get(metadata_api, path, server.id, "0" * 64, **who).status_code == 403
    assert get(metadata_api, path, server.id, instance_signature.sign("other", server.id), **who) \
        .status_code == 403
    unknown = str(uuid.uuid4())
    assert get(metadata_api, path, unknown, instance_signature.sign(SECRET, unknown), **who) \
        .status_code == 404
    for header in who:  # each of the proxy's identity headers is required (Nova: 400)
        partial = {k: v for k, v in who.items() if k != header}
        res = get(metadata_api, path, server.id, sig, **partial)
        assert res.status_code == 400 and header in res.text
    twice = httpx.get(metadata_api.url + path, timeout=5, trust_env=False, headers=[
        ("X-Instance-ID", server.id), ("X-Instance-ID-Signature", sig),
        *who.items(), ("X-Tenant-ID", "someone-else")])
    assert twice.status_code == 400 and "Multiple X-Tenant-ID" in twice.text


def test_the_instance_must_be_of_the_tenant_and_hold_the_port_and_address(metadata_api,
                                                                          server, user):
    path = "/openstack/latest/user_data"
    sig, who = instance_signature.sign(SECRET, server.id), own_port(user, server)
    for wrong in ({"X-Tenant-ID": "someone-else"}, {"X-Astara-Port-ID": str(uuid.uuid4())},
                  {"X-Forwarded-For": "10.62.0.250"}, {"X-Forwarded-For": "not-an-ip"}):
        res = get(metadata_api, path, server.id, sig, **{**who, **wrong})
        assert res.status_code == 404 and b"cloud-config" not in res.content, wrong
    assert get(metadata_api, path, server.id, sig, **who).status_code == 200


def test_deleted_instance_is_gone(metadata_api, user):
    net = user.sdk.network.create_network(name="mdnet-gone")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.63.0.0/24")
    created = boot(user, "md-gone", net.id)
    sig, who = instance_signature.sign(SECRET, created.id), own_port(user, created)
    assert get(metadata_api, "/latest/meta-data/", created.id, sig, **who).status_code == 200
    user.sdk.compute.delete_server(created.id)
    user.sdk.compute.wait_for_delete(created, wait=10)
    assert get(metadata_api, "/latest/meta-data/", created.id, sig, **who).status_code == 404


def test_a_secret_is_required(compute):
    with pytest.raises(ValueError):
        metadata.build_app(compute.db, "")


# --- through the orchestrator's proxy: identity from our records, not from device_id ---

class Orchestrator:
    """The orchestrator's metadata proxy for one router, with a clock the test drives."""

    def __init__(self, network_url: str, metadata_url: str, router_id: str):
        self.now = 0.0
        admin = {"X-Project-Id": uuid.uuid4().hex, "X-User-Id": "orchestrator",
                 "X-Roles": "admin,member,reader"}
        resolver = metadata_proxy.InstanceResolver(HttpNetworkAPI(network_url, "", admin),
                                                   clock=lambda: self.now)
        self.app = metadata_proxy.build_app(lambda a: router_id if a == MGMT else None,
                                            resolver, metadata_url, SECRET)
        self.runner = asyncio.Runner()  # one loop: the proxy's client keeps its connections

    def get(self, address: str, path: str = "/openstack/latest/meta_data.json"):
        async def go():
            transport = httpx.ASGITransport(app=self.app, client=(MGMT, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://p") as c:
                return await c.get(path, headers={"X-Forwarded-For": address})

        return self.runner.run(go())


@pytest.fixture
def tenants(user, other_user, network_api, metadata_api):
    """A's server; B's network behind B's router with two servers; B's proxy."""
    a_net = user.sdk.network.create_network(name="a-net")
    user.sdk.network.create_subnet(network_id=a_net.id, ip_version=4, cidr="10.64.0.0/24")
    a_vm = boot(user, "a-vm", a_net.id, b"A's secret user data")
    b_net = other_user.sdk.network.create_network(name="b-net")
    b_sub = other_user.sdk.network.create_subnet(network_id=b_net.id, ip_version=4,
                                                 cidr="10.65.0.0/24")
    b_router = other_user.sdk.network.create_router(name="b-router")
    other_user.sdk.network.add_interface_to_router(b_router, subnet_id=b_sub.id)
    b_vms = [boot(other_user, f"b-vm{i}", b_net.id, b"B's user data") for i in (1, 2)]
    orch = Orchestrator(network_api.url, metadata_api.url, b_router.id)
    yield a_vm, b_vms, orch
    orch.runner.close()
    for owner, vm in ((user, a_vm), (other_user, b_vms[0]), (other_user, b_vms[1])):
        owner.sdk.compute.delete_server(vm.id)


def test_a_forged_device_id_reads_nothing_before_or_after_the_cache_expires(tenants,
                                                                             other_user):
    a_vm, (b_vm, _), orch = tenants
    b_port = next(other_user.sdk.network.ports(device_id=b_vm.id))
    b_ip = b_port.fixed_ips[0]["ip_address"]
    assert orch.get(b_ip).json()["uuid"] == b_vm.id
    other_user.sdk.network.update_port(b_port.id, device_id=a_vm.id)
    orch.now = metadata_proxy.CACHE_SECONDS - 1  # cached: still B's own instance
    assert orch.get(b_ip).json()["uuid"] == b_vm.id
    orch.now = metadata_proxy.CACHE_SECONDS + 1  # re-resolved: A's id with B's project
    for path in ("/openstack/latest/meta_data.json", "/openstack/latest/user_data",
                 "/latest/user-data"):
        res = orch.get(b_ip, path)
        assert res.status_code == 404 and b"A's secret" not in res.content
        assert a_vm.id not in res.text


def test_a_device_id_naming_a_sibling_instance_is_refused_by_its_port_records(tenants,
                                                                               other_user):
    _, (b1, b2), orch = tenants
    b1_port = next(other_user.sdk.network.ports(device_id=b1.id))
    b1_ip = b1_port.fixed_ips[0]["ip_address"]
    other_user.sdk.network.update_port(b1_port.id, device_id=b2.id)  # same project
    res = orch.get(b1_ip)
    assert res.status_code == 404 and b2.id not in res.text
    # while b2 itself still reads its own
    assert orch.get(b2.addresses["b-net"][0]["addr"]).json()["uuid"] == b2.id


def test_an_address_behind_another_router_is_unknown(tenants):
    a_vm, _, orch = tenants
    assert orch.get(a_vm.addresses["a-net"][0]["addr"]).status_code == 404
