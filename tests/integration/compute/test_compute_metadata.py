"""The metadata service on its own port, read with httpx as a signing proxy would."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from tests.support import Server, free_port

from astara.compute_service import catalog, metadata

SECRET = "s3cret-" + uuid.uuid4().hex


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


@pytest.fixture
def server(user):
    net = user.sdk.network.create_network(name="mdnet")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.62.0.0/24")
    created = user.sdk.compute.create_server(
        name="md-vm", image_id=catalog.TENANT_IMAGE, flavor_id="1",
        networks=[{"uuid": net.id}], metadata={"role": "md"},
        user_data=base64.b64encode(b"#cloud-config\n").decode())
    yield user.wait_status(created.id, "ACTIVE")
    user.sdk.compute.delete_server(created.id)


def test_openstack_and_ec2_documents(metadata_api, server, user):
    sig = metadata.sign(SECRET, server.id)
    doc = get(metadata_api, "/openstack/latest/meta_data.json", server.id, sig).json()
    assert doc["uuid"] == server.id and doc["name"] == "md-vm"
    assert doc["meta"] == {"role": "md"} and doc["project_id"] == user.project
    res = get(metadata_api, "/openstack/latest/user_data", server.id, sig)
    assert res.status_code == 200 and res.content == b"#cloud-config\n"
    ip = server.addresses["mdnet"][0]["addr"]
    assert get(metadata_api, "/latest/meta-data/local-ipv4", server.id, sig).text == ip
    assert get(metadata_api, "/latest/meta-data/hostname", server.id, sig).text == "md-vm"
    assert get(metadata_api, "/latest/meta-data/instance-id", server.id, sig).text == \
        "i-" + server.id.replace("-", "")[:8]
    assert get(metadata_api, "/latest/meta-data/nothing", server.id, sig).status_code == 404
    assert get(metadata_api, "/latest/meta-data/hostname", server.id, sig,
               **{"X-Tenant-ID": user.project}).status_code == 200


def test_refusals(metadata_api, server):
    path = "/openstack/latest/meta_data.json"
    assert get(metadata_api, path, None).status_code == 400
    assert get(metadata_api, path, server.id).status_code == 403
    assert get(metadata_api, path, server.id, "0" * 64).status_code == 403
    assert get(metadata_api, path, server.id, metadata.sign("other", server.id)).status_code \
        == 403
    unknown = str(uuid.uuid4())
    assert get(metadata_api, path, unknown, metadata.sign(SECRET, unknown)).status_code == 404
    assert get(metadata_api, path, server.id, metadata.sign(SECRET, server.id),
               **{"X-Tenant-ID": "someone-else"}).status_code == 404


def test_deleted_instance_is_gone(metadata_api, user):
    created = user.sdk.compute.create_server(name="md-gone", image_id=catalog.TENANT_IMAGE,
                                             flavor_id="1", networks="none")
    user.wait_status(created.id, "ACTIVE")
    sig = metadata.sign(SECRET, created.id)
    assert get(metadata_api, "/latest/meta-data/", created.id, sig).status_code == 200
    user.sdk.compute.delete_server(created.id)
    user.sdk.compute.wait_for_delete(created, wait=10)
    assert get(metadata_api, "/latest/meta-data/", created.id, sig).status_code == 404


def test_a_secret_is_required(compute):
    with pytest.raises(ValueError):
        metadata.build_app(compute.db, "")
