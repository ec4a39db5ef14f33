"""The load-balancer API behind a real Keystone, driven by the unmodified ``openstack
loadbalancer`` commands (python-octaviaclient) with the Keystone's clouds.yaml: the
endpoint comes from the catalog's ``load-balancer`` service. The orchestrator is not
run: objects stay ``PENDING_CREATE``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration


def _json(done) -> dict | list:
    return json.loads(done.stdout)


def _subnet(c, name: str, cidr: str) -> str:
    c.openstack("astara", "network", "create", name)
    return _json(c.openstack("astara", "subnet", "create", f"sub-{name}", "--network", name,
                             "--subnet-range", cidr, "-f", "json"))["id"]


def _other_project_member(c, tmp_path: Path) -> object:
    """A member of a project of its own (made here by the admin), as a cloud ``other`` in
    a copy of the clouds.yaml."""
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"other-{suffix}", f"other-{suffix}", uuid.uuid4().hex
    c.openstack("astara-admin", "project", "create", project)
    c.openstack("astara-admin", "user", "create", user, "--password", password)
    c.openstack("astara-admin", "role", "add", "--project", project, "--user", user, "member")
    clouds = yaml.safe_load(Path(c.clouds_yaml).read_text())
    other = dict(clouds["clouds"]["astara"])
    other["auth"] = {**other["auth"], "username": user, "password": password,
                     "project_name": project}
    clouds["clouds"]["other"] = other
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return type(c)(**{**c.__dict__, "clouds_yaml": str(path)})


def test_member_builds_a_load_balancer_with_the_openstack_command(keystone_cloud, tmp_path):
    c = keystone_cloud
    name = f"lb-{uuid.uuid4().hex[:8]}"
    subnet = _subnet(c, f"net-{name}", "10.40.1.0/24")
    lb = _json(c.openstack("astara", "loadbalancer", "create", "--name", name,
                           "--vip-subnet-id", subnet, "-f", "json"))
    assert lb["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]  # the token's project
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["vip_address"].startswith("10.40.1.")  # its port, made with the user's token
    listed = _json(c.openstack("astara", "loadbalancer", "list", "-f", "json"))
    assert [x["id"] for x in listed if x["name"] == name] == [lb["id"]]
    shown = _json(c.openstack("astara-reader", "loadbalancer", "show", name, "-f", "json"))
    assert shown["id"] == lb["id"] and shown["vip_subnet_id"] == subnet

    listener = _json(c.openstack("astara", "loadbalancer", "listener", "create",
                                 "--name", f"l-{name}", "--protocol", "HTTP",
                                 "--protocol-port", "80", lb["id"], "-f", "json"))
    assert listener["protocol_port"] == 80
    pool = _json(c.openstack("astara", "loadbalancer", "pool", "create", "--name",
                             f"p-{name}", "--listener", listener["id"], "--protocol", "HTTP",
                             "--lb-algorithm", "ROUND_ROBIN", "-f", "json"))
    assert pool["lb_algorithm"] == "ROUND_ROBIN"
    member = _json(c.openstack("astara", "loadbalancer", "member", "create", "--subnet-id",
                               subnet, "--address", "10.40.1.10", "--protocol-port", "8080",
                               pool["id"], "-f", "json"))
    assert (member["address"], member["protocol_port"]) == ("10.40.1.10", 8080)
    members = _json(c.openstack("astara", "loadbalancer", "member", "list", pool["id"],
                                "-f", "json"))
    assert [m["id"] for m in members] == [member["id"]]

    # A reader reads but cannot write: the API's 403, surfaced by the command.
    done = c.openstack("astara-reader", "loadbalancer", "create", "--name", f"r-{name}",
                       "--vip-subnet-id", subnet, check=False)
    assert done.returncode != 0 and "403" in done.stderr, done.stderr
    done = c.openstack("astara-reader", "loadbalancer", "delete", "--cascade", lb["id"],
                       check=False)
    assert done.returncode != 0 and "403" in done.stderr, done.stderr

    # Another project's member sees nothing of it (Octavia's 403 for another project's
    # object).
    other = _other_project_member(c, tmp_path)
    assert _json(other.openstack("other", "loadbalancer", "list", "-f", "json")) == []
    done = other.openstack("other", "loadbalancer", "show", lb["id"], check=False)
    assert done.returncode != 0 and "403" in done.stderr, done.stderr
    assert name not in done.stderr

    # Deletes remove the rows at once (docs/loadbalancer.md): no PENDING_DELETE.
    c.openstack("astara", "loadbalancer", "delete", "--cascade", lb["id"])
    listed = _json(c.openstack("astara", "loadbalancer", "list", "-f", "json"))
    assert lb["id"] not in [x["id"] for x in listed]
    done = c.openstack("astara", "loadbalancer", "show", lb["id"], check=False)
    # The 404, or octaviaclient's own words after its by-name look-up found nothing.
    assert done.returncode != 0, done.stdout
    assert "404" in done.stderr or f"Unable to locate {lb['id']}" in done.stderr, done.stderr


def test_wrong_token_is_401_in_octavias_format(keystone_cloud):
    c = keystone_cloud
    r = httpx.get(f"{c.lb_url}/v2/lbaas/loadbalancers",
                  headers={"X-Auth-Token": "gAAAAAB-not-a-token"})
    assert r.status_code == 401 and r.json()["faultcode"] == "Client", r.text
    assert "www-authenticate" in r.headers
    r = httpx.get(f"{c.lb_url}/")  # the version document needs no token
    assert r.status_code == 200
