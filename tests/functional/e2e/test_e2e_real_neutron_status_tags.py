"""The orchestrator's network client against a REAL neutron-server (29.0.0,
tools/neutron-loopback, noauth: no Keystone or Astara stack needed): Neutron refuses the
router's ``status``, lists its tag extension, and shows the orchestrator's status as
one ``astara-status:<STATUS>`` tag beside the project's own."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from astara.orchestrator.clients import status_tags
from astara.orchestrator.clients.network import HttpNetworkAPI

REPO = Path(__file__).parents[3]
NEUTRON = REPO / "tools" / "neutron-loopback"

pytestmark = [pytest.mark.functional]


@pytest.fixture
def neutron(capsys):
    where = tempfile.mkdtemp(prefix="astara-neutron-tags-")
    t0 = time.monotonic()
    try:
        started = subprocess.run([str(NEUTRON), "start", where], capture_output=True,
                                 text=True, timeout=600)
        assert started.returncode == 0, started.stderr[-3000:]
        with capsys.disabled():
            print(f"\nneutron-server up in {time.monotonic() - t0:.1f} s")
        yield started.stdout.strip()
    finally:
        subprocess.run([str(NEUTRON), "stop", where], capture_output=True, timeout=300)


def test_neutron_shows_the_orchestrators_status_as_a_tag(neutron):
    with httpx.Client(base_url=neutron + "/v2.0", timeout=30) as admin:
        assert status_tags.supported(admin.get("/extensions").json())
        router = admin.post("/routers", json={"router": {
            "name": "tagged", "project_id": "d" * 32}}).json()["router"]
        assert admin.put(f"/routers/{router['id']}/tags/blue").status_code == 201
        client = HttpNetworkAPI(neutron, "mgmt", {})
        try:
            client.set_router_status(router["id"], "BUILD")
            before = client.calls
            client.set_router_status(router["id"], "ACTIVE")
            assert client.calls - before == 4  # one tag added, three others removed
        finally:
            client.close()
        shown = admin.get(f"/routers/{router['id']}").json()["router"]
    assert sorted(shown["tags"]) == ["astara-status:ACTIVE", "blue"]
    assert shown["status"] == router["status"]  # Neutron's own, untouched
