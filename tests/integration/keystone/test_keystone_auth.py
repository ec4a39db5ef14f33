"""Our APIs behind a real Keystone (auth_strategy = keystone), driven by the unmodified
``openstack`` command and openstacksdk: what a member, a reader and a forger get."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration


def _json(done) -> dict | list:
    return json.loads(done.stdout)


def _token(cloud, name: str) -> str:
    return cloud.openstack(name, "token", "issue", "-f", "value", "-c", "id").stdout.strip()


def test_member_builds_a_network_with_the_openstack_command(keystone_cloud):
    c = keystone_cloud
    name = f"net-{uuid.uuid4().hex[:8]}"
    net = _json(c.openstack("astara", "network", "create", name, "-f", "json"))
    assert net["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]  # the token's project
    listed = _json(c.openstack("astara", "network", "list", "-f", "json"))
    assert name in [n["Name"] for n in listed]
    subnet = _json(c.openstack("astara", "subnet", "create", f"sub-{name}", "--network", name,
                               "--subnet-range", "10.20.30.0/24", "-f", "json"))
    assert subnet["cidr"] == "10.20.30.0/24"
    router = _json(c.openstack("astara", "router", "create", f"r-{name}", "-f", "json"))
    assert router["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]
    c.openstack("astara", "router", "add", "subnet", f"r-{name}", f"sub-{name}")


def test_floating_ip_from_an_external_network_an_admin_made(keystone_cloud):
    c = keystone_cloud
    ext = f"ext-{uuid.uuid4().hex[:8]}"
    c.openstack("astara-admin", "network", "create", ext, "--external")
    c.openstack("astara-admin", "subnet", "create", f"sub-{ext}", "--network", ext,
                "--subnet-range", "198.51.100.0/24", "--no-dhcp")
    fip = _json(c.openstack("astara", "floating", "ip", "create", ext, "-f", "json"))
    assert fip["floating_ip_address"].startswith("198.51.100.")
    assert fip["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]


def test_member_doing_an_admin_action_gets_403(keystone_cloud):
    done = keystone_cloud.openstack("astara", "network", "create", "--external",
                                    f"ext-{uuid.uuid4().hex[:8]}", check=False)
    assert done.returncode != 0
    assert "403" in done.stderr and "disallowed by policy" in done.stderr


def test_reader_reads_but_cannot_write(keystone_cloud):
    c = keystone_cloud
    c.openstack("astara-reader", "network", "list")
    done = c.openstack("astara-reader", "network", "create", f"n-{uuid.uuid4().hex[:8]}",
                       check=False)
    assert done.returncode != 0 and "403" in done.stderr


def test_server_list_on_the_compute_api(keystone_cloud):
    listed = _json(keystone_cloud.openstack("astara-reader", "server", "list", "-f", "json"))
    assert isinstance(listed, list)


def test_wrong_token_is_401_in_each_apis_format(keystone_cloud):
    c = keystone_cloud
    bad = {"X-Auth-Token": "gAAAAAB-not-a-token"}
    r = httpx.get(f"{c.network_url}/v2.0/networks", headers=bad)
    assert r.status_code == 401 and r.json()["NeutronError"]["type"] == "HTTPUnauthorized"
    r = httpx.get(f"{c.compute_url}/servers", headers=bad)
    assert r.status_code == 401 and r.json()["unauthorized"]["code"] == 401
    r = httpx.get(f"{c.network_url}/v2.0/networks")  # no token at all
    assert r.status_code == 401 and "www-authenticate" in r.headers


def test_revoked_token_is_401(keystone_cloud):
    c = keystone_cloud
    token = _token(c, "astara")  # never used on our API: not in its cache
    c.openstack("astara", "token", "revoke", token)
    r = httpx.get(f"{c.network_url}/v2.0/networks", headers={"X-Auth-Token": token})
    assert r.status_code == 401


def test_forged_identity_headers_are_ignored(keystone_cloud):
    """A member naming the service project and the admin role in headers: the token's
    project and roles are what count."""
    c = keystone_cloud
    headers = {"X-Auth-Token": _token(c, "astara"),
               "X-Project-Id": c.env["KEYSTONE_SERVICE_PROJECT_ID"],
               "X-Tenant-Id": c.env["KEYSTONE_SERVICE_PROJECT_ID"], "X-Roles": "admin"}
    r = httpx.post(f"{c.network_url}/v2.0/networks", headers=headers,
                   json={"network": {"name": "forged", "router:external": True}})
    assert r.status_code == 403, r.text  # no admin role in the token
    r = httpx.post(f"{c.network_url}/v2.0/networks", headers=headers,
                   json={"network": {"name": "forged"}})
    assert r.status_code == 201
    assert r.json()["network"]["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]


def test_openstacksdk_with_keystone(keystone_cloud, monkeypatch):
    import openstack

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", keystone_cloud.clouds_yaml)
    conn = openstack.connect(cloud="astara")
    net = conn.network.create_network(name=f"sdk-{uuid.uuid4().hex[:8]}")
    assert net.project_id == keystone_cloud.env["KEYSTONE_DEMO_PROJECT_ID"]
    assert net.id in [n.id for n in conn.network.networks()]
    assert isinstance(list(conn.compute.servers()), list)


def test_server_create_makes_its_port_with_the_users_token(keystone_cloud, monkeypatch):
    """The compute API creates the instance's port on the network API with the caller's
    token (a network API under keystone would refuse it otherwise)."""
    import openstack

    from astara.compute_service.catalog import TENANT_IMAGE

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", keystone_cloud.clouds_yaml)
    conn = openstack.connect(cloud="astara")
    net = conn.network.create_network(name=f"vm-{uuid.uuid4().hex[:8]}")
    conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.40.0.0/24")
    keystone_cloud.register_host()
    server = conn.compute.create_server(name="vm1", image_id=TENANT_IMAGE, flavor_id="1",
                                        networks=[{"uuid": net.id}])
    ports = list(conn.network.ports(device_id=server.id))
    assert len(ports) == 1
    assert ports[0].project_id == keystone_cloud.env["KEYSTONE_DEMO_PROJECT_ID"]
    assert server.id in [s.id for s in conn.compute.servers()]


def test_openstack_server_create_by_image_name(keystone_cloud):
    """Unmodified ``openstack``: images from the catalog's image service (the compute
    API's Glance view), a server booted by image and flavor names; the admin-only
    appliance image is neither seen nor booted by a member."""
    c = keystone_cloud
    names = [i["Name"] for i in _json(c.openstack("astara", "image", "list", "-f", "json"))]
    assert names == ["astara-tenant"]
    shown = _json(c.openstack("astara", "image", "show", "astara-tenant", "-f", "json"))
    assert (shown["status"], shown["visibility"]) == ("active", "public")
    admin = _json(c.openstack("astara-admin", "image", "list", "-f", "json"))
    assert sorted(i["Name"] for i in admin) == ["astara-appliance", "astara-tenant"]
    done = c.openstack("astara", "image", "show", "astara-appliance", check=False)
    assert done.returncode != 0 and "No Image found" in done.stderr, done.stderr
    net = f"img-{uuid.uuid4().hex[:8]}"
    c.openstack("astara", "network", "create", net)
    c.openstack("astara", "subnet", "create", f"sub-{net}", "--network", net,
                "--subnet-range", "10.41.0.0/24")
    c.register_host()
    server = _json(c.openstack("astara", "server", "create", "--image", "astara-tenant",
                               "--flavor", "m1.tiny", "--network", net, f"vm-{net}",
                               "-f", "json"))
    listed = _json(c.openstack("astara", "server", "list", "-f", "json"))
    assert [s["Image"] for s in listed if s["ID"] == server["id"]] == ["astara-tenant"]
    done = c.openstack("astara", "server", "create", "--image", "astara-appliance",
                       "--flavor", "m1.tiny", "--network", net, f"app-{net}", check=False)
    assert done.returncode != 0 and "No Image found" in done.stderr, done.stderr


def test_orchestrator_clients_use_the_service_users_token(keystone_cloud, tmp_path):
    """The orchestrator's [network] auth section: the catalog's endpoint (its configured
    URL points nowhere) and the astara user's token, fetched once for many calls; the
    management network lands in Keystone's service project."""
    from dataclasses import replace

    from astara.orchestrator import endpoints, management
    from astara.orchestrator import opts as orch_opts
    from astara.orchestrator.clients.network import HttpNetworkAPI
    from tests.integration.keystone.conftest import service_auth_section

    c = keystone_cloud
    conf = tmp_path / "orchestrator.conf"
    conf.write_text(service_auth_section("network", c.env))
    o = replace(orch_opts.defaults(), network_url="http://127.0.0.1:1/",
                management_network_name=f"mgmt-{uuid.uuid4().hex[:8]}",
                config_files=(str(conf),))
    net = endpoints.resolve(o, "network")
    assert net.url == c.network_url and net.auth is not None
    with httpx.Client(base_url=net.url, auth=net.auth) as http:
        mgmt = management.ensure_network(o, http)
    client = HttpNetworkAPI(net.url, mgmt, o.service_headers, auth=net.auth)
    found = client.show("networks", mgmt)
    assert found["project_id"] == c.env["KEYSTONE_SERVICE_PROJECT_ID"]
    assert client.list("networks", name=o.management_network_name)[0]["id"] == mgmt
    tokens = {net.auth.adapter.get_token() for _ in range(3)}
    assert len(tokens) == 1  # reused, not fetched per call
    noauth = HttpNetworkAPI(c.network_url, mgmt, o.service_headers)
    with pytest.raises(Exception, match="401"):
        noauth.list("networks")
