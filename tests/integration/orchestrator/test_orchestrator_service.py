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
from tests.support import free_port, wait_for

BIN = Path(sys.executable).parent





@pytest.fixture(scope="module")
def orchestrator(network_api, network_settings, tmp_path_factory):
    state = tmp_path_factory.mktemp("orch")
    rpc_port = free_port()
    conf = state / "orchestrator.conf"
    conf.write_text(f"""[DEFAULT]
state_path = {network_settings.state_path}
[database]
connection = {network_settings.database.url}
[orchestrator]
network_url = {network_api.url}/
compute_url = http://127.0.0.1:{free_port()}/
rpc_hosts = 127.0.0.1
rpc_port = {rpc_port}
num_worker_processes = 2
health_check_period = 5
""")
    log = open(state / "orchestrator.log", "w")  # noqa: SIM115  (closed at teardown)
    proc = subprocess.Popen([str(BIN / "astara-orchestrator"), "--config-file", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{rpc_port}"

    def up():
        try:
            return httpx.get(f"{url}/workers/").status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, (state / "orchestrator.log").read_text()
            return False

    wait_for(up)
    yield url, proc, state
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def ctl(url, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "astara-ctl"), "--url", url, *args], capture_output=True,
                          text=True, timeout=60)


def router_view(url, rid):
    r = httpx.get(f"{url}/routers/{rid}")
    return r.json()["router"] if r.status_code == 200 else None


def test_new_router_is_picked_up_from_its_event_and_explained(orchestrator, demo):
    url, _, _ = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    view = wait_for(lambda: (v := router_view(url, router.id)) and v["steps"] and v)
    assert view["tenant_id"] == demo.project
    assert "compute API unreachable" in view["last_error"]
    listed = ctl(url, "--format", "json", "router", "list")
    assert listed.returncode == 0, listed.stderr
    assert router.id in [r["id"] for r in json.loads(listed.stdout)]
    table = ctl(url, "router", "list")
    assert "TENANT_ID" in table.stdout and router.id in table.stdout


def test_management_network_is_created_once(orchestrator, admin):
    nets = list(admin.sdk.network.networks(name="astara-mgmt"))
    assert len(nets) == 1
    [subnet] = list(admin.sdk.network.subnets(network_id=nets[0].id))
    assert subnet.ip_version == 6 and subnet.gateway_ip is None


def test_debug_mode_stops_work_and_manage_resumes_it(orchestrator, demo):
    url, _, _ = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    wait_for(lambda: (v := router_view(url, router.id)) and v["steps"])
    r = ctl(url, "router", "debug", router.id, "--reason", "looking at it")
    assert r.returncode == 0, r.stderr
    snap = httpx.get(f"{url}/debug/").json()
    assert snap["routers"] == {router.id: "looking at it"}
    wait_for(lambda: router_view(url, router.id)["steps"][-1]["step"] == "Exit")
    assert "debug" in router_view(url, router.id)["steps"][-1]["reason"]
    assert ctl(url, "router", "manage", router.id).returncode == 0
    assert httpx.get(f"{url}/debug/").json()["routers"] == {}
    wait_for(lambda: router_view(url, router.id)["steps"][-1]["step"] != "Exit")


def test_tenant_and_global_switches(orchestrator, demo):
    url, _, _ = orchestrator
    assert ctl(url, "tenant", "debug", demo.project).returncode == 0
    assert demo.project in httpx.get(f"{url}/debug/").json()["tenants"]
    assert ctl(url, "tenant", "manage", demo.project).returncode == 0
    assert ctl(url, "global", "debug", "--reason", "maintenance").returncode == 0
    assert httpx.get(f"{url}/debug/").json()["global"] == "maintenance"
    assert ctl(url, "global", "manage").returncode == 0
    assert httpx.get(f"{url}/debug/").json()["global"] is None


def test_unknown_router_is_a_clear_error(orchestrator):
    url, _, _ = orchestrator
    r = ctl(url, "router", "rebuild", "00000000-0000-0000-0000-000000000000")
    assert r.returncode != 0
    assert "not found" in r.stderr
    r = ctl("http://127.0.0.1:9", "poll")
    assert r.returncode != 0 and "unreachable" in r.stderr


def test_dead_worker_is_restarted_and_its_routers_requeued(orchestrator, demo):
    url, _, _ = orchestrator
    router = demo.sdk.network.create_router(name=name("r"))
    view = wait_for(lambda: router_view(url, router.id))
    workers = httpx.get(f"{url}/workers/").json()["workers"]
    victim = workers[view["_worker"]]
    os.kill(victim["pid"], signal.SIGKILL)
    restarted = wait_for(lambda: next(
        (w for w in httpx.get(f"{url}/workers/").json()["workers"]
         if w["index"] == victim["index"] and w["alive"] and w["pid"] != victim["pid"]), None))
    assert restarted["restarts"] == victim["restarts"] + 1
    passes = restarted.get("passes", 0)
    wait_for(lambda: next(w for w in httpx.get(f"{url}/workers/").json()["workers"]
                          if w["index"] == victim["index"]).get("passes", 0) > passes)
