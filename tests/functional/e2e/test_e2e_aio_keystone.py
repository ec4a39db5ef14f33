"""End to end, as root: ``tools/aio --keystone`` up, the unmodified ``openstack``
command with the clouds.yaml it wrote, and a router it creates served by an appliance
(the orchestrator reads it and boots through the compute API with the astara user's
token, the compute API binds its ports with its own, the router goes ACTIVE)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import wait_for

OPENSTACK = Path(sys.executable).parent / "openstack"
NEEDED = ("ip", "nft", "dnsmasq")

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def openstack(state: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(state / "clouds.yaml")
    done = subprocess.run([str(OPENSTACK), "--os-cloud", "astara", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    return done.stdout


def appliances() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {ln.split()[0] for ln in out.splitlines() if ln.startswith("astara-appliance-")}


def test_openstack_command_against_the_keystone_all_in_one(aio_keystone):
    ports, state = aio_keystone
    before = appliances()
    assert (state / "clouds.yaml").stat().st_mode & 0o777 == 0o600
    assert (state / "aio-keystone.conf").stat().st_mode & 0o777 == 0o600
    assert isinstance(json.loads(openstack(state, "network", "list", "-f", "json")), list)
    openstack(state, "network", "create", "ks-net")
    openstack(state, "subnet", "create", "ks-sub", "--network", "ks-net",
              "--subnet-range", "10.77.0.0/24")
    router = json.loads(openstack(state, "router", "create", "ks-r1", "-f", "json"))
    openstack(state, "router", "add", "subnet", "ks-r1", "ks-sub")

    def active() -> bool:
        shown = json.loads(openstack(state, "router", "show", router["id"], "-f", "json"))
        return shown["status"] == "ACTIVE"

    try:
        wait_for(active, 240, "the router ACTIVE (its appliance booted and configured)", every=2)
    except AssertionError:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}"
                         for p in sorted((state / "logs").glob("*.log")))
        raise AssertionError(logs) from None
    assert appliances() - before
    openstack(state, "router", "remove", "subnet", "ks-r1", "ks-sub")
    openstack(state, "router", "delete", router["id"])
    wait_for(lambda: not (appliances() - before), 180, "the router's appliance removed",
             every=2)


def test_burnin_passes_against_the_keystone_all_in_one(aio_keystone):
    """``astara-burnin`` unmodified with the clouds.yaml ``tools/aio --keystone`` wrote:
    the tenant's steps as the ``astara`` member, the external network and the
    appliances' checks as ``astara-admin``, the APIs from the catalog (no URL option),
    the load-balancer stage included."""
    ports, state = aio_keystone
    summary = state / "burnin-ks.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(state / "clouds.yaml")
    r = subprocess.run([str(OPENSTACK.parent / "astara-burnin"), "--os-cloud", "astara",
                        "--admin-cloud", "astara-admin",
                        "--boot-timeout", "90", "--json", str(summary)],
                       env=env, capture_output=True, text=True, timeout=600)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                     for p in sorted((state / "logs").glob("*.log")))
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{logs}"
    print(r.stdout)  # the per-step timings, shown with -s
    result = json.loads(summary.read_text())
    assert result["ok"] is True
    assert len(result["steps"]) == 22
    assert all(s["status"] in ("ok", "warn") for s in result["steps"]), result["steps"]
