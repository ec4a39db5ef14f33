"""Operators' commands against APIs under ``auth_strategy = keystone``: ``astara-ctl
byonf`` and ``astara-compute-burnin`` with a cloud of the Keystone's clouds.yaml
(``--os-cloud``, or an openrc's ``OS_*`` variables), one token for all their calls, the
APIs found in the catalog; a wrong password is one line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
IMAGE = "5a1e0000-0000-4000-8000-0000000000b1"


def run(cloud_env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    """A command as an operator runs it: no noauth URL or project in its environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "ASTARA_NETWORK_URL", "ASTARA_ADMIN_PROJECT",
                                "ASTARA_RPC_TOKEN"))}
    done = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=120, env={**env, "ASTARA_CONFIG_FILES": "", **cloud_env})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def bad_password(keystone_cloud, tmp_path: Path) -> dict[str, str]:
    """A clouds.yaml whose cloud ``bad`` is ``astara-admin`` with a wrong password."""
    clouds = yaml.safe_load(Path(keystone_cloud.clouds_yaml).read_text())
    bad = clouds["clouds"]["astara-admin"]
    bad["auth"] = {**bad["auth"], "password": "not-" + bad["auth"]["password"]}
    clouds["clouds"]["bad"] = bad
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return {"OS_CLIENT_CONFIG_FILE": str(path)}


def test_byonf_list_set_and_delete_with_an_admins_token(keystone_cloud, tmp_path):
    c = keystone_cloud
    admin = {"OS_CLIENT_CONFIG_FILE": c.clouds_yaml, "OS_CLOUD": "astara-admin"}
    tenant = uuid.uuid4().hex
    r = run(admin, "astara-ctl", "--format", "json", "byonf", "set", tenant, "router",
            IMAGE)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    r = run(admin, "astara-ctl", "--format", "json", "byonf", "list", "--tenant", tenant)
    assert r.returncode == 0, r.stderr
    assert [e["id"] for e in json.loads(r.stdout)] == [made["id"]]
    # An openrc's variables instead of a clouds.yaml.
    openrc = {"OS_AUTH_URL": c.env["KEYSTONE_URL"], "OS_USERNAME": "admin",
              "OS_PASSWORD": c.env["KEYSTONE_PASSWORD_ADMIN"], "OS_PROJECT_NAME": "admin",
              "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
              "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")}
    r = run(openrc, "astara-ctl", "byonf", "delete", tenant, "router")
    assert r.returncode == 0, r.stderr
    r = run(admin, "astara-ctl", "--format", "json", "byonf", "list", "--tenant", tenant)
    assert json.loads(r.stdout) == []
    # A member's token: the API's own refusal (admin only), one line.
    r = run({"OS_CLIENT_CONFIG_FILE": c.clouds_yaml}, "astara-ctl", "byonf", "--os-cloud",
            "astara", "set", tenant, "router", IMAGE)
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-ctl: ") and \
        r.stderr.endswith("requires admin privileges (HTTP 400)\n"), r.stderr
    # No credentials at all: the API's 401, one line (what it was before --os-cloud).
    r = run({}, "astara-ctl", "byonf", "--network-url", c.network_url, "list")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert "(HTTP 401)" in r.stderr


def test_byonf_with_a_wrong_password_is_one_line(keystone_cloud, tmp_path):
    r = run(bad_password(keystone_cloud, tmp_path), "astara-ctl", "byonf", "--os-cloud",
            "bad", "list")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-ctl: Keystone refused the credentials of cloud "
                               "'bad': The request you have made requires authentication")
    r = run({"OS_CLIENT_CONFIG_FILE": keystone_cloud.clouds_yaml}, "astara-ctl", "byonf",
            "--os-cloud", "nowhere", "list")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-ctl: cloud 'nowhere': ")


def test_the_compute_burnins_calls_carry_one_token(keystone_cloud, monkeypatch):
    from astara.common import cloud_auth
    from astara.compute_service.burnin.client import ApiClient

    c = keystone_cloud
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", c.clouds_yaml)
    creds = cloud_auth.login("astara")
    assert creds.project_id == c.env["KEYSTONE_DEMO_PROJECT_ID"]
    assert creds.endpoint("network") == c.network_url
    assert creds.endpoint("compute", "/v2.1") + "/v2.1" == c.compute_url
    api = ApiClient(creds.endpoint("compute", "/v2.1"), creds.endpoint("network"),
                    "http://127.0.0.1:1", creds.project_id, auth=creds.auth)  # as the CLI
    try:
        assert api.unauthenticated_status() == 401  # the token is left off on purpose
        assert api.flavors() and api.images()
        net, subnet = api.create_network(f"bt-{uuid.uuid4().hex[:6]}-net", "10.77.0.0/24")
        assert net["project_id"] == c.env["KEYSTONE_DEMO_PROJECT_ID"]
        assert net["id"] in [n["id"] for n in api.networks()]
        assert isinstance(api.servers(), list)
        api.delete_network(net["id"])
    finally:
        api.close()
    assert len({creds.auth.adapter.get_token() for _ in range(3)}) == 1  # reused


def test_the_compute_burnin_command_with_a_cloud(keystone_cloud, tmp_path, monkeypatch):
    c = keystone_cloud
    conf = tmp_path / "compute.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    prefix = f"bc{uuid.uuid4().hex[:6]}-"
    users = {"OS_CLIENT_CONFIG_FILE": c.clouds_yaml}
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", c.clouds_yaml)
    left = _member_network(f"{prefix}net")  # what an interrupted run left
    r = run(users, "astara-compute-burnin", "--config-file", str(conf), "--os-cloud",
            "astara", "--prefix", prefix, "--show-stale")
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout[r.stdout.index("{"):])
    assert (found["servers"], found["networks"]) == ([], [{"id": left,
                                                           "name": f"{prefix}net"}])
    r = run(users, "astara-compute-burnin", "--config-file", str(conf), "--os-cloud",
            "astara", "--project-id", "someone-else", "--show-stale")
    assert (r.returncode, r.stderr.count("\n")) == (2, 1), r.stderr
    assert "is not the token's project" in r.stderr
    r = run(bad_password(c, tmp_path), "astara-compute-burnin", "--config-file", str(conf),
            "--os-cloud", "bad", "--show-stale")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-compute-burnin: Keystone refused the credentials "
                               "of cloud 'bad': ")


def _member_network(name: str) -> str:
    import openstack

    conn = openstack.connect(cloud="astara")
    try:
        return conn.network.create_network(name=name).id
    finally:
        conn.close()
