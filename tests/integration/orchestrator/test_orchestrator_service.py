"""astara-orchestrator as a process against a real network API: intake, RPC, astara-ctl.

No compute service runs here, so routers cannot be booted: the test checks what
the orchestrator does around that (it sees routers from events and the resync,
records why it cannot proceed, honours debug switches, restarts a dead worker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.integration.network.helpers import name
from tests.integration.orchestrator.conftest import write_secret
from tests.support import wait_for

BIN = Path(sys.executable).parent
ROUTES = [("PUT", "/poll/"), ("PUT", "/workers/debug/"),
          *(("PUT", f"/router/{a}/{'0' * 8}") for a in ("rebuild", "update", "debug", "manage")),
          ("PUT", "/tenant/debug/t1"), ("PUT", "/tenant/manage/t1"),
          ("PUT", "/global/debug/"), ("PUT", "/global/manage/"), ("GET", "/routers/"),
          ("GET", f"/routers/{'0' * 8}"), ("GET", "/workers/"), ("GET", "/debug/"),
          ("GET", "/health/"), ("GET", "/loadbalancers/"),
          ("GET", f"/loadbalancers/{'0' * 8}"), ("PUT", f"/loadbalancer/rebuild/{'0' * 8}"),
          ("GET", "/no/such/route"), ("DELETE", "/routers/")]


def router_view(orch, rid):
    r = orch.get(f"/routers/{rid}")
    return r.json()["router"] if r.status_code == 200 else None


def test_new_router_is_picked_up_from_its_event_and_explained(orchestrator, demo):
    orch = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    view = wait_for(lambda: (v := router_view(orch, router.id)) and v["steps"] and v)
    assert view["tenant_id"] == demo.project
    assert "compute API unreachable" in view["last_error"]
    listed = orch.ctl("--format", "json", "router", "list")
    assert listed.returncode == 0, listed.stderr
    assert router.id in [r["id"] for r in json.loads(listed.stdout)]
    table = orch.ctl("router", "list")
    assert "TENANT_ID" in table.stdout and router.id in table.stdout


def test_a_member_claiming_the_orchestrators_user_id_is_still_heard(orchestrator, demo):
    """The X-User-Id is the caller's to write: only an admin's call is the orchestrator's own."""
    with demo.http() as c:
        c.headers["X-User-Id"] = "astara-orchestrator"
        r = c.post("/routers", json={"router": {"name": name("forged")}})
        assert r.status_code == 201, r.text
        rid = r.json()["router"]["id"]
    view = wait_for(lambda: router_view(orchestrator, rid))
    assert view["tenant_id"] == demo.project


def test_management_network_is_created_once(orchestrator, admin):
    # (a tenant's network of the same name, made by another test, is not it)
    nets = [n for n in admin.sdk.network.networks(name="astara-mgmt")
            if n.project_id == "astara-service"]
    assert len(nets) == 1
    [subnet] = list(admin.sdk.network.subnets(network_id=nets[0].id))
    assert subnet.ip_version == 6 and subnet.gateway_ip is None


def test_debug_mode_stops_work_and_manage_resumes_it(orchestrator, demo):
    orch = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    wait_for(lambda: (v := router_view(orch, router.id)) and v["steps"])
    r = orch.ctl("router", "debug", router.id, "--reason", "looking at it")
    assert r.returncode == 0, r.stderr
    snap = orch.get("/debug/").json()
    assert snap["routers"] == {router.id: "looking at it"}
    wait_for(lambda: router_view(orch, router.id)["steps"][-1]["step"] == "Exit")
    assert "debug" in router_view(orch, router.id)["steps"][-1]["reason"]
    assert orch.ctl("router", "manage", router.id).returncode == 0
    assert orch.get("/debug/").json()["routers"] == {}
    wait_for(lambda: router_view(orch, router.id)["steps"][-1]["step"] != "Exit")


def test_tenant_and_global_switches(orchestrator, demo):
    orch = orchestrator
    assert orch.ctl("tenant", "debug", demo.project).returncode == 0
    assert demo.project in orch.get("/debug/").json()["tenants"]
    assert orch.ctl("tenant", "manage", demo.project).returncode == 0
    assert orch.ctl("global", "debug", "--reason", "maintenance").returncode == 0
    assert orch.get("/debug/").json()["global"] == "maintenance"
    assert orch.ctl("global", "manage").returncode == 0
    assert orch.get("/debug/").json()["global"] is None


def test_unknown_router_is_a_clear_error(orchestrator):
    orch = orchestrator
    r = orch.ctl("router", "rebuild", "00000000-0000-0000-0000-000000000000")
    assert r.returncode != 0
    assert "not found" in r.stderr
    r = orch.ctl("poll", url="http://127.0.0.1:9")
    assert r.returncode != 0 and "unreachable" in r.stderr


def test_health_shows_the_rebuild_breaker_for_the_whole_orchestrator(orchestrator, demo):
    """The parent publishes what every worker reported: routers are counted across
    worker processes; nothing was checked (routers cannot boot here), so it is closed."""
    orch = orchestrator
    routers = [demo.sdk.network.create_router(name=name("r")) for _ in range(3)]
    wait_for(lambda: all(router_view(orch, r.id) for r in routers))
    assert len({router_view(orch, r.id)["_worker"] for r in routers} | {0, 1}) == 2
    view = wait_for(lambda: (b := orch.get("/health/").json()["breaker"])["routers"]
                    == len(orch.get("/routers/").json()["routers"]) and b)
    assert (view["state"], view["failed"], view["checked"]) == ("closed", 0, 0)
    # the module's orchestrator also holds the routers earlier tests made: 10 % of them
    assert view["budget"] == max(1, int(0.1 * view["routers"]))
    assert (view["window"], view["rebuilds_in_window"]) == (300, 0)
    assert view["meaning"] is None
    shown = orch.ctl("health")
    assert shown.returncode == 0, shown.stderr
    assert "state: closed" in shown.stdout and "budget: " in shown.stdout
    as_json = orch.ctl("--format", "json", "health")
    assert json.loads(as_json.stdout)["failure_share"] == 0.5


def test_dead_worker_is_restarted_and_its_routers_requeued(orchestrator, demo):
    orch = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    view = wait_for(lambda: router_view(orch, router.id))
    workers = orch.get("/workers/").json()["workers"]
    victim = workers[view["_worker"]]
    os.kill(victim["pid"], signal.SIGKILL)
    restarted = wait_for(lambda: next(
        (w for w in orch.get("/workers/").json()["workers"]
         if w["index"] == victim["index"] and w["alive"] and w["pid"] != victim["pid"]), None))
    assert restarted["restarts"] == victim["restarts"] + 1
    # The new process's own counters: it has reconciled the routers handed back to it
    # (the module's earlier routers too: wait for this one's view, not any pass).
    wait_for(lambda: next(w for w in orch.get("/workers/").json()["workers"]
                          if w["index"] == victim["index"] and w["pid"] == restarted["pid"]
                          ).get("passes", 0) >= 1)
    back = wait_for(lambda: router_view(orch, router.id))
    assert back["_worker"] == victim["index"]


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": ""}, {"X-Auth-Token": "wrong"},
                                     "truncated", "other-header"])
def test_every_rpc_route_refuses_a_caller_without_the_token(orchestrator, headers):
    if headers == "truncated":
        headers = {"X-Auth-Token": orchestrator.token[:-1]}
    elif headers == "other-header":
        headers = {"Authorization": f"Bearer {orchestrator.token}"}
    with httpx.Client(base_url=orchestrator.url, headers=headers) as http:
        for method, path in ROUTES:
            r = http.request(method, path, json={"reason": "x"})
            assert r.status_code == 401, (method, path)
            assert r.json() == {"error": {"code": 401, "message": "authentication required"}}
    assert orchestrator.get("/debug/").json() == {"routers": {}, "tenants": {},
                                                  "global": None}


def test_the_token_opens_every_rpc_route(orchestrator):
    expected = {"/router/": 404, "/routers/0": 404, "/loadbalancer/": 404,
                "/loadbalancers/0": 404, "/no/": 404, "DELETE": 405}
    with httpx.Client(base_url=orchestrator.url, headers=orchestrator.headers,
                      timeout=30) as http:
        for method, path in ROUTES:
            r = http.request(method, path)
            want = next((c for k, c in expected.items() if path.startswith(k) or k == method),
                        200)
            assert r.status_code == want, (method, path, r.text)
            assert "error" not in r.json() or r.json()["error"]["code"] == want
        assert http.put("/global/manage/").status_code == 200
        assert http.put("/tenant/manage/t1").status_code == 200


def test_ctl_without_a_readable_token_says_so_in_one_line(orchestrator, tmp_path):
    missing = orchestrator.ctl("router", "list", env={"ASTARA_STATE_PATH": str(tmp_path)})
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0
    assert f"{tmp_path}/rpc_auth_token does not exist" in missing.stderr
    wrong = tmp_path / "wrong"
    write_secret(wrong, "not-the-token")
    refused = orchestrator.ctl("--token-file", str(wrong), "router", "list")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "astara-ctl: authentication required (HTTP 401)"
    by_env = orchestrator.ctl("router", "list", env={"ASTARA_STATE_PATH": str(tmp_path),
                                                     "ASTARA_RPC_TOKEN": orchestrator.token})
    assert by_env.returncode == 0, by_env.stderr


@pytest.mark.parametrize("problem", ["missing", "empty", "world-readable"])
def test_orchestrator_with_a_bad_token_file_stops_with_one_line(tmp_path, problem):
    token = tmp_path / "token"
    if problem != "missing":
        write_secret(token, "" if problem == "empty" else "t0ken")
    if problem == "world-readable":
        token.chmod(0o644)
    conf = tmp_path / "o.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n[orchestrator]\n"
                    f"rpc_auth_token_file = {token}\n")
    r = subprocess.run([str(BIN / "astara-orchestrator"), "--config-file", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    [line] = r.stderr.strip().splitlines()
    why = {"missing": "does not exist", "empty": "is empty",
           "world-readable": "is readable by other users (mode 0644): chmod 600 it"}[problem]
    assert line == f"astara-orchestrator: RPC auth token file {token} {why}"


def test_hostile_commands_get_a_json_4xx_not_a_500(orchestrator):
    with httpx.Client(base_url=orchestrator.url, headers=orchestrator.headers) as http:
        deep = http.put("/tenant/debug/t-deep", content=b"[" * 30_000 + b"]" * 30_000)
        surrogate = http.put("/tenant/debug/t-sur", content=b'{"reason": "a\\ud800b\\u0000"}')
        assert (deep.status_code, surrogate.status_code) == (200, 200)
        tenants = http.get("/debug/").json()["tenants"]
        assert tenants["t-deep"] == "" and tenants["t-sur"] == "a?b"
        for path in ("/tenant/debug/" + "x" * 256, "/tenant/debug/a%00b",
                     "/router/debug/a%00b"):
            r = http.put(path)
            assert r.status_code == 400, path
            assert r.json()["error"]["message"] == "an id is 1 to 255 printable characters"
        big = http.put("/global/debug/", content=b"x" * (64 * 1024 + 1))
        assert big.status_code == 413 and big.json()["error"]["code"] == 413
        assert http.put("/tenant/manage/t-deep").status_code == 200
        assert http.put("/tenant/manage/t-sur").status_code == 200
        assert http.get("/debug/").json()["global"] is None
