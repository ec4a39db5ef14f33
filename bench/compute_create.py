"""Compute benchmark: create -> ACTIVE latency and 100 concurrent creates. Run as root.

    .venv/bin/python bench/compute_create.py [--serial 30] [--concurrent 100]

Starts the network API, the compute API, the dispatcher and an agent with the real
netns backend as processes of their own, as deployed (``--in-process``: all of them
as threads of this process, the old arrangement: one GIL for every service and the
client) (tenant profile: namespace, veth into the
network's bridge, dhclient, HTTP responder) over a fresh SQLite database, with
random name prefixes. Serial: one server at a time, POST /servers until the API
shows ACTIVE (polled every 5 ms); p50/p99. Concurrent: N creates from N threads,
time until all are ACTIVE (one ``GET /servers/detail`` every 100 ms, as a patient client
would, so the poller does not take the services' CPU; with
``--per-server-poll`` every thread polls its own server every 5 ms instead). Then
everything is deleted and the host is checked for leftovers. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.conftest import make_settings  # noqa: E402
from tests.support import Server, free_port  # noqa: E402

from astara.bus.outbox import OutboxPublisher  # noqa: E402
from astara.bus.wakeup import WakeupDir  # noqa: E402
from astara.cli import netns_cleanup  # noqa: E402
from astara.compute_service import catalog, jobs  # noqa: E402
from astara.compute_service.agent.netns import NetnsBackend  # noqa: E402
from astara.compute_service.agent.runner import SubprocessRunner  # noqa: E402
from astara.compute_service.agent.worker import Agent  # noqa: E402
from astara.compute_service.api.app import create_app as compute_app  # noqa: E402
from astara.compute_service.dispatcher import consumer as dispatcher  # noqa: E402
from astara.compute_service.models import Host  # noqa: E402
from astara.compute_service.settings import defaults as compute_defaults  # noqa: E402
from astara.compute_service.settings import retry_policy  # noqa: E402
from astara.db import migrate  # noqa: E402
from astara.db.engine import Database  # noqa: E402
from astara.network_service.app import create_app as network_app  # noqa: E402


def wait_active(c: httpx.Client, sid: str, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = c.get(f"/servers/{sid}").json()["server"]["status"]
        if status == "ACTIVE":
            return time.monotonic()
        if status == "ERROR":
            raise RuntimeError(f"{sid} went to ERROR")
        time.sleep(0.005)
    raise RuntimeError(f"{sid} not ACTIVE in {timeout}s")


def wait_all_active(c: httpx.Client, sids: set[str], timeout: float = 120.0) -> None:
    """One list call every 100 ms until every server of ``sids`` is ACTIVE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        servers = c.get("/servers/detail").json()["servers"]
        status = {s["id"]: s["status"] for s in servers if s["id"] in sids}
        if "ERROR" in status.values():
            raise RuntimeError("a server went to ERROR")
        if len(status) == len(sids) and set(status.values()) == {"ACTIVE"}:
            return
        time.sleep(0.1)
    raise RuntimeError(f"not all ACTIVE in {timeout}s")


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time of one process (utime + stime), or of the whole machine (busy time)."""
    if pid is None:
        t = psutil.cpu_times()
        return sum(t) - t.idle - t.iowait
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def jobs_host_registered(db, host: str) -> bool:
    with db.read() as s:
        return s.get(Host, host) is not None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serial", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--agent-workers", type=int, default=16)
    parser.add_argument("--in-process", action="store_true",
                        help="run every service as threads of this process "
                        "(the old arrangement: one GIL for every service and the client)")
    parser.add_argument("--per-server-poll", action="store_true",
                        help="each create thread polls its own server every 5 ms (the old "
                        "method: 100 pollers in this process compete with the services)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    tag = secrets.token_hex(2)
    state = Path(tempfile.mkdtemp(prefix="astara-bench-"))
    settings = make_settings(state, free_port())
    wake = WakeupDir(settings.bus.wakeup_dir)
    job_wake = WakeupDir(jobs.wakeup_dir(settings.bus.wakeup_dir))
    stop = threading.Event()
    threads: list[threading.Thread] = []
    servers: list[Server] = []
    procs: list[subprocess.Popen] = []
    host = "bench-host"
    if args.in_process:
        net_srv = Server(network_app(settings), settings.network.bind_port).start()
        cset = replace(compute_defaults(settings), host=host, network_url=net_srv.url,
                       quota_instances=10000, host_capacity=10000,
                       state_dir=state / "compute")
        app = compute_app(settings, cset)
        db = app.state.service.db
        api = Server(app, free_port()).start()
        servers = [api, net_srv]
        net_url, api_url = net_srv.url, api.url
        backend = NetnsBackend(SubprocessRunner(), cset.state_dir, f"acv-{tag}-", f"acb{tag}")
        agent = Agent(db, backend, host, OutboxPublisher(wake), job_wake, 10000,
                      workers=args.agent_workers)
        disp = dispatcher.make(db, wake, settings.bus.max_idle_wait, retry_policy(cset))
        threads = [threading.Thread(target=agent.run, args=(stop.is_set,), daemon=True),
                   threading.Thread(target=disp.run, args=(stop.is_set,), daemon=True)]
        for t in threads:
            t.start()
    else:  # as deployed: every service is a process of its own
        db = Database(settings.database.url)
        migrate.upgrade(db.engine)
        api_port = free_port()
        net_url = f"http://127.0.0.1:{settings.network.bind_port}"
        api_url = f"http://127.0.0.1:{api_port}"
        config = state / "compute.ini"
        config.write_text(
            f"[DEFAULT]\nstate_path = {state}\nhost = {host}\n"
            f"[database]\nconnection = {settings.database.url}\nauto_migrate = false\n"
            f"[bus]\nmax_idle_wait = 1.0\n"
            f"[network_service]\nbind_port = {settings.network.bind_port}\n"
            f"[compute_service]\nnetns_prefix = acv-{tag}-\nbridge_prefix = acb{tag}\n"
            f"appliance_netns_prefix = aca-{tag}-\nhost_capacity = 10000\n"
            f"quota_instances = 10000\nbind_port = {api_port}\nnetwork_url = {net_url}\n"
            f"agent_workers = {args.agent_workers}\n")
        for module, extra in (("astara.cli.network_api", []),
                              ("astara.cli.compute_api", ["--no-dispatcher"]),
                              ("astara.cli.compute_agent", []),
                              ("astara.cli.compute_dispatcher", [])):
            with open(state / f"{module.rsplit('.', 1)[1]}.log", "ab") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", module, "--config-file", str(config), *extra],
                    stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        while not (jobs_host_registered(db, host) and answers(net_url) and answers(api_url)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"services did not start; see the logs in {state}")
            time.sleep(0.05)
    headers = {"X-Project-Id": uuid.uuid4().hex, "X-Roles": "member",
               "OpenStack-API-Version": "compute 2.37"}
    result: dict = {}
    created: list[str] = []
    try:
        with httpx.Client(base_url=f"{net_url}/v2.0", headers=headers) as n:
            net = n.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
            n.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                "cidr": "10.99.0.0/16"}})
        body = {"server": {"name": "bench", "imageRef": catalog.TENANT_IMAGE,
                           "flavorRef": "1", "networks": [{"uuid": net["id"]}]}}
        c = httpx.Client(base_url=f"{api_url}/v2.1", headers=headers, timeout=60)
        lat = []
        for _ in range(args.serial):
            t0 = time.monotonic()
            sid = c.post("/servers", json=body).json()["server"]["id"]
            created.append(sid)
            lat.append((wait_active(c, sid) - t0) * 1000)
        lat.sort()
        result["serial"] = {"n": len(lat), "p50_ms": round(statistics.median(lat), 1),
                            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * .99))], 1)}

        # One client shared by the threads, as a real client would: creating an
        # httpx.Client costs ~95 ms of CPU (its TLS context), which on this 2-core
        # machine would be taken from the services being measured.
        shared = httpx.Client(base_url=f"{api_url}/v2.1", headers=headers, timeout=60,
                              limits=httpx.Limits(max_connections=args.concurrent + 1))

        def one(_):
            sid = shared.post("/servers", json=body).json()["server"]["id"]
            created.append(sid)
            if args.per_server_poll:
                wait_active(shared, sid)
            return sid

        names = ["network_api", "compute_api", "agent", "dispatcher"]
        cpu0 = {n: cpu_seconds(p.pid) for n, p in zip(names, procs, strict=False)}
        cpu0["machine"] = cpu_seconds()
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.concurrent) as pool:
            batch = set(pool.map(one, range(args.concurrent)))
        if not args.per_server_poll:
            wait_all_active(c, batch)
        result["concurrent"] = {"n": args.concurrent,
                                "all_active_s": round(time.monotonic() - t0, 2)}
        # CPU seconds each service used in that phase ("machine": all cores, busy).
        cpu1 = {n: cpu_seconds(p.pid) for n, p in zip(names, procs, strict=False)}
        cpu1["machine"] = cpu_seconds()
        result["concurrent"]["cpu_s"] = {n: round(cpu1[n] - cpu0[n], 2) for n in cpu0}
    finally:
        t0 = time.monotonic()
        with httpx.Client(base_url=f"{api_url}/v2.1", headers=headers, timeout=60) as c:
            for sid in created:
                c.delete(f"/servers/{sid}")
            deadline = time.monotonic() + 120
            while c.get("/servers").json()["servers"] and time.monotonic() < deadline:
                time.sleep(0.05)
        result["delete_all_s"] = round(time.monotonic() - t0, 2)
        stop.set()
        job_wake.notify()
        wake.notify()
        for t in threads:
            t.join(10)
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        SubprocessRunner().kill(state / "compute" / "responder-zygote" / "zygote.pid")
        leftovers = [n for n in os.listdir("/run/netns") if n.startswith(f"acv-{tag}-")]
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        result["leftover_namespaces"] = len(leftovers)
        result["leftover_bridges"] = links.count(f"acb{tag}")
        chains = netns_cleanup.filter_chains() or set()  # anti-spoofing chains, tap gone
        result["leftover_filter_chains"] = len(
            netns_cleanup.stale_chains(chains, set(os.listdir("/sys/class/net"))))
        netns_cleanup.drop_filter_table_if_empty()
        for name in leftovers:
            subprocess.run(["ip", "netns", "del", name], check=False)
        for server in servers:
            server.stop()
    print(json.dumps(result, indent=2))
    return 0 if not result.get("leftover_namespaces") else 1


if __name__ == "__main__":
    sys.exit(main())
