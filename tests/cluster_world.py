"""A cluster of orchestrator members over one shared fake cloud, for the integration
tests and ``bench/cluster.py``.

Each member is a process of its own (``python -m tests.cluster_world member CONF``)
running the real cluster layer (tooz membership on a real etcd, leases in a real
database, the ring, the lease fence) and the real worker, reconciler and executor. What
they drive is the in-tree fakes (network, compute, appliances), held in one
``multiprocessing`` manager process so that the members share one cloud: a boot by one
member is an instance every member finds. The real compute service and appliances are
not used (they need namespaces and root for each appliance).

Each act that reaches the cloud (boot, delete, push) is recorded with the member, its
lease owner token and the lease row as read right then, and each ownership change and
fence refusal is one JSON line on the member's stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace
from multiprocessing.managers import BaseManager

from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from tests.support import wait_for

TENANT = "d0000000000000000000000000000000"


def rid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


class Cloud:
    """The manager-side world: the three fakes, the events members read, the acts."""

    def __init__(self, routers: int):
        from tests.orchestrator_world import router_model

        self.lock = threading.Lock()
        self.network = SyncedNetwork(models={
            rid(i): router_model(router_id=rid(i), project=TENANT) for i in range(routers)})
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        self.network.appliances = self.appliances
        self.events: list[str] = []  # router ids, in the order changed
        self.acts: list[dict] = []

    # -- what the test (or the bench) asks ------------------------------------------
    def change(self, router_id: str) -> None:
        """A change to the router's model that changes its appliance's document."""
        with self.lock:
            m = self.network.models[router_id]
            fips = m.floating_ips
            n = len(self.events) % 200 + 20
            fips[0] = dict(copy.deepcopy(fips[0]), fixed_ip_address=f"10.0.0.{n}")
            self.events.append(router_id)

    def touch(self, router_id: str) -> None:
        """A notification that changes nothing of the router's document: its owner
        takes a full look (model read, document built) and pushes only what differs."""
        with self.lock:
            self.events.append(router_id)

    def model_reads(self) -> dict[str, int]:
        """Full looks so far: router model reads per router."""
        out: dict[str, int] = {}
        for call in list(self.network.calls):
            if call[0] == "router_model":
                out[call[1]] = out.get(call[1], 0) + 1
        return out

    def events_since(self, cursor: int) -> list[str]:
        with self.lock:
            return self.events[cursor:]

    def act(self, record: dict) -> None:
        with self.lock:
            self.acts.append(record)

    def all_acts(self) -> list[dict]:
        with self.lock:
            return list(self.acts)

    def instances(self) -> dict[str, int]:
        """Live appliance instances per router."""
        out: dict[str, int] = {}
        for s in list(self.compute.servers.values()):
            if not s.deleting:
                out[s.router_id] = out.get(s.router_id, 0) + 1
        return out

    def applied(self) -> dict[str, str | None]:
        """Each router's appliance's applied digest (None: nothing applied)."""
        by_router = {r: a for a, r in self.appliances.mgmt_of.items()}
        return {r: self.appliances.applied_digest.get(by_router.get(r, ""))
                for r in self.network.models}

    def orchestrator_addresses(self) -> set[str]:
        """The orchestrator addresses the applied documents name."""
        return {str(d.orchestrator.address) for d in list(self.appliances.applied.values())}

    def tenure_owners(self) -> dict[str, str]:
        """Each router's appliance's accepted tenure's owner token (a push's or, on an
        adoption that needs none, ``record_tenure``'s)."""
        servers = self.compute.servers
        return {servers[a].router_id: t.owner
                for a, t in list(self.appliances.tenures.items()) if a in servers}

    def router_of(self, address: str) -> str:
        return self.appliances.mgmt_of.get(address, "")


class SyncedNetwork(FakeNetwork):
    """A management port created appears in its router's model and the fake appliance
    answers on its address (what the compute agent and the real API do)."""

    appliances: FakeAppliances | None = None

    def management_port(self, router_id: str, create: bool, absent: bool = False
                        ) -> dict | None:
        port = super().management_port(router_id, create, absent)
        if port is not None and router_id in self.models and self.appliances is not None:
            ports = self.models[router_id].ports
            ports[:] = [p for p in ports if p["id"] != port["id"]] + [
                {**port, "device_owner": "network:astara_management", "network_id": "mgmt"}]
            self.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = router_id
        return port


_CLOUD: Cloud | None = None


def _init(routers: int) -> None:
    global _CLOUD
    _CLOUD = Cloud(routers)


def _cloud() -> Cloud:
    assert _CLOUD is not None
    return _CLOUD


class CloudManager(BaseManager):
    pass


CloudManager.register("cloud", callable=_cloud)
CloudManager.register("network", callable=lambda: _cloud().network)
CloudManager.register("compute", callable=lambda: _cloud().compute)
CloudManager.register("appliances", callable=lambda: _cloud().appliances)


def start_cloud(routers: int) -> CloudManager:
    mgr = CloudManager(address=("127.0.0.1", 0), authkey=os.urandom(16))
    mgr.start(initializer=_init, initargs=(routers,))
    return mgr


# -- a member -----------------------------------------------------------------------

def _say(**event) -> None:
    print(json.dumps({"t": time.time(), **event}), flush=True)


class Audited:
    """A fake's proxy whose acting calls are recorded in the cloud first."""

    def __init__(self, inner, cloud, me: str, owner: str, leases):
        self._inner, self._cloud, self._me, self._owner = inner, cloud, me, owner
        self._leases = leases

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _record(self, action: str, router_id: str) -> None:
        lease = self._leases.get(router_id)
        self._cloud.act({"t": time.time(), "member": self._me, "owner": self._owner,
                         "action": action, "router": router_id,
                         "lease_owner": lease.owner if lease else None,
                         "epoch": lease.epoch if lease else None,
                         "expires_at": lease.expires_at if lease else None})

    def boot(self, who, port_ids, request_id="", spec=None):
        self._record("boot", who.resource_id)
        return self._inner.boot(who, port_ids, request_id, spec)

    def delete(self, instance_id):
        self._record("delete", instance_id)
        return self._inner.delete(instance_id)

    def push(self, address, appliance_id, config, tenure=None):
        self._record("push", self._cloud.router_of(address))
        return self._inner.push(address, appliance_id, config, tenure)


def member(conf: dict) -> None:
    from astara.common import logs
    from astara.db.engine import Database
    from astara.orchestrator.addresses import CAPABILITY
    from astara.orchestrator.cluster.leases import Leases, MemberBoard
    from astara.orchestrator.cluster.membership import ToozMembership
    from astara.orchestrator.cluster.ownership import Ownership
    from astara.orchestrator.cluster.settings import CoordinationSettings
    from astara.orchestrator.opts import defaults, management_settings, plan_defaults
    from astara.orchestrator.reconcile.execute import Executor
    from astara.orchestrator.reconcile.observe import Observer
    from astara.orchestrator.reconcile.reconciler import Reconciler
    from astara.orchestrator.runtime import lease_fence
    from astara.orchestrator.state_store import RouterStateStore
    from astara.orchestrator.worker.pool import Worker

    logs.setup(False)
    name = conf["name"]
    mgr = CloudManager(address=tuple(conf["address"]), authkey=bytes.fromhex(conf["authkey"]))
    mgr.connect()
    cloud = mgr.cloud()
    network, compute, appliances = mgr.network(), mgr.compute(), mgr.appliances()
    db = Database(conf["db_url"])
    s = CoordinationSettings(True, conf["etcd_url"], conf.get("group", "astara-test"),
                             conf["heartbeat_interval"], conf["heartbeat_timeout"],
                             conf["fence_margin"], name, "")
    owner = f"{name}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    # This member's [orchestrator] management_address and metadata_address (by default
    # the options' defaults): what its appliances' documents name.
    o = replace(defaults(), **conf.get("orchestrator", {}))
    mgmt = management_settings(o)
    leases = Leases(db, owner, s.lease, s.fence_margin)
    caps = {"owner": owner, CAPABILITY: mgmt.orchestrator_address}
    ownership = Ownership(s, ToozMembership(s.tooz_url(), s.group_id, name, caps),
                          leases, MemberBoard(db))
    fence_of = lease_fence(db, (owner, s.fence_margin))

    def fence(ref):
        answer = fence_of(ref)  # a refusal (str), or the tenure the step acts under
        if isinstance(answer, str):
            _say(member=name, event="fenced", router=ref.id, why=answer)
        return answer

    compute_a = Audited(compute, cloud, name, owner, leases)
    appliances_a = Audited(appliances, cloud, name, owner, leases)
    rec = Reconciler(Observer(network, compute_a, appliances_a, mgmt),
                     Executor(network, compute_a, appliances_a, fence=fence),
                     replace(plan_defaults(), health_check_period=conf["health_check_period"],
                             boot_timeout=60.0), store=RouterStateStore(db))
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        worker = Worker(rec.run, concurrency=4)
        refs = {r.id: r for r in network.routers()}
        cursor = len(cloud.events_since(0))  # changes from now on (the ring covers the rest)

        async def tick() -> None:
            nonlocal cursor
            while not stop.is_set():
                change = await asyncio.to_thread(ownership.tick, list(refs))
                for r in sorted(change.release):
                    worker.release(refs[r])
                    rec.release(refs[r])
                for r in sorted(change.adopt):
                    worker.submit(refs[r], full=False)
                if change.adopt or change.release:
                    _say(member=name, event="ring", adopt=sorted(change.adopt),
                         release=sorted(change.release), held=len(ownership.held))
                events = await asyncio.to_thread(cloud.events_since, cursor)
                cursor += len(events)
                if events:  # intake: a key for each change, kept only if ours
                    mine = await asyncio.to_thread(ownership.admit, events)
                    for r in events:
                        if r in mine:
                            worker.submit(refs[r], full=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), s.heartbeat_interval)

        ticker = asyncio.ensure_future(tick())
        _say(member=name, event="started", owner=owner, pid=os.getpid())
        await worker.serve(stop)
        await ticker

    asyncio.run(run())
    ownership.leave()
    _say(member=name, event="stopped")
    db.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["member"]:
        member(json.loads(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m tests.cluster_world member CONF-JSON")


class Cluster:
    """The test's (or bench's) handle: the cloud, and member processes by name."""

    def __init__(self, routers: int, etcd_url: str, db_url: str, logdir, *,
                 heartbeat_interval: float = 0.5, heartbeat_timeout: int = 3,
                 fence_margin: float = 1.0, health_check_period: float = 2.0):
        self.mgr = start_cloud(routers)
        self.cloud = self.mgr.cloud()
        self.db_url, self.etcd_url, self.logdir = db_url, etcd_url, logdir
        self.timing = {"heartbeat_interval": heartbeat_interval,
                       "heartbeat_timeout": heartbeat_timeout, "fence_margin": fence_margin,
                       "health_check_period": health_check_period}
        self.procs: dict[str, object] = {}
        self.owners: dict[str, str] = {}  # member name -> its current run's owner token
        self.ids = [rid(i) for i in range(routers)]
        self.group = f"astara-test-{uuid.uuid4().hex[:8]}"

    def start(self, name: str, orchestrator: dict[str, str] | None = None):
        """``orchestrator``: ``[orchestrator]`` options of this member (its
        management_address, metadata_address)."""
        import subprocess

        conf = {"name": name, "address": list(self.mgr.address),
                "authkey": bytes(self.mgr._authkey).hex(), "db_url": self.db_url,
                "etcd_url": self.etcd_url, "group": self.group, **self.timing,
                "orchestrator": orchestrator or {}}
        log = open(self.logdir / f"{name}.log", "a")  # noqa: SIM115 (the member's stdout)
        proc = subprocess.Popen([sys.executable, "-m", "tests.cluster_world", "member",
                                 json.dumps(conf)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(_ROOT), start_new_session=True)
        log.close()
        self.procs[name] = proc
        started = wait_for(lambda: next((e for e in self.events(name) if
                                          e["event"] == "started" and e["pid"] == proc.pid),
                                         None), 30, f"{name} to start")
        self.owners[name] = started["owner"]
        return proc

    def events(self, name: str) -> list[dict]:
        out = []
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return out
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def signal(self, name: str, sig: int) -> None:
        os.kill(self.procs[name].pid, sig)

    def kill(self, name: str) -> float:
        proc = self.procs.pop(name)
        t = time.time()
        proc.kill()
        proc.wait(10)
        return t

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        proc.wait(30)

    def close(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        self.mgr.shutdown()

    def holders(self) -> dict[str, str]:
        """Live leases: router id -> owner token."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.db_url)
        try:
            with engine.connect() as c:
                rows = c.execute(text("SELECT resource_id, owner, expires_at FROM orch_leases"))
                now = time.time()
                return {r: o for r, o, e in rows if e > now}
        finally:
            engine.dispose()

    def held_by(self, name: str) -> set[str]:
        owner = self.owners.get(name)
        return {r for r, o in self.holders().items() if o == owner}

    def converged(self) -> bool:
        """Every router: one live instance, a config applied, a live lease."""
        instances, applied, holders = (self.cloud.instances(), self.cloud.applied(),
                                       self.holders())
        return all(instances.get(r) == 1 and applied.get(r) and r in holders
                   for r in self.ids)


_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
