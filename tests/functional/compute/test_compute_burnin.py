"""``astara-compute-burnin`` against a freshly started deployment with the netns backend.

The services (network API, compute API, metadata, agent, dispatcher) run on loopback
in this process (``compute_stack``); the burn-in runs through its entry point with
the deployment's ini file, so it sees only the public APIs plus the bridge and
namespace naming. Everything created is checked gone afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from compute_stack import ComputeStack, new_project

from astara.compute_service import catalog
from astara.compute_service.burnin_probe import PROBE_PREFIX
from astara.compute_service.cli import burnin as cli

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("dnsmasq", "dhclient", "ip", "ping")),
                       reason="needs dnsmasq, dhclient, ping and iproute2"),
]

STEPS = ["identity_required", "list_flavors", "list_images", "create_network",
         "create_server_a", "active_a", "ping_a", "stop_a", "start_a", "ping_a_again",
         "metadata_a", "create_server_b", "active_b", "ping_b", "ping_b_from_a",
         "delete_servers", "cleanup"]


@pytest.fixture(scope="module")
def stack():
    work = Path(tempfile.mkdtemp(prefix="astara-cburn-"))
    stack = ComputeStack(work).start()
    yield stack
    stack.close()
    assert stack.leftovers() == []
    shutil.rmtree(work, ignore_errors=True)


def burnin(stack: ComputeStack, *args: str) -> int:
    return cli.main(["--config-file", str(stack.config), *args])


def test_a_full_burn_in_passes_and_leaves_nothing(stack, tmp_path, capsys):
    out = tmp_path / "summary.json"
    project = new_project()
    rc = burnin(stack, "--project-id", project, "--run-id", f"{stack.tag}a",
                "--json", str(out), "--build-fail", "30", "--ping-timeout", "30",
                "--cidr", "10.253.7.0/24")
    summary = json.loads(out.read_text())
    assert rc == 0, capsys.readouterr().out
    assert summary["ok"] is True and summary["run_id"] == f"{stack.tag}a"
    assert [s["name"] for s in summary["steps"]] == STEPS
    assert all(s["status"] in ("ok", "warn") and s["seconds"] >= 0 for s in summary["steps"])
    assert stack.leftovers() == []
    with httpx.Client(base_url=stack.compute.url, headers=stack.headers(project)) as c:
        assert c.get("/v2.1/servers").json()["servers"] == []
    with httpx.Client(base_url=stack.network.url, headers=stack.headers(project)) as c:
        assert c.get("/v2.0/networks").json()["networks"] == []


def test_a_failing_step_fails_the_run_and_skips_the_rest(stack, tmp_path):
    out = tmp_path / "summary.json"
    rc = burnin(stack, "--project-id", new_project(), "--image", "no-such-image",
                "--json", str(out))
    steps = {s["name"]: s for s in json.loads(out.read_text())["steps"]}
    assert rc == 1
    assert steps["list_images"]["status"] == "fail"
    assert "no-such-image" in steps["list_images"]["detail"]
    assert steps["create_server_a"]["status"] == "skipped"
    assert steps["cleanup"]["status"] == "ok"


def test_no_identity_no_burn_in(stack):
    assert burnin(stack) == 2


def test_show_and_delete_stale(stack, capsys):
    project = new_project()
    headers = stack.headers(project)
    with httpx.Client(base_url=stack.compute.url, headers=headers) as c:
        made = c.post("/v2.1/servers", json={"server": {
            "name": "burnin-left-a", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": []}}).json()["server"]
        kept = c.post("/v2.1/servers", json={"server": {
            "name": "mine", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": []}}).json()["server"]
    capsys.readouterr()
    assert burnin(stack, "--project-id", project, "--show-stale") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in shown["servers"]] == [made["id"]]
    assert all(p["namespace"].startswith(PROBE_PREFIX) for p in shown["probes"])
    assert burnin(stack, "--project-id", project, "--delete-stale") == 0
    capsys.readouterr()
    with httpx.Client(base_url=stack.compute.url, headers=headers) as c:
        assert [s["id"] for s in c.get("/v2.1/servers").json()["servers"]] == [kept["id"]]
        c.delete(f"/v2.1/servers/{kept['id']}")
