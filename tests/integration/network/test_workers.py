"""``astara-network-api`` with ``[network_service] workers = 2``: two processes serve
one port, each on its own, and no address or MAC is handed out twice between them.

Which worker answers a request is the kernel's choice; to know that each one serves,
the test stops all workers but one (SIGSTOP: it accepts nothing) and asks again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import fresh_database
from tests.scrape import value
from tests.support import free_port, wait_for

HEADERS = {"X-Project-Id": "workers-test", "X-Roles": "member"}


def _workers(parent: int) -> list[int]:
    """The worker processes of ``parent`` (uvicorn spawns them with multiprocessing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def api(tmp_path):
    port = free_port()
    conf = tmp_path / "api.conf"
    conf.write_text(f"[database]\nconnection = {fresh_database(tmp_path)}\n"
                    f"[network_service]\nbind_port = {port}\nworkers = 2\n")
    exe = Path(sys.executable).parent / "astara-network-api"
    proc = subprocess.Popen([str(exe), "--state-path", str(tmp_path), "--config-file", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        workers = wait_for(lambda: len(_workers(proc.pid)) == 2 and _workers(proc.pid),
                           timeout=120, what="two API workers")  # a loaded CI host is slow
        wait_for(lambda: _answers(url), timeout=120, what="the network API")
        yield proc, url, workers
    finally:
        for pid in _workers(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _network(url: str) -> str:
    with httpx.Client(base_url=f"{url}/v2.0", headers=HEADERS, timeout=30) as c:
        net = c.post("/networks", json={"network": {"name": "workers"}}).json()["network"]
        c.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.9.0.0/24"}}).raise_for_status()
    return net["id"]


def _create_port(url: str, net_id: str) -> httpx.Response:
    # A new connection each time: the kernel hands it to a worker that is accepting.
    with httpx.Client(base_url=f"{url}/v2.0", headers=HEADERS, timeout=30) as c:
        return c.post("/ports", json={"port": {"network_id": net_id,
                                               "name": uuid.uuid4().hex[:8]}})


def test_concurrent_creates_on_two_workers_get_unique_addresses(api):
    _proc, url, _workers_pids = api
    net_id = _network(url)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _create_port(url, net_id), range(60)))
    assert [r.status_code for r in answers] == [201] * 60, [r.text for r in answers][:3]
    ports = [r.json()["port"] for r in answers]
    addresses = [ip["ip_address"] for p in ports for ip in p["fixed_ips"]]
    assert len(addresses) == 60 and len(set(addresses)) == 60
    assert len({p["mac_address"] for p in ports}) == 60
    with httpx.Client(base_url=f"{url}/v2.0", headers=HEADERS, timeout=30) as c:
        listed = c.get("/ports", params={"network_id": net_id}).json()["ports"]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in ports)


def test_each_worker_serves_alone(api):
    proc, url, _ = api
    net_id = _network(url)
    served: dict[int, str] = {}
    for _round in range(10):
        workers = _workers(proc.pid)
        alone = next((pid for pid in workers if pid not in served), None)
        if alone is None:
            break
        answer, same = _with_only(proc.pid, workers, alone, lambda: _create_port(url, net_id))
        assert answer.status_code == 201, answer.text
        if same:  # no worker was replaced meanwhile: ``alone`` was the only one accepting
            served[alone] = answer.json()["port"]["fixed_ips"][0]["ip_address"]
    assert len(served) >= 2 and len(set(served.values())) == len(served)


def _with_only(parent: int, workers: list[int], alone: int, work):
    """``work()`` with every worker but ``alone`` stopped; whether the workers were
    the same after it (the supervisor replaces a worker that stays stopped too long)."""
    others = [pid for pid in workers if pid != alone]
    try:
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        result = work()
        return result, _workers(parent) == workers
    finally:
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_workers_die_with_their_supervisor(api):
    proc, _url, workers = api
    proc.kill()  # no chance to stop them itself
    proc.wait()
    wait_for(lambda: not any(_running(pid) for pid in workers), what="the workers to exit")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


ADMIN = {"X-Project-Id": "workers-admin", "X-Roles": "admin"}
PORTS_CREATED = {"route": "/v2.0/ports", "method": "POST", "code": "201"}


def _ports_created(url: str) -> float:
    with httpx.Client(timeout=30) as c:  # a new connection: whichever worker accepts
        text = c.get(f"{url}/metrics", headers=ADMIN).text
    return value(text, "astara_network_http_requests_total", **PORTS_CREATED)


def test_metrics_sum_every_workers_counts(api):
    """Each worker alone creates a port; each worker alone then reports both."""
    proc, url, _ = api
    net_id = _network(url)
    created: set[int] = set()
    for _round in range(10):
        workers = _workers(proc.pid)
        alone = next((pid for pid in workers if pid not in created), None)
        if alone is None:
            break
        answer, same = _with_only(proc.pid, workers, alone, lambda: _create_port(url, net_id))
        assert answer.status_code == 201, answer.text
        if same:
            created.add(alone)
    assert len(created) >= 2
    # Every port created (the rounds a worker was replaced in too) is counted once.
    with httpx.Client(base_url=f"{url}/v2.0", headers=HEADERS, timeout=30) as c:
        ports = len(c.get("/ports", params={"network_id": net_id}).json()["ports"])
    for pid in _workers(proc.pid):
        reported, _same = _with_only(proc.pid, _workers(proc.pid), pid,
                                     lambda: _ports_created(url))
        assert reported == ports
