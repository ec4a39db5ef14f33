"""An appliance's boot, API side, with N routers and appliances already there.

The phase "boot call -> compute agent takes the job (create.start)" of
``orchestrator_e2e.py`` grows with the routers on the host. This times what it is
made of, on the real network and compute APIs (in this process, one SQLite
database, no agent, no namespace): the orchestrator's CreateVM (its management port
made, then ``POST /servers`` with the router's three ports, which places it, counts
the quota and binds the ports through the network API), the agent's claim of the
job, and the look's find of the appliance by its exact name (each full look);
first with no router, then with ``--existing`` routers, each with its gateway, an
interface and an appliance instance (jobs done, ACTIVE). For each it prints the
p50 and the SQL statements that cost the most per boot (time and rows per call).
Usage: .venv/bin/python bench/boot_call.py [--existing 1000] [--samples 10] [--top 8]
Hold /tmp/astara-functional.lock (flock) while it runs when others bench on the host.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy import event, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.conftest import make_settings  # noqa: E402
from tests.support import Server, free_port  # noqa: E402

from astara.bus.outbox import OutboxPublisher  # noqa: E402
from astara.bus.wakeup import WakeupDir  # noqa: E402
from astara.common.device_owners import MGMT_OWNER  # noqa: E402
from astara.compute_service import catalog, jobs  # noqa: E402
from astara.compute_service.agent.backend import FakeBackend  # noqa: E402
from astara.compute_service.agent.worker import Agent  # noqa: E402
from astara.compute_service.api.app import create_app as compute_app  # noqa: E402
from astara.compute_service.models import Instance, Job  # noqa: E402
from astara.compute_service.settings import defaults as compute_defaults  # noqa: E402
from astara.network_service.app import create_app as network_app  # noqa: E402
from astara.network_service.app import uvicorn_options  # noqa: E402

HOST = "bench-host"
SERVICE = {"X-Project-Id": "astara-service", "X-User-Id": "astara", "X-Roles": "admin"}


class Statements:
    """Seconds and rows per SQL statement (its text, numbers folded) while ``on``."""

    def __init__(self, *engines):
        self.on = False
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        took = time.perf_counter() - conn.info["t0"].pop()
        if self.on:
            key = re.sub(r"\s+", " ", statement)[:150]
            self.seconds[key] += took
            self.calls[key] += 1
            self.rows[key] += max(cursor.rowcount, 0) if not cursor.description else \
                len(getattr(cursor, "_rows", ()) or ())

    def clear(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.rows.clear()

    def top(self, boots: int, n: int = 8) -> list[str]:
        ranked = sorted(self.seconds, key=self.seconds.get, reverse=True)[:n]
        return [f"    {self.seconds[k] / boots * 1000:6.2f} ms  {self.calls[k] / boots:4.1f}x  {k}"
                for k in ranked]


class Cloud:
    def __init__(self, net_url: str, comp_url: str):
        self.user = httpx.Client(base_url=f"{net_url}/v2.0", timeout=60, headers={
            "X-Project-Id": uuid.uuid4().hex, "X-User-Id": "bench", "X-Roles": "member"})
        self.admin = httpx.Client(base_url=f"{net_url}/v2.0", headers=SERVICE, timeout=60)
        self.compute = httpx.Client(base_url=f"{comp_url}/v2.1", timeout=60, headers={
            **SERVICE, "OpenStack-API-Version": "compute 2.37"})
        ext = self._ok(self.admin.post("/networks", json={"network": {
            "name": "public", "router:external": True}}))["network"]
        self._ok(self.admin.post("/subnets", json={"subnet": {
            "network_id": ext["id"], "ip_version": 4, "cidr": "100.64.0.0/16",
            "enable_dhcp": False}}))
        mgmt = self._ok(self.admin.post("/networks", json={"network": {
            "name": "astara-mgmt", "shared": False}}))["network"]
        self._ok(self.admin.post("/subnets", json={"subnet": {
            "network_id": mgmt["id"], "ip_version": 6, "cidr": "fdca:3ba5:a17a:acda::/64",
            "gateway_ip": None, "enable_dhcp": False, "allocation_pools": [{
                "start": "fdca:3ba5:a17a:acda::10",
                "end": "fdca:3ba5:a17a:acda:ffff:ffff:ffff:ffff"}]}}))
        self.ext, self.mgmt = ext["id"], mgmt["id"]
        self.n = 0

    @staticmethod
    def _ok(r: httpx.Response) -> dict:
        if r.status_code >= 300:
            raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text}")
        return r.json() if r.content else {}

    def router(self) -> tuple[str, list[str]]:
        """A router with its gateway and an interface (the user's calls): its id and
        its ports (gateway, interface)."""
        self.n += 1
        n = self.n
        net = self._ok(self.user.post("/networks", json={"network": {"name": f"n{n}"}}))
        sub = self._ok(self.user.post("/subnets", json={"subnet": {
            "network_id": net["network"]["id"], "ip_version": 4,
            "cidr": f"10.{n // 250}.{n % 250}.0/24"}}))
        router = self._ok(self.user.post("/routers", json={"router": {
            "name": f"r{n}", "external_gateway_info": {"network_id": self.ext}}}))["router"]
        self._ok(self.user.put(f"/routers/{router['id']}/add_router_interface",
                               json={"subnet_id": sub["subnet"]["id"]}))
        ports = self._ok(self.admin.get("/ports", params={"device_id": router["id"]}))["ports"]
        return router["id"], [p["id"] for p in ports]

    def create_vm(self, router_id: str, ports: list[str]) -> tuple[str, float, float]:
        """The orchestrator's CreateVM: (instance id, management port seconds, boot
        seconds)."""
        t0 = time.perf_counter()
        found = self._ok(self.admin.get("/ports", params={
            "device_id": router_id, "device_owner": MGMT_OWNER, "network_id": self.mgmt}))
        assert not found["ports"]
        mgmt = self._ok(self.admin.post("/ports", json={"port": {
            "network_id": self.mgmt, "device_id": router_id, "device_owner": MGMT_OWNER,
            "name": f"ASTARA:MGT:{router_id}"}}))["port"]
        t1 = time.perf_counter()
        server = self._ok(self.compute.post("/servers", headers={
            "Idempotency-Key": f"{router_id}.boot.1"}, json={"server": {
                "name": f"ak-{router_id}", "imageRef": catalog.APPLIANCE_IMAGE,
                "flavorRef": "1", "networks": [{"port": p} for p in [mgmt["id"], *ports]],
                "metadata": {"astara_router_id": router_id}}}))["server"]
        return server["id"], t1 - t0, time.perf_counter() - t1

    def find(self, router_id: str) -> float:
        """The orchestrator's look for the router's appliance by its exact name (every
        full look: before the boot, at each pass while it boots): seconds."""
        t0 = time.perf_counter()
        found = self._ok(self.compute.get("/servers/detail", params={
            "name": f"^{re.escape(f'ak-{router_id}')}$"}))["servers"]
        assert len(found) == 1, found
        return time.perf_counter() - t0


def settle(db) -> None:
    """Every job done and every instance ACTIVE, as the agent and dispatcher leave them."""
    with db.write() as s:
        s.execute(update(Job).values(status=jobs.DONE))
        s.execute(update(Instance).where(Instance.vm_state == "building")
                  .values(vm_state="active", task_state=None, power_state=1))


def measure(title: str, cloud: Cloud, agent: Agent, stats: Statements, samples: int,
            top: int = 8) -> None:
    made = [cloud.router() for _ in range(samples)]
    mgmt, boot, claim, find = [], [], [], []
    stats.clear()
    stats.on = True
    for router_id, ports in made:
        _, a, b = cloud.create_vm(router_id, ports)
        t0 = time.perf_counter()
        picked = agent.claim(8)
        claim.append(time.perf_counter() - t0)
        assert len(picked) == 1, picked
        mgmt.append(a)
        boot.append(b)
        find.append(cloud.find(router_id))
    stats.on = False
    settle(agent.db)
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"appliance boot, API side, {title}: p50 management port {ms(mgmt):.1f} ms, "
          f"POST /servers {ms(boot):.1f} ms, the agent's claim {ms(claim):.1f} ms, "
          f"the look's find by name {ms(find):.1f} ms "
          f"({samples} boots); the SQL statements costing most per boot:")
    for line in stats.top(samples, top):
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--existing", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4, help="clients making the routers")
    ap.add_argument("--top", type=int, default=8, help="SQL statements shown")
    a = ap.parse_args()
    state = Path(tempfile.mkdtemp(prefix="astara-bench-boot-"))
    settings = make_settings(state, free_port())
    servers: list[Server] = []
    try:
        net = network_app(settings)
        servers.append(Server(net, settings.network.bind_port, **uvicorn_options()).start())
        cset = replace(compute_defaults(settings), host=HOST, network_url=servers[0].url,
                       quota_instances=a.existing + 4 * a.samples + 10,
                       host_capacity=a.existing + 4 * a.samples + 10,
                       state_dir=state / "compute")
        comp = compute_app(settings, cset)
        servers.append(Server(comp, free_port()).start())
        db = comp.state.service.db
        agent = Agent(db, FakeBackend(), HOST, OutboxPublisher(WakeupDir(state / "w")),
                      WakeupDir(state / "jw"), cset.host_capacity)
        agent.register()
        stats = Statements(db.engine, net.state.service.db.engine)
        cloud = Cloud(servers[0].url, servers[1].url)
        measure("0 routers", cloud, agent, stats, a.samples, a.top)
        t0 = time.monotonic()

        def one(_) -> None:
            cloud.create_vm(*cloud.router())

        with ThreadPoolExecutor(a.clients) as pool:
            for i, _ in enumerate(pool.map(one, range(a.existing))):
                if i % 100 == 99:
                    agent.heartbeat()  # placement takes only a live host
        settle(db)
        agent.heartbeat()
        print(f"{a.existing} more routers with their appliances in "
              f"{time.monotonic() - t0:.1f} s")
        measure(f"{a.existing + a.samples} routers", cloud, agent, stats, a.samples,
                a.top)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
