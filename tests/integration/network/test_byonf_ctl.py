"""``astara-ctl byonf list|set|delete`` against the real network API (as an admin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
IMAGE = "5a1e0000-0000-4000-8000-0000000000a1"
IMAGE2 = "5a1e0000-0000-4000-8000-0000000000a2"


def ctl(network_api, *args: str, project: str = "ctl-admin") -> subprocess.CompletedProcess:
    env = {**os.environ, "ASTARA_NETWORK_URL": network_api.url,
           "ASTARA_ADMIN_PROJECT": project}
    env.pop("ASTARA_RPC_TOKEN", None)  # byonf needs no RPC token
    return subprocess.run([str(BIN / "astara-ctl"), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_set_list_change_and_delete(network_api, admin):
    tenant = uuid.uuid4().hex
    r = ctl(network_api, "--format", "json", "byonf", "set", tenant, "router", IMAGE,
            "--flavor", "42")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert (made["tenant_id"], made["function_type"], made["image_uuid"],
            made["flavor_id"]) == (tenant, "router", IMAGE, "42")
    # set again: the same entry changed, not a second one.
    r = ctl(network_api, "--format", "json", "byonf", "set", tenant, "router", IMAGE2)
    assert r.returncode == 0, r.stderr
    changed = json.loads(r.stdout)
    assert changed["id"] == made["id"] and (changed["image_uuid"], changed["flavor_id"]) \
        == (IMAGE2, None)
    with admin.http() as c:
        assert c.get(f"/byonfs/{made['id']}").json()["byonf"] == changed
    r = ctl(network_api, "byonf", "list", "--tenant", tenant)
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()
    assert header.split() == ["ID", "TENANT_ID", "FUNCTION_TYPE", "IMAGE_UUID", "FLAVOR_ID"]
    assert row.split() == [made["id"], tenant, "router", IMAGE2, "-"]
    r = ctl(network_api, "--format", "json", "byonf", "list", "--tenant", tenant,
            "--function-type", "loadbalancer")
    assert json.loads(r.stdout) == []
    r = ctl(network_api, "byonf", "delete", tenant, "router")
    assert r.returncode == 0, r.stderr
    with admin.http() as c:
        assert c.get(f"/byonfs/{made['id']}").status_code == 404
    r = ctl(network_api, "byonf", "delete", tenant, "router")
    assert r.returncode == 1
    assert r.stderr.strip() == f"astara-ctl: tenant {tenant} has no byonf for router"


def test_errors_are_one_line(network_api):
    r = ctl(network_api, "byonf", "set", uuid.uuid4().hex, "router", "not-a-uuid")
    assert r.returncode == 1
    assert r.stderr.strip() == ("astara-ctl: Invalid input for image_uuid. Reason: "
                                "'not-a-uuid' is not a valid UUID. (HTTP 400)")
    r = ctl(network_api, "byonf", "set", uuid.uuid4().hex, "vpn", IMAGE)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    env_url = "http://127.0.0.1:1"
    r = subprocess.run([str(BIN / "astara-ctl"), "byonf", "--network-url", env_url, "list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "network API unreachable at http://127.0.0.1:1" in r.stderr
