"""``astara-compute-manage reconcile-servers`` as root against real namespaces."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from compute_stack import ComputeStack, new_project, sh
from tests.support import wait_for

from astara.cli import compute_manage as manage
from astara.compute_service import catalog
from astara.compute_service.agent import antispoof
from astara.compute_service.agent.reconcile import run as run_reconcile

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("dhclient", "ip")),
                       reason="needs dhclient and iproute2"),
]


@pytest.fixture
def stack():
    work = Path(tempfile.mkdtemp(prefix="astara-crec-"))
    stack = ComputeStack(work).start()
    yield stack
    stack.close()
    assert stack.leftovers() == []
    shutil.rmtree(work, ignore_errors=True)


def wait_status(c: httpx.Client, sid: str, want: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        server = c.get(f"/v2.1/servers/{sid}").json()["server"]
        if server["status"] == want:
            return server
        time.sleep(0.05)
    raise AssertionError(f"{sid} never {want}")


def reconcile(stack, capsys, *flags: str) -> dict:
    capsys.readouterr()
    assert manage.main(["--config-file", str(stack.config), "reconcile-servers", "--grace",
                        "0", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_stale_and_orphans_found_then_fixed(stack, capsys):
    with httpx.Client(base_url=stack.compute.url, headers=stack.headers(new_project())) as c:
        sids = [c.post("/v2.1/servers", json={"server": {
            "name": f"rec-{i}", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": []}}).json()["server"]["id"] for i in range(2)]
        for sid in sids:
            wait_status(c, sid, "ACTIVE")
        stack.stop()  # the host's agent and dispatcher are down while we tamper
        lost, kept = sids
        sh("ip", "netns", "del", stack.backend.netns(lost))
        orphan = str(uuid.uuid4())
        sh("ip", "netns", "add", stack.backend.netns(orphan))

        report = reconcile(stack, capsys)
        assert [r["id"] for r in report["stale"]] == [lost]
        assert [r["id"] for r in report["orphans"]] == [orphan]
        assert report["fixed"] == []
        assert Path(f"/run/netns/{stack.backend.netns(orphan)}").exists()

        report = reconcile(stack, capsys, "--fix-all")
        assert sorted(report["fixed"]) == sorted([lost, orphan])
        assert not Path(f"/run/netns/{stack.backend.netns(orphan)}").exists()
        assert c.get(f"/v2.1/servers/{lost}").json()["server"]["status"] == "ERROR"
        assert c.get(f"/v2.1/servers/{kept}").json()["server"]["status"] == "ACTIVE"
        assert not any(reconcile(stack, capsys)[k] for k in ("stale", "orphans", "unsynced",
                                                            "pending"))
        stack.start()
        for sid in sids:
            assert c.delete(f"/v2.1/servers/{sid}").status_code == 204
        deadline = time.monotonic() + 20
        while any(c.get(f"/v2.1/servers/{sid}").status_code != 404 for sid in sids):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_lost_interface_is_plugged_again(stack, capsys):
    project = new_project()
    headers = stack.headers(project)
    with httpx.Client(base_url=stack.network.url, headers=headers) as n:
        net = n.post("/v2.0/networks", json={"network": {"name": "rec-net"}}).json()["network"]
        n.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "cidr": "10.253.9.0/24"}})
    with httpx.Client(base_url=stack.compute.url, headers=headers) as c:
        sid = c.post("/v2.1/servers", json={"server": {
            "name": "rec-ports", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": [{"uuid": net["id"]}]}}).json()["server"]["id"]
        wait_status(c, sid, "ACTIVE")
        port = c.get(f"/v2.1/servers/{sid}/os-interface").json()["interfaceAttachments"][0]
        tap = stack.backend.tap(port["port_id"])
        stack.stop()
        sh("ip", "link", "del", tap)  # takes the instance's eth0 with it (a veth pair)
        assert stack.backend.observe()[sid].ports == ()

        report = reconcile(stack, capsys)
        assert report["ports"] == [{"id": sid, "event": None,
                                    "detail": f"not plugged: {port['port_id']}"}]
        report = reconcile(stack, capsys, "--fix-ports")
        assert report["fixed"] == [sid]
        assert Path(f"/sys/class/net/{tap}").exists()
        assert stack.backend.observe()[sid].ports == (port["mac_addr"],)
        assert reconcile(stack, capsys)["ports"] == []

        # the DHCP client dies: restarted, the instance itself is left running
        pidfile = stack.settings.state_dir / "instances" / sid / "dhclient-eth0.pid"
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while stack.backend.observe()[sid].missing != ("dhclient-eth0",):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        responder = (pidfile.parent / "responder.pid").read_text()
        report = reconcile(stack, capsys, "--fix-processes")
        assert report["processes"] == [{"id": sid, "event": None,
                                        "detail": "not running: dhclient-eth0"}]
        assert report["fixed"] == [sid]
        assert stack.backend.observe()[sid].missing == ()
        assert (pidfile.parent / "responder.pid").read_text() == responder
        stack.start()
        assert c.delete(f"/v2.1/servers/{sid}").status_code == 204
        deadline = time.monotonic() + 20
        while c.get(f"/v2.1/servers/{sid}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with httpx.Client(base_url=stack.network.url, headers=headers) as n:
        assert n.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def light_reconcile(stack) -> dict:
    return run_reconcile(stack.db, stack.backend, stack.settings.host,
                         set(stack.agent.reconcile_fix), grace=0)


def _chain(tap: str) -> str:
    return sh("nft", "list", "chain", "netdev", antispoof.TABLE, tap, check=False).stdout


def test_anti_spoofing_follows_the_ports_and_a_lost_chain_is_reloaded(stack, capsys):
    """Through the APIs: a port's pairs reach its chain, a port with port security
    disabled gets none, and the agent's light reconcile reloads a deleted chain."""
    project = new_project()
    headers = stack.headers(project)
    with httpx.Client(base_url=stack.network.url, headers=headers) as n:
        net = n.post("/v2.0/networks", json={"network": {"name": "as-net"}}).json()["network"]
        n.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "cidr": "10.253.8.0/24"}})
        guarded = n.post("/v2.0/ports", json={"port": {
            "network_id": net["id"], "allowed_address_pairs": [
                {"ip_address": "10.253.8.200"},
                {"ip_address": "10.253.7.0/24", "mac_address": "fa:16:3e:99:00:01"}]}}
        ).json()["port"]
        open_ = n.post("/v2.0/ports", json={"port": {"network_id": net["id"],
                                                     "port_security_enabled": False}}
                       ).json()["port"]
    with httpx.Client(base_url=stack.compute.url, headers=headers) as c:
        sid = c.post("/v2.1/servers", json={"server": {
            "name": "as", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": [{"port": guarded["id"]}, {"port": open_["id"]}]}}
        ).json()["server"]["id"]
        wait_status(c, sid, "ACTIVE")
        tap, open_tap = stack.backend.tap(guarded["id"]), stack.backend.tap(open_["id"])
        chain = _chain(tap)
        fixed = guarded["fixed_ips"][0]["ip_address"]
        for address in (fixed, "10.253.8.200"):
            assert f"ether saddr {guarded['mac_address']} ip saddr {address} accept" in chain
        assert "ether saddr fa:16:3e:99:00:01 ip saddr 10.253.7.0/24 accept" in chain
        assert _chain(open_tap) == ""
        assert stack.backend.observe()[sid].filtered == (guarded["mac_address"],)

        sh("nft", "delete", "chain", "netdev", antispoof.TABLE, tap)
        # what the agent runs every interval (now: the create's job is not 10 s old)
        report = light_reconcile(stack)
        assert report["ports"] == [{"id": sid, "event": None, "detail":
                                    f"no anti-spoofing filter: {guarded['id']}"}]
        assert report["fixed"] == [sid]
        assert _chain(tap) == chain
        assert light_reconcile(stack)["ports"] == []

        assert c.delete(f"/v2.1/servers/{sid}").status_code == 204
        wait_for(lambda: c.get(f"/v2.1/servers/{sid}").status_code == 404, timeout=20,
                 what="the server deleted", every=0.05)
        assert _chain(tap) == ""
