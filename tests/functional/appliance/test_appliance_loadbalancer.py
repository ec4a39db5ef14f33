"""The appliance balances: a load balancer namespace driven only through its REST API,
with a real haproxy in front of member "instances" (namespaces running a tiny HTTP
server, started and killed by PID).

Topology (`topology.py`): the appliance `lb` (management ge0 fdca::3, VIP 192.0.2.10
on ge1), a controller fdca::1 on the management bridge (the API client), a client
192.0.2.50 and members m1 192.0.2.21, m2 192.0.2.22, m3 192.0.2.23 on the VIP's
network. Runs as root with nft and haproxy; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx
import psutil
import pytest
from tests import loadbalancer_world as world
from tests.support import wait_for
from topology import Topology

from astara.appliance.apply.errors import ValidationFailed
from astara.appliance.apply.haproxy_process import HaproxyProcess
from astara.appliance.apply.netns import entered
from astara.appliance.host import Host
from astara.appliance.render import haproxy as render_haproxy
from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section
from astara.wire import auth, examples, parse_config

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("nft", "haproxy", "ip")),
                       reason="needs nft, haproxy and iproute2"),
]

SECRET = auth.appliance_secret(b"functional-key", "lb1")
VIP = "192.0.2.10"
MEMBERS = {"m1": "192.0.2.21", "m2": "192.0.2.22", "m3": "192.0.2.23"}
BIG = 32 * 1024 * 1024  # the long download: far more than haproxy and the sockets buffer
SERVER = '''
import http.server, sys
NAME, BIG = sys.argv[1], int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            chunk = b"x" * 65536
            for _ in range(BIG // len(chunk)):
                self.wfile.write(chunk)
            return
        body = NAME.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
'''


def member(name: str) -> dict:
    return {"id": f"member-{name}", "address": MEMBERS[name], "protocol_port": 8080}


def document(members=("m1", "m2"), persistence=None, policies=()) -> dict:
    doc = examples.loadbalancer_document()
    lb = doc["loadbalancer"]
    lb["listeners"] = [{"id": "web", "protocol": "HTTP", "protocol_port": 80,
                        "default_pool_id": "pool", "l7policies": list(policies)}]
    lb["pools"] = [{"id": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "session_persistence": persistence,
                    "members": [member(m) for m in members],
                    "healthmonitor": {"id": "hm", "type": "HTTP", "delay": 1, "timeout": 1,
                                      "max_retries": 1, "max_retries_down": 1,
                                      "url_path": "/healthz"}}]
    return doc


class Members:
    """One HTTP server process per member namespace, started and killed by PID."""

    def __init__(self, topo: Topology, script: Path) -> None:
        self.topo, self.script = topo, script
        self.procs: dict[str, psutil.Popen] = {}

    def start(self, name: str) -> None:
        proc = psutil.Popen(["ip", "netns", "exec", self.topo.name(name), sys.executable,
                             str(self.script), name, str(BIG)],
                            stderr=subprocess.DEVNULL)  # health checks end in resets
        self.procs[name] = proc
        self.topo.pids.append(proc.pid)

        def listening() -> bool:
            with self.topo.socket_in(self.topo.name(name)) as s:
                return s.connect_ex(("127.0.0.1", 8080)) == 0
        wait_for(listening, what=f"member {name}'s server")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def lab():
    work = Path(tempfile.mkdtemp(prefix="astara-lb-"))
    work.chmod(0o755)
    topo = Topology(work)
    script = work / "member.py"
    script.write_text(SERVER)
    members = Members(topo, script)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = work / "state"
    hosts = [Host(state, lambda name: SECRET, api_port=5000)]
    try:
        lbns, ctl, client = topo.netns("lb"), topo.netns("ctl"), topo.netns("cl")
        topo.plug(lbns, "mgmt", "ge0", examples.MGMT_MAC)
        topo.plug(lbns, "vip", "ge1", examples.INT1_MAC)
        topo.plug(ctl, "mgmt", "eth0", "fa:16:3e:bb:00:02")
        topo.up(ctl, "eth0", "fdca::1/64")
        topo.plug(client, "vip", "eth0", "fa:16:3e:bb:00:03")
        topo.up(client, "eth0", "192.0.2.50/24")
        for i, (name, address) in enumerate(MEMBERS.items()):
            ns = topo.netns(name)
            topo.plug(ns, "vip", "eth0", f"fa:16:3e:cc:00:0{i + 1}")
            topo.up(ns, "eth0", f"{address}/24")
            members.start(name)

        def add(host: Host) -> None:
            asyncio.run_coroutine_threadsafe(
                host.add("lb1", lbns, examples.MGMT_MAC, "fdca::3/64"), loop).result(10)

        def api(method, path, **kw):
            with entered(ctl):
                return httpx.request(method, f"http://[fdca::3]:5000{path}", timeout=30,
                                     headers={auth.HEADER: auth.bearer(SECRET)}, **kw)

        def restart_agent() -> None:
            """Stop serving without tearing down (as at agent shutdown), serve again."""
            asyncio.run_coroutine_threadsafe(hosts[0].close(teardown=False), loop).result(20)
            hosts[0] = Host(state, lambda name: SECRET, api_port=5000)
            add(hosts[0])

        add(hosts[0])
        yield dict(topo=topo, api=api, lb=lbns, client=client, members=members,
                   state=state / "lb1", restart_agent=restart_agent)
    finally:
        try:
            asyncio.run_coroutine_threadsafe(hosts[0].close(), loop).result(20)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            topo.destroy()
            shutil.rmtree(work, ignore_errors=True)


def put(lab, doc, status=200) -> dict:
    res = lab["api"]("PUT", "/v1/system/config/", json=doc)
    assert res.status_code == status, res.text
    return res.json()


def status(lab) -> dict:
    return lab["api"]("GET", "/v1/status/").json()


def members_status(lab) -> tuple[dict[str, str], str]:
    pool = status(lab)["loadbalancer"]["pools"][0]
    return {m["id"]: m["operating_status"] for m in pool["members"]}, pool["operating_status"]


def wait_members(lab, wanted: dict[str, str], pool: str) -> None:
    wait_for(lambda: members_status(lab) == (wanted, pool),
             what=f"members {wanted}, pool {pool} (last: {members_status(lab)})")


def get(lab, path="/", **kw) -> httpx.Response:
    with entered(lab["client"]):
        return httpx.get(f"http://{VIP}{path}", timeout=10, **kw)


def haproxy_pid(lab) -> int | None:
    for service in status(lab)["services"]:
        if service["name"] == "haproxy" and service["detail"].startswith("pid "):
            return int(service["detail"].split()[1].rstrip(","))
    return None


def haproxy_processes(lab) -> dict[int, int]:
    """pid → parent pid of every live haproxy process serving this appliance."""
    found = {}
    for proc in psutil.process_iter(["name", "cmdline", "ppid", "status"]):
        if (proc.info["name"] == "haproxy"
                and str(lab["state"]) in " ".join(proc.info["cmdline"] or [])
                and proc.info["status"] != psutil.STATUS_ZOMBIE):
            found[proc.pid] = proc.info["ppid"]
    return found


def test_01_round_robin_across_both_members(lab):
    body = put(lab, document())
    assert body["haproxy"] == "start" and body["dhcp"] == []
    wait_members(lab, {"member-m1": "ONLINE", "member-m2": "ONLINE"}, "ONLINE")
    answers = [get(lab).text for _ in range(6)]
    assert answers.count("m1") == 3 and answers.count("m2") == 3
    doc = status(lab)
    assert doc["loadbalancer"]["operating_status"] == "ONLINE"
    assert doc["loadbalancer"]["listeners"][0]["operating_status"] == "ONLINE"
    assert doc["loadbalancer"]["listeners"][0]["counters"]["total_connections"] >= 6
    assert {s["name"]: s["healthy"] for s in doc["services"]}["haproxy"] is True
    assert not any(s["name"].startswith("dnsmasq") for s in doc["services"])
    assert put(lab, document())["changed"] is False


def test_02_only_the_listener_port_on_the_vip_is_open_and_nothing_forwards(lab):
    topo = lab["topo"]
    rules = lab["api"]("GET", "/v1/firewall/rules/").text
    assert "ip daddr 192.0.2.10 tcp dport 80 accept" in rules and "type nat" not in rules
    assert topo.run(lab["lb"], "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"
    with topo.socket_in(lab["client"]) as s:  # the agent API is not reachable from there
        s.settimeout(1.0)
        with pytest.raises(OSError):
            s.connect((VIP, 5000))


def test_03_a_stopped_member_is_routed_around(lab):
    lab["members"].stop("m2")
    try:
        wait_members(lab, {"member-m1": "ONLINE", "member-m2": "ERROR"}, "DEGRADED")
        assert status(lab)["loadbalancer"]["operating_status"] == "DEGRADED"
        assert {get(lab).text for _ in range(4)} == {"m1"}
    finally:
        lab["members"].start("m2")
    wait_members(lab, {"member-m1": "ONLINE", "member-m2": "ONLINE"}, "ONLINE")


def test_04_http_cookie_persistence_keeps_one_member(lab):
    assert put(lab, document(persistence={"type": "HTTP_COOKIE"}))["haproxy"] == "reload"
    first = get(lab)
    cookie = first.cookies.get("SRVID")
    assert cookie == f"member-{first.text}"
    assert {get(lab, cookies={"SRVID": cookie}).text for _ in range(6)} == {first.text}
    assert {get(lab).text for _ in range(4)} == {"m1", "m2"}  # without it: both again


def test_05_l7_redirect_to_url(lab):
    policy = {"id": "moved", "action": "REDIRECT_TO_URL", "position": 1,
              "redirect_url": "http://example.com/new", "redirect_http_code": 301,
              "rules": [{"id": "old", "type": "PATH", "compare_type": "STARTS_WITH",
                         "value": "/old"}]}
    assert put(lab, document(policies=[policy]))["haproxy"] == "reload"
    moved = get(lab, "/old/page")
    assert moved.status_code == 301 and moved.headers["location"] == "http://example.com/new"
    assert get(lab, "/other").text in ("m1", "m2")


def _api_views() -> tuple[dict, dict]:
    """Views as the load-balancer API's model endpoint gives them: an HTTP listener on
    80 to m1 and m2, a second pool of m3, and three L7 policies."""
    doc = examples.loadbalancer_document()
    lb = world.lb_view(id=doc["loadbalancer"]["id"], vip_address=VIP)

    def policy(oid: str, action: str, position: int, **kw) -> dict:
        return {**world._common(oid), "description": "", "action": action,
                "listener_id": "web", "redirect_pool_id": None, "redirect_url": None,
                "redirect_prefix": None, "position": position, "rules": [],
                "redirect_http_code": None, **kw}

    def rule(oid: str, policy_id: str, type_: str, compare: str, value: str, **kw) -> dict:
        out = {**world._common(oid), "type": type_, "compare_type": compare, "key": None,
               "value": value, "invert": False, "l7policy_id": policy_id, **kw}
        del out["name"]
        return out

    views = {
        "listeners": [world.listener("web", pool="pool")],
        "pools": [world.pool("pool", members=("member-m1", "member-m2")),
                  world.pool("api", members=("member-m3",))],
        "members": [world.member(f"member-{m}", MEMBERS[m]) for m in ("m1", "m2", "m3")],
        "healthmonitors": [],
        "l7policies": [
            policy("to-url", "REDIRECT_TO_URL", 2, redirect_url="http://example.com/moved",
                   redirect_http_code=302),
            policy("to-api", "REDIRECT_TO_POOL", 1, redirect_pool_id="api"),
            policy("deny", "REJECT", 3),
            policy("off", "REJECT", 4, admin_state_up=False),
        ],
        "l7rules": [
            rule("r-old", "to-url", "PATH", "STARTS_WITH", "/old"),
            rule("r-api", "to-api", "PATH", "STARTS_WITH", "/api"),
            rule("r-hdr", "deny", "HEADER", "EQUAL_TO", "blocked", key="X-Test"),
            rule("r-all", "off", "PATH", "STARTS_WITH", "/"),
        ],
    }
    return doc, {"lb": lb, **views}


def test_05b_l7_policies_mapped_from_the_api_views_redirect_route_and_reject(lab):
    """The orchestrator's map (API views -> document) served by a real haproxy."""
    doc, views = _api_views()
    section, refused = loadbalancer_section(
        views["lb"], views["listeners"], views["pools"], views["members"],
        views["healthmonitors"], views["l7policies"], views["l7rules"])
    assert refused == {}
    doc["loadbalancer"] = section
    assert put(lab, doc)["haproxy"] == "reload"
    moved = get(lab, "/old/page")
    assert moved.status_code == 302 and moved.headers["location"] == \
        "http://example.com/moved"
    assert {get(lab, "/api/v1").text for _ in range(4)} == {"m3"}  # the other pool
    assert get(lab, "/x", headers={"X-Test": "blocked"}).status_code == 403
    assert {get(lab, "/x", headers={"X-Test": "fine"}).text for _ in range(4)} == {"m1", "m2"}
    # The disabled policy (REJECT everything) is not in effect; neither is the default
    # pool used for a path a policy sends elsewhere.
    assert get(lab, "/").status_code == 200


def test_06_reload_keeps_a_long_download_going(lab):
    put(lab, document())
    master = haproxy_pid(lab)
    with entered(lab["client"]):
        sock = socket.create_connection((VIP, 80), timeout=20)
    with sock:
        sock.sendall(f"GET /big HTTP/1.1\r\nHost: {VIP}\r\n"
                     "Connection: close\r\n\r\n".encode())
        received = sock.recv(65536)  # started; the rest waits in the pipe
        assert b"200 OK" in received
        body = put(lab, document(members=("m1", "m2", "m3")))  # a member added
        assert body["haproxy"] == "reload" and haproxy_pid(lab) == master
        workers = [pid for pid, parent in haproxy_processes(lab).items() if parent == master]
        assert len(workers) == 2  # the new worker, and the old one still sending
        wait_members(lab, {"member-m1": "ONLINE", "member-m2": "ONLINE",
                           "member-m3": "ONLINE"}, "ONLINE")
        assert {get(lab).text for _ in range(6)} == {"m1", "m2", "m3"}
        while chunk := sock.recv(1 << 20):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    assert len(payload) == BIG, "the download was cut by the reload"


def test_07_a_config_haproxy_refuses_leaves_the_old_one_serving(lab):
    master = haproxy_pid(lab)
    conf = (lab["state"] / "haproxy.cfg").read_text()
    bad = {"id": "bad", "action": "REJECT", "position": 1,
           "rules": [{"id": "re", "type": "PATH", "compare_type": "REGEX", "value": "(["}]}
    res = lab["api"]("PUT", "/v1/system/config/", json=document(policies=[bad]))
    assert res.status_code == 500 and "haproxy -c refused" in res.json()["error"]
    doc = status(lab)
    assert doc["last_error"] == res.json()["error"] and "regex" in doc["last_error"].lower()
    haproxy = next(s for s in doc["services"] if s["name"] == "haproxy")
    assert not haproxy["healthy"] and haproxy_pid(lab) == master
    assert (lab["state"] / "haproxy.cfg").read_text() == conf
    assert {get(lab).text for _ in range(6)} == {"m1", "m2", "m3"}  # still serving
    body = put(lab, document(members=("m1", "m2", "m3")))
    assert status(lab)["last_error"] is None and body["haproxy"] == "none"


def test_07b_a_listener_on_the_metadata_proxy_port_cannot_bind(lab):
    master = haproxy_pid(lab)
    doc = document(members=("m1", "m2", "m3"))
    doc["loadbalancer"]["listeners"].append(
        {"id": "md", "protocol": "TCP", "protocol_port": 9697, "default_pool_id": "pool"})
    res = lab["api"]("PUT", "/v1/system/config/", json=doc)
    assert res.status_code == 500 and "haproxy" in res.json()["error"], res.text
    assert haproxy_pid(lab) == master
    assert {get(lab).text for _ in range(6)} == {"m1", "m2", "m3"}  # the old one serves
    put(lab, document(members=("m1", "m2", "m3")))
    assert status(lab)["last_error"] is None


def test_08_a_restarted_agent_adopts_haproxy(lab):
    master = haproxy_pid(lab)
    lab["restart_agent"]()
    doc = wait_for(lambda: status(lab), what="the restarted agent's status")
    assert doc["config_digest"] is not None and haproxy_pid(lab) == master
    assert put(lab, document(members=("m1", "m2", "m3")))["changed"] is False
    procs = haproxy_processes(lab)
    assert [pid for pid, parent in procs.items() if parent not in procs] == [master]
    assert any(parent == master for parent in procs.values())  # and its worker


def test_09_without_a_loadbalancer_section_no_haproxy_is_left(lab):
    master = haproxy_pid(lab)
    assert master is not None
    doc = copy.deepcopy(document())
    del doc["loadbalancer"]
    body = put(lab, doc)
    assert body["haproxy"] == "stop"
    assert haproxy_processes(lab) == {}
    assert not psutil.pid_exists(master) or psutil.Process(master).status() == \
        psutil.STATUS_ZOMBIE
    after = status(lab)
    assert after["loadbalancer"] is None
    assert "haproxy" not in {s["name"] for s in after["services"]}
    assert not (lab["state"] / "haproxy.cfg").exists()


def test_every_feature_renders_a_configuration_haproxy_accepts(tmp_path):
    """The renderer's whole vocabulary, checked by the real `haproxy -c`."""
    rules = [
        {"id": "r-path", "type": "PATH", "compare_type": "REGEX", "value": "^/a\\.b#c'\"d"},
        {"id": "r-host", "type": "HOST_NAME", "compare_type": "ENDS_WITH",
         "value": "example.com"},
        {"id": "r-head", "type": "HEADER", "compare_type": "CONTAINS", "key": "X-Env",
         "value": "-beta", "invert": True},
        {"id": "r-cook", "type": "COOKIE", "compare_type": "EQUAL_TO", "key": "flag",
         "value": "on"},
        {"id": "r-file", "type": "FILE_TYPE", "compare_type": "REGEX", "value": "jpe?g"},
        {"id": "r-ext", "type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "png"},
        {"id": "r-pre", "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"},
    ]
    policies = [
        {"id": "p1", "action": "REDIRECT_TO_POOL", "position": 1, "redirect_pool_id": "p-app",
         "rules": rules[:2]},
        {"id": "p2", "action": "REDIRECT_TO_URL", "position": 2,
         "redirect_url": "https://example.com/a?b=c#d", "redirect_http_code": 308,
         "rules": rules[2:4]},
        {"id": "p3", "action": "REDIRECT_PREFIX", "position": 3,
         "redirect_prefix": "https://img.example.com", "rules": rules[4:6]},
        {"id": "p4", "action": "REJECT", "position": 4, "rules": rules[6:]},
    ]
    monitor = {"delay": 2, "timeout": 1, "max_retries": 2}
    members = [{"id": "m1", "address": "192.0.2.21", "protocol_port": 80, "weight": 3,
                "monitor_address": "192.0.2.31", "monitor_port": 81},
               {"id": "m2", "address": "fd00:1::22", "protocol_port": 80, "backup": True,
                "monitor_address": "fd00:1::32"},
               {"id": "m3", "address": "192.0.2.23", "protocol_port": 80,
                "admin_state_up": False}]
    lb = {
        "listeners": [
            {"id": "web", "protocol": "HTTP", "protocol_port": 80, "default_pool_id": "p-web",
             "connection_limit": 1000, "timeout_tcp_inspect": 500,
             "allowed_cidrs": ["10.0.0.0/8", "fd00::/8"], "l7policies": policies},
            {"id": "tls", "protocol": "HTTPS", "protocol_port": 443, "default_pool_id": "p-tls"},
            {"id": "raw", "protocol": "TCP", "protocol_port": 9000, "default_pool_id": "p-web",
             "admin_state_up": False},
        ],
        "pools": [
            {"id": "p-web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "session_persistence": {"type": "SOURCE_IP"}, "members": members,
             "healthmonitor": {"id": "h1", "type": "HTTP", "http_method": "HEAD",
                               "url_path": "/health", "http_version": "1.1",
                               "domain_name": "example.com", "expected_codes": "200-204,302",
                               **monitor}},
            {"id": "p-app", "protocol": "PROXY", "lb_algorithm": "LEAST_CONNECTIONS",
             "session_persistence": {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
             "members": members[:1],
             "healthmonitor": {"id": "h2", "type": "PING", **monitor}},
            {"id": "p-tls", "protocol": "HTTPS", "lb_algorithm": "SOURCE_IP_PORT",
             "members": members[:1],
             "healthmonitor": {"id": "h3", "type": "HTTPS", **monitor}},
            {"id": "p-hello", "protocol": "TCP", "lb_algorithm": "SOURCE_IP",
             "members": members[:1],
             "healthmonitor": {"id": "h4", "type": "TLS-HELLO", **monitor}},
            {"id": "p-cookie", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "session_persistence": {"type": "HTTP_COOKIE"}, "members": members[:1],
             "admin_state_up": False,
             "healthmonitor": {"id": "h5", "type": "TCP", **monitor}},
        ],
    }
    config = parse_config(examples.loadbalancer_document(**lb))
    proc = HaproxyProcess()
    text = render_haproxy.render(config.loadbalancer, tmp_path, proc.user)
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(text)
    proc.check(conf)  # raises with haproxy's alerts if it refuses anything
    conf.write_text(text.replace("balance roundrobin", "balance nonsense"))
    with pytest.raises(ValidationFailed, match="balance only supports"):
        proc.check(conf)
