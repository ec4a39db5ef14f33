"""``astara-compute-manage reconcile-servers`` as root against real namespaces."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from compute_stack import ComputeStack, new_project, sh

from astara.compute_service import catalog
from astara.compute_service.cli import manage

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
