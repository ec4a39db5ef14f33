"""Three real ``astara-orchestrator`` processes with clustering on.

Each member is the CLI entry point with its own config file ([coordination] enabled,
by URL alone: etcd from ``tools/etcd-loopback``, ZooKeeper from ``tools/zk-loopback``,
Redis from ``tools/redis-loopback``; the test runs once on each), all on one database
(PostgreSQL under ``tools/run-tests``, SQLite when run alone) with the network API, against the
real compute API, dispatcher and agent (the agent's hypervisor is the in-tree
``FakeBackend``) and fake appliances over HTTP (``tests.appliance_fleet``: the
management subnet is on loopback). 20 routers (half created before the members start,
half after); one member is killed with SIGKILL: every router is then held by exactly
one live member, none booted twice, none pushed again; restarted, it gets its share
back the same way. The cluster-wide router list of any member names each router once,
with the member the ring gives it to.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.appliance_fleet import Fleet, FleetBackend
from tests.integration.conftest import Identity, make_settings
from tests.integration.orchestrator.conftest import write_secret
from tests.support import Server, free_port, wait_for

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import jobs
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api.app import create_app as compute_app
from astara.compute_service.dispatcher import consumer as dispatcher_mod
from astara.compute_service.settings import defaults as compute_defaults
from astara.compute_service.settings import retry_policy
from astara.network_service.app import create_app as network_app
from astara.network_service.app import uvicorn_options
from astara.orchestrator.cluster.ring import Ring

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TOOLS = Path(__file__).parents[3] / "tools"
# each coordination service's loopback script: ``start DIR`` prints its tooz URL
BACKENDS = {"etcd": TOOLS / "etcd-loopback", "zookeeper": TOOLS / "zk-loopback",
            "redis": TOOLS / "redis-loopback"}
MEMBERS = ("orch-a", "orch-b", "orch-c")
ROUTERS = 20
TIMEOUT = 3  # heartbeat_timeout


class World:
    def __init__(self, tmp: Path, coordination_url: str):
        state = tmp / "state"
        state.mkdir()
        self.tmp, self.coordination_url = tmp, coordination_url
        self.settings = make_settings(state, free_port())
        self.state_path = self.settings.state_path
        self.key = secrets.token_hex(16)
        self.token = secrets.token_hex(16)
        write_secret(self.state_path / "rpc_auth_token", self.token)
        write_secret(self.state_path / "appliance_auth_key", self.key)
        self.net_app = network_app(self.settings)
        self.net = Server(self.net_app, self.settings.network.bind_port,
                          **uvicorn_options()).start()
        cs = replace(compute_defaults(self.settings), host="astara-cluster-host",
                     network_url=self.net.url, quota_instances=1000,
                     state_dir=tmp / "cs")
        self.comp_app = compute_app(self.settings, cs)
        self.comp = Server(self.comp_app, free_port()).start()
        # What the orchestrator reads from the file: the key, stripped.
        self.fleet = Fleet(self.key.encode())
        self.backend = FleetBackend(self.fleet)
        self.appliances = Server(self.fleet, free_port(), host="0.0.0.0")
        self.appliances.start()
        db = self.comp_app.state.service.db
        wake = WakeupDir(self.settings.bus.wakeup_dir)
        self.agent = Agent(db, self.backend, cs.host, OutboxPublisher(wake),
                           WakeupDir(jobs.wakeup_dir(self.settings.bus.wakeup_dir)),
                           idle_wait=1.0)
        self.disp = dispatcher_mod.make(db, wake, 1.0, retry_policy(cs))
        self.stop_event = threading.Event()
        self.agent.register()
        self.threads = [threading.Thread(target=self.agent.run,
                                         args=(self.stop_event.is_set,), daemon=True),
                        threading.Thread(target=self.disp.run,
                                         args=(self.stop_event.is_set,), daemon=True)]
        for t in self.threads:
            t.start()
        self.group = f"astara-it-{uuid.uuid4().hex[:8]}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.rpc: dict[str, int] = {n: free_port() for n in MEMBERS}
        self.tenant = Identity(self.net, uuid.uuid4().hex)
        self.ids: list[str] = []
        self.engine = create_engine(self.settings.database.url)

    def conf(self, name: str) -> Path:
        port = self.rpc[name]
        path = self.tmp / f"{name}.conf"
        path.write_text(f"""[DEFAULT]
state_path = {self.state_path}
[database]
connection = {self.settings.database.url}
[orchestrator]
network_url = {self.net.url}/
compute_url = {self.comp.url}/
rpc_hosts = 127.0.0.1
rpc_port = {port}
num_worker_processes = 1
health_check_period = 5
management_network_name = astara-mgmt-cluster
management_prefix = 127.42.0.0/24
management_address = 127.42.0.1
appliance_port = {self.appliances.port}
[coordination]
enabled = true
url = {self.coordination_url}
group_id = {self.group}
heartbeat_interval = 0.5
heartbeat_timeout = {TIMEOUT}
fence_margin = 1.0
member_name = {name}
rpc_url = http://127.0.0.1:{port}
""")
        return path

    def start(self, *names: str) -> None:
        """Start members at once (racing for the management network), wait for each."""
        for name in names:
            log = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115 (the member's output)
            self.procs[name] = subprocess.Popen(
                [str(BIN / "astara-orchestrator"), "--config-file", str(self.conf(name))],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
        for name in names:
            self._wait_up(name)

    def _wait_up(self, name: str) -> None:
        proc = self.procs[name]

        def up():
            assert proc.poll() is None, (self.tmp / f"{name}.log").read_text()[-3000:]
            try:
                return self.get(name, "/workers/").status_code == 200
            except httpx.TransportError:
                return False
        wait_for(up, 30, f"{name} to answer")

    def get(self, name: str, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.rpc[name]}{path}",
                         headers={"X-Auth-Token": self.token}, timeout=10)

    def create_routers(self, n: int) -> None:
        for _ in range(n):
            self.ids.append(self.tenant.sdk.network.create_router(
                name=f"r{len(self.ids)}").id)

    def mgmt_networks(self) -> list[str]:
        nets = httpx.get(f"{self.net.url}/v2.0/networks",
                         params={"name": "astara-mgmt-cluster"},
                         headers={"X-Project-Id": "astara-service", "X-Roles": "admin"}).json()
        return [n["id"] for n in nets["networks"]]

    def holders(self) -> dict[str, int]:
        """Our routers' live leases: router id -> the holder's pid."""
        with self.engine.connect() as c:
            rows = c.execute(text("SELECT resource_id, owner, expires_at FROM orch_leases"))
            now = time.time()
            return {r: int(o.split("/")[1]) for r, o, e in rows
                    if e > now and r in self.ids}

    def live(self) -> dict[int, str]:
        return {p.pid: n for n, p in self.procs.items() if p.poll() is None}

    def boots(self) -> dict[str, int]:
        """Appliances created per router (every create the agent ran)."""
        out: dict[str, int] = {}
        for op, instance in list(self.backend.actions):
            if op == "create":
                name = self.fleet.names.get(instance, "")
                rid = next((r for r in self.ids if r in name), None)
                out[rid] = out.get(rid, 0) + 1
        return out

    def unconverged(self) -> dict[str, str]:
        """Each router not yet held by a live member, booted once and configured: why."""
        holders, live, boots = self.holders(), self.live(), self.boots()
        with self.fleet.lock:
            applied = {self.fleet.names.get(i, ""): a for a, i in
                       self.fleet.instance_of.items() if a in self.fleet.applied}
        ring = Ring.of(live.values())
        out = {}
        for r in self.ids:
            held, applied_r = holders.get(r), any(r in name for name in applied)
            if held in live and boots.get(r) == 1 and applied_r:
                continue
            out[r] = (f"lease holder {live.get(held, held)} (ring owner {ring.owner(r)}, "
                      f"live {sorted(live.values())}), boots {boots.get(r, 0)}, "
                      f"config applied {applied_r}")
        return out

    def converged(self) -> bool:
        """Every router: held by a live member, booted once, its config pushed."""
        return not self.unconverged()

    def wait_converged(self, timeout: float, what: str) -> None:
        """``converged()`` within ``timeout`` s, else which routers are not and why."""
        try:
            wait_for(self.converged, timeout, what)
        except AssertionError as e:
            why = "\n".join(f"  {r}: {v}" for r, v in self.unconverged().items())
            raise AssertionError(f"{e}; not converged:\n{why}\nlogs in {self.tmp}") from None

    def served_once(self) -> bool:
        """Each router is in exactly one live member's own list (one state machine),
        and the cluster-wide list of any member says the same, naming the ring's owner."""
        return not self.not_served_once()

    def not_served_once(self) -> str:
        """Why ``served_once`` is false (empty when it is true)."""
        seen: dict[str, list[str]] = {}
        for name in self.live().values():
            for r in self.get(name, "/routers/?kind=router").json()["routers"]:
                if r["id"] in self.ids:
                    seen.setdefault(r["id"], []).append(name)
        if bad := {r: seen.get(r, []) for r in self.ids if len(seen.get(r, [])) != 1}:
            ring = Ring.of(sorted(self.live().values()))
            return "not in exactly one own list: " + ", ".join(
                f"{r} in {v} (ring owner {ring.owner(r)})" for r, v in bad.items())
        ring = Ring.of(sorted(self.live().values()))
        for name in self.live().values():
            wide = self.get(name, "/routers/?kind=router&cluster=1").json()
            if wide["unanswered"]:
                return f"{name}'s cluster-wide list: unanswered {wide['unanswered_why']}"
            mine = sorted((r["id"], r["member"]) for r in wide["routers"] if r["id"] in self.ids)
            want = sorted((r, ring.owner(r)) for r in self.ids)
            if mine != want:
                return (f"{name}'s cluster-wide list differs from the ring: has "
                        f"{sorted(set(mine) - set(want))}, lacks {sorted(set(want) - set(mine))}")
        return ""

    def wait_served_once(self, what: str) -> None:
        """``served_once()`` within 30 s, else why not."""
        try:
            wait_for(self.served_once, 30, what)
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.not_served_once()}; logs in {self.tmp}") from None

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.stop_event.set()
        WakeupDir(jobs.wakeup_dir(self.settings.bus.wakeup_dir)).notify()
        WakeupDir(self.settings.bus.wakeup_dir).notify()
        for t in self.threads:
            t.join(10)
        self.disp.consumer.close()
        for server in (self.appliances, self.comp, self.net):
            server.stop()
        self.engine.dispose()
        self.comp_app.state.service.db.dispose()
        self.net_app.state.service.db.dispose()


@pytest.fixture(params=sorted(BACKENDS))
def world(request, tmp_path):
    script = BACKENDS[request.param]
    d = tmp_path / request.param
    try:
        url = subprocess.run([str(script), "start", str(d)], check=True,
                             capture_output=True, text=True, timeout=90).stdout.strip()
        w = World(tmp_path, url)
        try:
            yield w
        finally:
            w.close()
    finally:
        subprocess.run([str(script), "stop", str(d)], check=False, timeout=60)


def test_three_orchestrators_share_routers_take_over_a_killed_one_and_give_back(world):
    w = world
    w.create_routers(ROUTERS // 2)
    w.start(*MEMBERS)
    w.create_routers(ROUTERS - ROUTERS // 2)  # through intake: the ring's owner admits
    w.wait_converged(60, "every router booted once, configured and held")
    assert len(w.mgmt_networks()) == 1  # the members agreed on one
    ring = Ring.of(MEMBERS)
    pids = {n: p.pid for n, p in w.procs.items()}
    wait_for(lambda: all(pids[ring.owner(r)] == p for r, p in w.holders().items())
             and len(w.holders()) == ROUTERS, 30, "the ring's split")
    w.wait_served_once("each router in one member's list")
    victim = next(n for n in MEMBERS if ring.mine(n, w.ids))
    theirs = ring.mine(victim, w.ids)
    pushes, told = w.fleet.total_pushes(), w.fleet.told

    killed = time.monotonic()
    w.procs[victim].kill()
    w.procs[victim].wait(10)
    wait_for(lambda: all(w.holders().get(r) in w.live() for r in theirs), TIMEOUT + 20,
             "the takeover", every=0.05)
    took = time.monotonic() - killed
    w.wait_converged(30, "every router held by a live member")
    w.wait_served_once("each router in one live member's list")
    assert took <= TIMEOUT + 5, f"takeover took {took:.1f} s"
    assert w.fleet.total_pushes() == pushes  # adopted: no push, no boot
    # ... but each adopter recorded its epoch at the appliance (PUT /v1/system/tenure/).
    wait_for(lambda: w.fleet.told >= told + len(theirs), 30, "the adopters' epochs recorded")
    assert all(n == 1 for n in w.boots().values())

    w.start(victim)
    back = w.procs[victim].pid
    wait_for(lambda: all(w.holders().get(r) == back for r in theirs), TIMEOUT + 20,
             "its share back")
    w.wait_converged(30, "every router held and configured")
    w.wait_served_once("each router in one member's list")
    assert w.fleet.total_pushes() == pushes and w.fleet.fenced == 0
    assert sorted(w.boots().values()) == [1] * ROUTERS
    assert [a for a in w.backend.actions if a[0] == "delete"] == []
