"""End to end, as root: ``tools/aio --keystone`` up, the unmodified ``openstack``
command with the clouds.yaml it wrote, and a router it creates served by an appliance
(the orchestrator reads it and boots through the compute API with the astara user's
token, the compute API binds its ports with its own, the router goes ACTIVE)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from tests.functional.e2e.e2e_helpers import (
    OPENSTACK,
    appliance_netns,
    clouds_env,
    logs,
    openstack_cli,
)
from tests.support import wait_for

NEEDED = ("ip", "nft", "dnsmasq")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def test_openstack_command_against_the_keystone_all_in_one(aio_keystone):
    ports, state = aio_keystone
    before = appliance_netns()
    assert (state / "clouds.yaml").stat().st_mode & 0o777 == 0o600
    assert (state / "aio-keystone.conf").stat().st_mode & 0o777 == 0o600
    assert isinstance(openstack_cli(state, "network", "list", "-f", "json"), list)
    openstack_cli(state, "network", "create", "ks-net")
    openstack_cli(state, "subnet", "create", "ks-sub", "--network", "ks-net",
                  "--subnet-range", "10.77.0.0/24")
    router = openstack_cli(state, "router", "create", "ks-r1", "-f", "json")
    openstack_cli(state, "router", "add", "subnet", "ks-r1", "ks-sub")

    def active() -> bool:
        shown = openstack_cli(state, "router", "show", router["id"], "-f", "json")
        return shown["status"] == "ACTIVE"

    try:
        wait_for(active, 240, "the router ACTIVE (its appliance booted and configured)", every=2)
    except AssertionError:
        raise AssertionError(logs(state, tail=2000)) from None
    assert appliance_netns() - before
    openstack_cli(state, "router", "remove", "subnet", "ks-r1", "ks-sub")
    openstack_cli(state, "router", "delete", router["id"])
    wait_for(lambda: not (appliance_netns() - before), 180, "the router's appliance removed",
             every=2)


def test_burnin_passes_against_the_keystone_all_in_one(aio_keystone):
    """``astara-burnin`` unmodified with the clouds.yaml ``tools/aio --keystone`` wrote:
    the tenant's steps as the ``astara`` member, the external network and the
    appliances' checks as ``astara-admin``, the APIs from the catalog (no URL option),
    the load-balancer stage included."""
    ports, state = aio_keystone
    summary = state / "burnin-ks.json"
    r = subprocess.run([str(OPENSTACK.parent / "astara-burnin"), "--os-cloud", "astara",
                        "--admin-cloud", "astara-admin",
                        "--boot-timeout", "90", "--json", str(summary)],
                       env=clouds_env(state), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{logs(state)}"
    print(r.stdout)  # the per-step timings, shown with -s
    result = json.loads(summary.read_text())
    assert result["ok"] is True
    assert len(result["steps"]) == 22
    assert all(s["status"] in ("ok", "warn") for s in result["steps"]), result["steps"]
