"""``astara-ctl loadbalancer`` against a real orchestrator with the ``loadbalancer``
driver, the load-balancer API and the network API (no compute service: the appliance
cannot boot, and the view says why). A load balancer made through openstacksdk is
listed by ``loadbalancer list`` and not by ``router list``, and its commands reach it."""

from __future__ import annotations

import json

import pytest

from tests.integration.orchestrator.conftest import running_orchestrator
from tests.support import wait_for


@pytest.fixture(scope="module")
def orchestrator(network_api, network_settings, lb_api, tmp_path_factory):
    with running_orchestrator(network_api, network_settings, tmp_path_factory.mktemp("orch"),
                              default="enabled_drivers = router,loadbalancer",
                              orchestrator=f"loadbalancer_url = {lb_api.url}/") as orch:
        yield orch


def listed(orch, kind: str) -> list[dict]:
    r = orch.ctl("--format", "json", kind, "list")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_load_balancer_is_listed_shown_and_commanded_as_one(orchestrator, alice, subnet):
    lb = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="ctl-lb")
    router = alice.sdk.network.create_router(name="ctl-router")
    # (the first steps may be listed before the failed boot's error is: wait for it)
    seen = wait_for(lambda: (v := next((x for x in listed(orchestrator, "loadbalancer")
                                        if x["id"] == lb.id), None)) and v["steps"]
                    and "compute API unreachable" in (v.get("last_error") or "") and v,
                    what="the load balancer listed with its boot's error")
    assert seen["kind"] == "loadbalancer" and seen["tenant_id"] == alice.project
    wait_for(lambda: router.id in [x["id"] for x in listed(orchestrator, "router")])
    assert lb.id not in [x["id"] for x in listed(orchestrator, "router")]
    assert router.id not in [x["id"] for x in listed(orchestrator, "loadbalancer")]

    table = orchestrator.ctl("loadbalancer", "list")
    assert table.returncode == 0, table.stderr
    assert "VIP_ADDRESS" in table.stdout and lb.id in table.stdout
    shown = orchestrator.ctl("loadbalancer", "show", lb.id)
    assert shown.returncode == 0 and "kind: loadbalancer" in shown.stdout
    assert "steps:" in shown.stdout and "vip_address:" in shown.stdout

    rebuilt = orchestrator.ctl("--format", "json", "loadbalancer", "rebuild", lb.id)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout) == {"loadbalancer": lb.id, "kind": "loadbalancer",
                                          "command": "rebuild"}
    refused = orchestrator.ctl("loadbalancer", "update", router.id)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"astara-ctl: loadbalancer {router.id} not found (HTTP 404)"
    assert orchestrator.ctl("router", "show", lb.id).returncode == 0  # any kind, by id
