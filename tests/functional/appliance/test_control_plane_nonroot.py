"""A local user who is not root (``nobody``) can neither steer nor read the control plane.

Real daemons: ``astara-network-api`` and ``astara-orchestrator`` on loopback (the
RPC API), and ``astara-appliance-agent --mode host`` serving an appliance
namespace that holds a router document (nftables, dnsmasq). As ``nobody``
(``setpriv --reuid nobody --regid nogroup --clear-groups``, stdlib Python only)
every RPC route and every appliance route answers 401, with no credential, a
wrong one or another appliance's; and no state file (database and its -wal,
-shm and .writelock, secrets, logs, rendered configs, pid files) can be opened.
The state directory is made world-traversable first, and the database is left
0644 before the services start, so what is checked is the services' own doing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from test_appliance_cli import (
    KEY,
    MGMT_ADDRESS,
    MGMT_MAC,
    api,
    credential,
    key_file,
    start_agent,
    status,
    stop_agent,
)
from tests.support import free_port, wait_for
from topology import Topology

from astara.appliance.apply.dnsmasq import run_as
from astara.cli import aio
from astara.wire import auth, examples

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "ip", "dnsmasq", "setpriv")),
                       reason="needs nft, iproute2, dnsmasq and setpriv"),
]
BIN = Path(sys.executable).parent
AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
             "/usr/bin/python3", "-c"]

# Run as nobody: try each request and each file; print what happened, as JSON.
PROBE = r"""
import json, sys, urllib.request, urllib.error
plan = json.loads(sys.argv[1])
out = {"http": [], "files": {}}
for method, url, headers, body in plan["http"]:
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=body.encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            out["http"].append([method, url, res.status, res.read().decode()[:200]])
    except urllib.error.HTTPError as exc:
        out["http"].append([method, url, exc.code, exc.read().decode()[:200]])
for path in plan["files"]:
    try:
        with open(path, "rb") as f:
            f.read(1)
        out["files"][path] = "read"
    except OSError as exc:
        out["files"][path] = type(exc).__name__
print(json.dumps(out))
"""


def as_nobody(plan: dict, netns: str | None = None) -> dict:
    argv = ([*(["ip", "netns", "exec", netns] if netns else []), *AS_NOBODY, PROBE,
             json.dumps(plan)])
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def files_under(*roots: Path) -> list[str]:
    return sorted(str(p) for root in roots for p in root.rglob("*") if p.is_file())


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    def listening():
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    wait_for(listening, timeout=120, what=f"port {port}")


@pytest.fixture
def work():
    path = Path(tempfile.mkdtemp(prefix="astara-nonroot-"))
    path.chmod(0o755)  # nobody may walk in: only the services' own modes protect
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def control_plane(work):
    """astara-network-api + astara-orchestrator on a state dir nobody can traverse."""
    state = work / "state"
    state.mkdir(mode=0o755)
    (state / "logs").mkdir(mode=0o755)
    (state / "astara.sqlite").touch(mode=0o644)  # as an older release left it
    token = "nonroot-test-token"
    for name, value in (("rpc_auth_token", token), ("appliance_auth_key", "k3y")):
        fd = os.open(state / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
    net_port, rpc_port = free_port(), free_port()
    conf = work / "services.conf"
    conf.write_text(f"""[DEFAULT]
state_path = {state}
[network_service]
bind_port = {net_port}
[orchestrator]
network_url = http://127.0.0.1:{net_port}/
compute_url = http://127.0.0.1:{free_port()}/
rpc_hosts = 127.0.0.1
rpc_port = {rpc_port}
num_worker_processes = 1
""")
    children = [aio.Child(name, [str(BIN / f"astara-{name}"), "--config-file", str(conf)])
                for name in ("network-api", "orchestrator")]
    try:
        for child, port in zip(children, (net_port, rpc_port), strict=True):
            aio._start(child, state / "logs")  # as astara-aio starts them, logs included
            wait_port(port, child.proc, state / "logs" / f"{child.name}.log")
        yield state, f"http://127.0.0.1:{rpc_port}", token
    finally:
        aio._stop(children)
        for child in children:
            child.log.close()


def test_nobody_cannot_steer_or_read_the_orchestrator(control_plane):
    state, rpc, token = control_plane
    routes = [("PUT", "/global/debug/"), ("PUT", "/router/rebuild/x"), ("PUT", "/poll/"),
              ("PUT", "/tenant/debug/t"), ("PUT", "/workers/debug/"), ("GET", "/routers/"),
              ("GET", "/debug/"), ("GET", "/workers/")]
    creds = [{}, {"X-Auth-Token": "guess"}, {"X-Auth-Token": token[:-1]}]
    plan = {"http": [(m, rpc + p, h, '{"reason": "pwned"}' if m == "PUT" else None)
                     for m, p in routes for h in creds],
            "files": files_under(state)}
    out = as_nobody(plan)
    assert [code for *_, code, _ in out["http"]] == [401] * len(plan["http"])
    assert all(json.loads(body)["error"]["code"] == 401 for *_, body in out["http"])
    names = {Path(p).name for p in plan["files"]}
    assert {"astara.sqlite", "astara.sqlite-wal", "astara.sqlite-shm",
            "astara.sqlite.writelock", "rpc_auth_token", "appliance_auth_key",
            "orchestrator.log", "network-api.log"} <= names, names
    assert out["files"] == {p: "PermissionError" for p in plan["files"]}
    assert all((Path(p).stat().st_mode & 0o077) == 0 for p in plan["files"])
    debug = httpx.get(f"{rpc}/debug/", headers={"X-Auth-Token": token}).json()
    assert debug == {"routers": {}, "tenants": {}, "global": None}


def router_document() -> dict:
    doc = examples.router_document(1)
    doc["networks"][0]["interface"]["addresses"] = [f"{MGMT_ADDRESS}/64"]
    return doc


def test_nobody_cannot_configure_or_read_an_appliance(work):
    topo = Topology(work)
    log = work / "agent.log"
    agent = None
    try:
        ctl = topo.netns("ctl")
        topo.plug(ctl, "mgmt", "eth0", "fa:16:3e:bb:00:02")
        topo.up(ctl, "eth0", "fdca::1/64")
        appliance = topo.netns("appl-r1")
        for net, ifname, mac in (("mgmt", "eth0", MGMT_MAC), ("ext", "eth1", examples.EXT_MAC),
                                 ("n1", "eth2", examples.INT1_MAC),
                                 ("n2", "eth3", examples.INT2_MAC)):
            topo.plug(appliance, net, ifname, mac)
        agent = start_agent(topo, work, log)
        wait_for(lambda: status(ctl), what="the appliance API")
        applied = api(ctl, "PUT", "/v1/system/config/", json=router_document())
        assert applied.status_code == 200, applied.text

        base = f"http://[{MGMT_ADDRESS}]:5000"
        stolen = router_document()
        stolen["floating_ips"].append({"floating_ip": "203.0.113.66", "fixed_ip": "192.0.2.66"})
        neighbour = credential("r2")[auth.HEADER]  # another appliance's own secret
        creds = [{}, {auth.HEADER: "Bearer guess"}, {auth.HEADER: neighbour},
                 {auth.HEADER: auth.bearer(auth.appliance_secret(b"not-" + KEY, "r1"))}]
        routes = [("GET", "/v1/status/", None), ("GET", "/v1/firewall/rules/", None),
                  ("GET", "/v1/system/interfaces/", None),
                  ("GET", "/v1/system/interface/eth1/", None), ("GET", "/v1/system/stats/", None),
                  ("GET", "/v1/system/config/", None),
                  ("PUT", "/v1/system/config/", json.dumps(stolen))]
        files = files_under(work / "state") + [str(key_file(work))]
        plan = {"http": [(m, base + p, {**h, "Content-Type": "application/json"}, b)
                         for m, p, b in routes for h in creds], "files": files}
        out = as_nobody(plan, ctl)
        assert [code for *_, code, _ in out["http"]] == [401] * len(plan["http"])

        dnsmasq_user, uid, _ = run_as()
        names = {Path(p).name for p in files}
        assert {"applied.json", "ruleset.nft", "dnsmasq-eth2.conf", "dnsmasq-eth2.hosts",
                "dnsmasq-eth2.pid", "dnsmasq-eth2.leases", "appliance_auth_key"} <= names, names
        readable_by_nobody = {p for p in files
                              if dnsmasq_user == "nobody" and Path(p).stat().st_uid == uid}
        assert {p: r for p, r in out["files"].items() if p not in readable_by_nobody} == {
            p: "PermissionError" for p in files if p not in readable_by_nobody}
        assert all((Path(p).stat().st_mode & 0o077) == 0 for p in files)

        rules = api(ctl, "GET", "/v1/firewall/rules/").text
        assert "203.0.113.66" not in rules and "203.0.113.10" in rules
    finally:
        stop_agent(agent, log)
        topo.destroy()
