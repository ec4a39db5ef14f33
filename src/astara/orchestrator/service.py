"""``astara-orchestrator``'s parent process: intake, scheduling, supervision, views.

Intake reads network notifications from the bus (durable cursor), turns them
into keys (resolving networks and floating IPs to the routers concerned) and
sends each key to the worker process that owns its tenant. A worker process that
dies is restarted and every key it owned is queued again. Snapshots from the
workers feed the RPC API's views and, once a second, the rebuild breaker
(``breaker_board``: every router's latest status check decides whether the
orchestrator suspects its own path to the appliances).

In a cluster (``[coordination] enabled``) the ``cluster.ownership`` layer sits between
intake and the workers: a key goes to a worker only if this member holds its lease
(keys of other members' resources are dropped here), and once per heartbeat the ring
is looked at again: resources it now owns are adopted (handed over as a restart hands
them: the first look is a status call), resources it lost are released (their state
machines stop in the worker).
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import SQLAlchemyError

from astara.bus import relay as bus_relay
from astara.bus.lease import BusLease
from astara.bus.outbox import OutboxConsumer, drop_cursor
from astara.bus.wakeup import WakeupDir
from astara.common.settings import Settings
from astara.db.engine import Database
from astara.orchestrator import addresses, breaker_board, endpoints, intake, management
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.clients.loadbalancer import HttpLoadBalancerAPI
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.cluster import settings as cluster_settings
from astara.orchestrator.cluster import view as cluster_view
from astara.orchestrator.cluster.leases import Leases, MemberBoard
from astara.orchestrator.cluster.membership import Membership
from astara.orchestrator.cluster.ownership import Ownership, Rebalance
from astara.orchestrator.debug import DebugStore
from astara.orchestrator.drivers import registry, router_ha
from astara.orchestrator.drivers.base import Driver
from astara.orchestrator.fip_routers import FloatingIPRouters, LastPushed
from astara.orchestrator.keys import FloatingIPHint, NetworkHint, ResourceRef
from astara.orchestrator.opts import (
    SERVICE_USER,
    OrchestratorSettings,
    breaker_settings,
    metadata_address,
)
from astara.orchestrator.scheduler import shard_for
from astara.orchestrator.startup import since_exec
from astara.orchestrator.state_store import RouterStateStore
from astara.orchestrator.worker import process

LOG = logging.getLogger(__name__)


def loopback_url(url: str) -> bool:
    """Does ``url`` name this host only (a loopback address, or localhost)? Pure."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
CONSUMER = "astara-orchestrator"
FORGET_AFTER = 3  # heartbeat timeouts without a heartbeat row before a member is forgotten
MGMT_LOCK = "astara-management-network"  # find-or-create, one member at a time


def start_method(threads: int) -> str:
    """How a worker process starts. Forked while this process has one thread (at
    start-up, before intake and the RPC server): it has imported everything a worker
    runs, and a fork costs milliseconds where a fresh interpreter re-imports for
    seconds. Spawned once other threads run (a dead worker's successor): a fork then
    could copy a lock another thread holds."""
    return "fork" if threads == 1 else "spawn"


class WorkerHandle:
    def __init__(self, index: int):
        self.index = index
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.inbox: multiprocessing.Queue | None = None
        self.restarts = 0
        self.stats: dict = {}
        self.metrics: dict = {}  # its reconcile tally (``reconcile.tally``), for /metrics


class Orchestrator:
    # Single node unless ``__init__`` says otherwise (tests build bare instances too).
    coordination = cluster_settings.disabled()
    ownership: Ownership | None = None
    lease_owner = ""
    # Members last named as naming another address in their documents (replaced, never
    # changed in place).
    _differing: dict[str, str] = {}

    def __init__(self, settings: Settings, o: OrchestratorSettings,
                 transport: Callable[[], Any] | None = None,
                 coordination: cluster_settings.CoordinationSettings | None = None,
                 membership: Callable[[dict], Membership] | None = None):
        """``transport`` builds the oslo.messaging transport ``[bus] transport = amqp``
        uses (called in ``start``, after the worker processes are forked).
        ``coordination``: the ``[coordination]`` settings (None or disabled: a single
        node); ``membership`` builds the group membership from our capabilities (by
        default tooz at ``[coordination] url``)."""
        self.settings, self.o = settings, o
        self.coordination = coordination or cluster_settings.disabled()
        self._membership_factory = membership
        self.ownership: Ownership | None = None
        # This run's lease owner token: a restarted member is a new owner.
        self.lease_owner = f"{self.coordination.member_name}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._transport_factory = transport
        self.relay: Any = None  # the amqp relay, when [bus] transport = amqp
        self.db = Database(settings.database.url)
        self._ctx = multiprocessing.get_context("spawn")
        self._results = self._ctx.Queue()
        # Shared with every worker process, their successors too (see breaker_board).
        self._board_array = breaker_board.new_array(self._ctx)
        self.breaker = breaker_board.BreakerBoard(self._board_array, breaker_settings(o))
        self.workers = [WorkerHandle(i) for i in range(o.num_worker_processes)]
        self.known: dict[str, ResourceRef] = {}
        # Held from an ownership check to its message on a worker's inbox, and while a
        # round's releases are sent: a submit checked before a release is never queued
        # after it (the worker would keep a router another member holds).
        self._handoff = threading.Lock()
        self.routers: dict[str, dict] = {}
        # The router each floating IP was last associated with (intake thread only).
        self.fip_routers = FloatingIPRouters()
        # What the state store says each router was last pushed, until its worker reports.
        self.last_pushed = LastPushed()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.debug = DebugStore(self.db)
        self.mgmt_net_id = ""
        self.network: HttpNetworkAPI | None = None
        self.loadbalancers: HttpLoadBalancerAPI | None = None
        self.drivers: dict[str, Driver] = {}
        self._threads: list[threading.Thread] = []
        self._resynced: int | None = None  # routers the start-up resync queued
        self._reported: set[int] = set()  # workers whose first snapshot came
        self.consumer: OutboxConsumer | None = None  # intake's, once started (its lag)

    # -- life cycle -------------------------------------------------------------
    def spawn_workers(self) -> None:
        """Start the worker processes now (forked: see ``start_method``), before this
        one checks the schema and the management network; each waits for ``start``."""
        for w in self.workers:
            if w.proc is None:
                self._spawn(w)

    @property
    def fence(self) -> tuple[str, float] | None:
        """What a worker's fence checks with (None: a single node, no fence)."""
        if not self.coordination.enabled:
            return None
        return (self.lease_owner, self.coordination.fence_margin)

    def rpc_url(self) -> str:
        if self.coordination.rpc_url:
            return self.coordination.rpc_url
        host = self.o.rpc_hosts[0] if self.o.rpc_hosts else "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.o.rpc_port}"

    def _join_cluster(self) -> None:
        c = self.coordination
        if loopback_url(self.rpc_url()):
            LOG.warning("cluster: this member advertises RPC URL %s, a loopback address: "
                        "members on other hosts cannot reach it ([coordination] rpc_url)",
                        self.rpc_url())
        caps = {"rpc_url": self.rpc_url(), "owner": self.lease_owner,
                addresses.CAPABILITY: metadata_address(self.o)}
        if self._membership_factory is not None:
            membership = self._membership_factory(caps)
        else:
            from astara.orchestrator.cluster.membership import ToozMembership

            membership = ToozMembership(c.tooz_url(), c.group_id, c.member_name, caps)
        self.ownership = Ownership(c, membership,
                                   Leases(self.db, self.lease_owner, c.lease, c.fence_margin),
                                   MemberBoard(self.db), self.rpc_url())
        self.ownership.tick(())  # join: the ring, before the resync asks who owns what
        self._check_metadata_address()
        LOG.info("cluster: member %s (lease owner %s), coordination %s",
                 c.member_name, self.lease_owner,
                 self.ownership.status()["coordination"])

    def _check_metadata_address(self) -> None:
        """Members that name another orchestrator address in their appliances' documents
        push theirs to every appliance they adopt from us, and we to theirs. Run after
        every heartbeat (the group as last read): each member is named once when it
        starts to differ, whether it joined before or after us."""
        assert self.ownership is not None
        mine = metadata_address(self.o)
        others = addresses.disagreeing(self.coordination.member_name, mine,
                                       self.ownership.group())
        new = {n: a for n, a in others.items() if self._differing.get(n) != a}
        self._differing = others
        if new:
            LOG.error("cluster: the orchestrator address in the appliances' documents "
                      "differs between members (ours %s; %s): every member must set the "
                      "same [orchestrator] metadata_address, or a takeover pushes a new "
                      "document to every appliance it adopts", mine,
                      ", ".join(f"{n} {a}" for n, a in sorted(new.items())))

    def start(self) -> None:
        self.spawn_workers()
        if self.coordination.enabled:
            self._join_cluster()
        net = endpoints.resolve(self.o, "network")
        with httpx.Client(base_url=net.url.rstrip("/"), headers=self.o.service_headers,
                          timeout=10, **({"auth": net.auth} if net.auth else {})) as http:
            lock = self.ownership.membership.lock(MGMT_LOCK, 30.0) \
                if self.ownership is not None else None
            self.mgmt_net_id = management.ensure_network(self.o, http, lock)
        self.network = HttpNetworkAPI(net.url, self.mgmt_net_id, self.o.service_headers,
                                      auth=net.auth)
        if "loadbalancer" in self.o.enabled_drivers:
            lb = endpoints.resolve(self.o, "loadbalancer")
            self.loadbalancers = HttpLoadBalancerAPI(lb.url, self.o.service_headers,
                                                     auth=lb.auth)
        self.drivers = registry.make(self.o.enabled_drivers, self.network, self.loadbalancers)
        for w in self.workers:
            assert w.inbox is not None
            w.inbox.put(("start", self.mgmt_net_id, self.fence))
        LOG.info("start-up: management network %s, %d workers started, %.2f s after start",
                 self.mgmt_net_id, len(self.workers), since_exec())
        self.load_last_pushed()  # before intake starts
        consumer = self._bus_consumer()
        # Its lag on /metrics: the outbox cursor read here (amqp: the relay's).
        self.consumer = self.relay.outbox if self.relay is not None else consumer
        threads: list[tuple[Callable[..., None], str]] = [
            (self._intake, "intake"), (self._supervise, "supervisor"),
            (self._collect, "collector")]
        if self.ownership is not None:
            threads.append((self._cluster, "cluster"))
        if self.relay is not None:
            threads.append((self._relay, "amqp-relay"))
        for target, name in threads:
            t = threading.Thread(target=target,
                                 args=(consumer,) if name in ("intake", "amqp-relay") else (),
                                 name=name, daemon=True)
            t.start()
            self._threads.append(t)
        # Healthy routers resume from the state store: their first look is one status call.
        n = self.resync(full=False)
        with self._lock:
            self._resynced = n
        LOG.info("start-up: resync queued %d routers, %.2f s after start", n, since_exec())

    def load_last_pushed(self) -> None:
        """The floating IPs the state store says each router was last pushed (one query):
        a move or disassociation heard before a router's worker reports it after a
        restart still wakes the router that lost the address."""
        self.last_pushed = LastPushed(RouterStateStore(self.db).floating_ips())

    def _bus_consumer(self) -> Any:
        """Where intake reads: the outbox, or (``amqp``) RabbitMQ, with the relay that
        takes our own services' committed notifications there."""
        bus = self.settings.bus
        if bus.transport == "amqp":
            from astara.bus import amqp  # oslo.messaging: only when used

            transport = self._transport_factory() if self._transport_factory else None
            if transport is None:
                raise RuntimeError("[bus] transport = amqp needs an oslo.messaging transport")
            outbox = OutboxConsumer(self.db, bus_relay.CONSUMER, topics=[bus_relay.TOPIC],
                                    wakeup=WakeupDir(bus.wakeup_dir),
                                    max_idle_wait=bus.max_idle_wait,
                                    retention=bus.outbox_retention)
            if outbox.position() == 0:
                # First start: relay what commits from now on; the resync (after this)
                # covers what came before, as for the outbox consumer.
                outbox.skip_to_tail()
            # Intake no longer reads the outbox: its old cursor would stop the pruning.
            if drop_cursor(self.db, self.consumer_name()):
                LOG.info("bus: transport amqp; the outbox cursor %s is dropped",
                         self.consumer_name())
            # Several orchestrators on one database: one relays, the others stand by.
            self.relay = bus_relay.Relay(
                outbox, amqp.OsloSender(transport), max_idle_wait=bus.max_idle_wait,
                lease=BusLease(self.db, bus_relay.CONSUMER, self.lease_owner,
                               bus_relay.LEASE_TTL))
            # Nova's exchange too: a finished appliance boot wakes its router at once.
            host = self.settings.network.host
            if self.coordination.enabled:  # a pool per member: each sees every message
                host = f"{host}.{self.coordination.member_name}"
            return amqp.AmqpConsumer(transport, host, (amqp.NEUTRON, amqp.NOVA))
        consumer = OutboxConsumer(self.db, self.consumer_name(), topics=["notifications.info"],
                                  wakeup=WakeupDir(bus.wakeup_dir),
                                  max_idle_wait=bus.max_idle_wait,
                                  retention=bus.outbox_retention)
        if consumer.position() == 0:
            # First start: the resync below covers history; consume from now on.
            consumer.skip_to_tail()
        if drop_cursor(self.db, bus_relay.CONSUMER):  # it ran with amqp before: no relay now
            LOG.info("bus: transport outbox; the relay's cursor %s is dropped", bus_relay.CONSUMER)
        return consumer

    def consumer_name(self) -> str:
        """Intake's outbox cursor: one per cluster member, as each must read every
        notification (each keeps what the ring gives it)."""
        if self.coordination.enabled:
            return f"{CONSUMER}@{self.coordination.member_name}"
        return CONSUMER

    def _relay(self, consumer: Any) -> None:
        # Nothing is relayed before the listener's queue exists (a first start creates
        # it): RabbitMQ would route those messages to no queue of ours.
        while not consumer.listening.wait(1.0):
            if self._stop.is_set():
                return
        self.relay.run(self._stop.is_set)

    def stop(self) -> None:
        self._stop.set()
        if self.relay is not None:
            self.relay.close()
        for w in self.workers:
            if w.inbox is not None:
                w.inbox.put(("stop",))
        deadline = time.monotonic() + 10  # for all of them together
        for w in self.workers:
            if w.proc is not None:
                w.proc.join(max(0.1, deadline - time.monotonic()))
                if w.proc.is_alive():
                    LOG.warning("worker %d did not stop: terminating it", w.index)
                    w.proc.terminate()
        for client in (self.network, self.loadbalancers):
            if client is not None:
                client.close()
        if self.ownership is not None:
            try:  # hand over now rather than when the leases end
                self.ownership.leave()
            except Exception as exc:
                LOG.warning("cluster: leaving failed (%s): leases end on their own", exc)
        self.db.dispose()

    def _spawn(self, w: WorkerHandle) -> None:
        inbox = self._ctx.Queue()
        w.stats = {}  # a new process's counters start at zero, not at its predecessor's
        w.metrics = {}
        method = start_method(threading.active_count())
        w.proc = multiprocessing.get_context(method).Process(
            target=process.main, name=f"astara-worker-{w.index}",
            args=(w.index, self.o, self.settings.database.url, inbox,
                  self._results, self.settings.debug, os.getpid(), self._board_array),
            daemon=True)
        w.proc.start()
        if self.mgmt_net_id:  # a successor; at start-up ``start`` sends it once known
            inbox.put(("start", self.mgmt_net_id, self.fence))
        # published only now: what other threads send comes after ``start`` (the worker
        # keeps anything earlier for after its start too)
        w.inbox = inbox
        # A first start says "ready" itself once it works; a successor is news at once.
        LOG.log(logging.INFO if w.restarts else logging.DEBUG, "worker %d started (pid %d, %s)",
                w.index, w.proc.pid, method)

    # -- keys -------------------------------------------------------------------
    def submit(self, ref: ResourceRef, full: bool = True, booted: str | None = None) -> None:
        """``booted``: the appliance instance whose boot just ended (``intake.boot_ended``):
        the pass may check that appliance alone (``Reconciler.boot_ended``), when
        nothing else asks for a full look meanwhile."""
        with self._lock:
            self.known[ref.id] = ref
        self._send(ref, ("submit", tuple(ref.__dict__.values()), full and not booted,
                         booted))

    def rebuild(self, ref: ResourceRef) -> None:
        """``ref`` may be an HA router's member 1 (``<router id>.ha1``): only that member
        is rebuilt, by its router's worker (the router is the key kept)."""
        stem = router_ha.router_of(ref.id)
        with self._lock:
            if stem == ref.id:
                self.known[ref.id] = ref
            else:  # the router is the key kept: a later round must be able to release it
                self.known.setdefault(stem, ResourceRef(ref.kind, stem, ref.tenant_id))
        self._send(ref, ("rebuild", tuple(ref.__dict__.values())))

    def _send(self, ref: ResourceRef, msg: tuple) -> None:
        if self.ownership is None:
            self._to_worker(ref, msg)
            return
        with self._handoff:
            # member 1's lease is its router's
            if not self.ownership.admit((router_ha.router_of(ref.id),)):
                LOG.debug("%s %s: not this member's (ring or lease): dropped", ref.kind,
                          ref.id)
                return
            self._to_worker(ref, msg)

    def _to_worker(self, ref: ResourceRef, msg: tuple) -> None:
        w = self.workers[shard_for(ref.tenant_id, len(self.workers))]
        if w.inbox is not None:
            w.inbox.put(msg)

    def resync(self, full: bool = True) -> int:
        """Queue every router the network API knows, and every resource of the other
        enabled kinds (start-up, ``poll``). ``full=False``
        (start-up): a router that was healthy is health-checked first, and looked at in
        full only if it differs, and in full within seconds after (``reconciler.follow_up``:
        a change taken from the bus but not acted on before the stop is not replayed)."""
        assert self.network is not None
        refs: list[ResourceRef] = []
        for kind, driver in self.drivers.items():
            try:
                refs.extend(driver.resources())
            except RemoteError as exc:
                if kind == "router":
                    raise
                # Another service may start after us: its events, or a poll, bring them.
                LOG.warning("resync: cannot list %ss: %s", kind, exc)
        batches: dict[int, list[tuple]] = {}
        with self._lock:
            for ref in refs:
                self.known[ref.id] = ref
        with self._handoff:
            if self.ownership is not None:  # only what this member holds the leases of
                mine = self.ownership.admit(ref.id for ref in refs)
                refs = [ref for ref in refs if ref.id in mine]
                # The rows are every member's: those the ring gives another member are
                # its workers' to report, never this member's.
                ownership, name = self.ownership, self.coordination.member_name
                with self._lock:
                    self.last_pushed.retain(lambda rid: ownership.owner_of(rid)[0] == name)
            with self._lock:
                for ref in refs:
                    batches.setdefault(shard_for(ref.tenant_id, len(self.workers)),
                                       []).append(tuple(ref.__dict__.values()))
            # One message per worker, not per router; an empty one too: a worker's first
            # resync looks for HA members left behind (worker 0 removes the gone ones).
            for index, w in enumerate(self.workers):
                if w.inbox is not None:
                    w.inbox.put(("submit_many", batches.get(index, []), full))
        LOG.info("resync: %d routers queued", len(refs))
        return len(refs)

    def poll(self) -> int:
        with self._lock:
            refs = list(self.known.values())
        for ref in refs:
            self.submit(ref)
        return len(refs) + self.resync()

    def _owned(self, ref: ResourceRef) -> ResourceRef | None:
        """``ref`` with its tenant from the resource's record (it shards the work)."""
        driver = self.drivers.get(ref.kind)
        if driver is None:
            return None
        with self._lock:
            known = {ref.id: self.known[ref.id]} if ref.id in self.known else {}
        return intake.owned_ref(ref, known, driver.project_of)

    def ref_for(self, router_id: str) -> ResourceRef | None:
        """The key of a router (or a resource of another enabled kind) by its id; also
        an HA router's member 1 by its key (``<router id>.ha1``: a member's rebuild)."""
        stem, member = router_ha.split(router_id)
        if member:
            ref = self.ref_for(stem) if not router_ha.split(stem)[1] else None
            return None if ref is None or ref.kind != "router" \
                else ResourceRef("router", router_id, ref.tenant_id)
        if not intake.is_router_id(router_id):
            return None
        with self._lock:
            ref = self.known.get(router_id)
        if ref is not None:
            return ref
        for kind, driver in self.drivers.items():
            project = driver.project_of(router_id)
            if project is not None:
                return ResourceRef(kind, router_id, project)
        return None

    def broadcast_debug(self) -> None:
        for w in self.workers:
            if w.inbox is not None:
                w.inbox.put(("debug",))

    # -- threads ----------------------------------------------------------------
    def _intake(self, consumer: Any) -> None:
        # ``consumer`` is the outbox's or the amqp one: both ``run(handler, stop,
        # batch_done)``; intake does not know which.
        # Within one batch every message was committed before the batch was read: a
        # network's routers looked up once answer for all of them, and a key queued
        # once is enough (a storm of port events was one lookup and one queueing each);
        # again when a full look is asked after a boot's end (which asked for less).
        networks: dict[str, list[ResourceRef]] = {}
        queued: dict[ResourceRef, bool] = {}  # -> queued for a full look

        def batch_done() -> None:
            networks.clear()
            queued.clear()

        def handle(msg) -> None:
            if intake.is_own_write(msg.body, SERVICE_USER):
                return  # our own writes (router status, management ports) change nothing
            booted = intake.appliance_instance(msg.body, self.o.service_project_id,
                                               [d.naming for d in self.drivers.values()])
            targets = [booted] if booted is not None else \
                [event.target for event in intake.normalize(msg.body, self.drivers)]
            ended = intake.boot_ended(msg.body) if booted is not None else None
            for target in targets:
                for ref in self._resolve(target, networks):
                    owned = self._owned(ref)
                    if owned is None:
                        LOG.debug("intake: %r is no %s id; dropped", ref.id[:64], ref.kind)
                    elif owned not in queued or (not queued[owned] and not ended):
                        queued[owned] = not ended
                        # One line per key a change queued: when it reached us (the
                        # ready-latency bench reads it for its phase breakdown).
                        LOG.info("intake: %s -> %s %s", msg.event_type, owned.kind, owned.id)
                        self.submit(owned, booted=ended)
            named = intake.floating_ip_router(msg.body)
            if named is not None:  # after its hint was resolved: the router it left
                self.fip_routers.note(*named)

        while not self._stop.is_set():
            try:
                consumer.run(handle, self._stop.is_set, batch_done)
            except RemoteError as exc:
                LOG.warning("intake: network API unavailable (%s); retrying", exc)
                time.sleep(1)
            except Exception:
                LOG.exception("intake: unexpected failure; continuing")
                time.sleep(1)
        consumer.close()

    def _resolve(self, target, networks: dict[str, list[ResourceRef]] | None = None
                 ) -> list[ResourceRef]:
        if isinstance(target, ResourceRef):
            return [target]
        if isinstance(target, NetworkHint):
            if target.network_id == self.mgmt_net_id:
                return []  # the appliances' own ports: no router has an interface there
            assert self.network is not None
            if networks is None:
                return self.network.routers_on_network(target.network_id)
            if target.network_id not in networks:
                networks[target.network_id] = \
                    self.network.routers_on_network(target.network_id)
            return networks[target.network_id]
        if isinstance(target, FloatingIPHint):
            # The routers whose last model has the address, the one the last
            # notification of this floating IP named (their reports may be behind), and
            # those the state store says were last pushed it (not reported since a start).
            last = self.fip_routers.last(target.floatingip_id)
            with self._lock:
                rids = {rid for rid, r in self.routers.items()
                        if target.address in r.get("floating_ips", [])}
                rids.update([last] if last else [])
                refs = {rid: self.known[rid] for rid in sorted(rids) if rid in self.known}
                for rid in self.last_pushed.routers(target.address):
                    if rid not in refs and intake.is_router_id(rid):
                        # Not known before the start-up resync: ``_owned`` asks the
                        # network API for its tenant, as for a router a port names.
                        refs[rid] = self.known.get(rid) or ResourceRef("router", rid, "")
                return list(refs.values())
        return []

    def _cluster(self) -> None:
        """Once per heartbeat: the ring again; adopt and release what changed hands."""
        assert self.ownership is not None
        while not self._stop.wait(self.coordination.heartbeat_interval):
            with self._lock:
                known = list(self.known)
            try:
                change = self.ownership.tick(known)
            except Exception:  # the database, say: try again at the next heartbeat
                LOG.exception("cluster: ownership round failed; retrying")
                continue
            self._check_metadata_address()  # members that joined (or came back) since
            self.apply(change)

    def apply(self, change: Rebalance) -> None:
        """Hand adopted resources to their workers, take released ones away."""
        with self._lock:
            released = [self.known[rid] for rid in change.release if rid in self.known]
            adopted = [self.known[rid] for rid in change.adopt if rid in self.known]
            for rid in change.release:  # another member's now: its workers report it
                self.last_pushed.forget(rid)
        with self._handoff:  # after any submit already checked (``_send``)
            for ref in released:
                self._to_worker(ref, ("release", tuple(ref.__dict__.values())))
        # As a restart resumes them: a healthy, configured appliance costs one status
        # call and no push (``full=False``).
        for ref in adopted:
            self._to_worker(ref, ("submit", tuple(ref.__dict__.values()), False))

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.judge_breaker()
            except Exception:  # the supervisor must go on restarting workers regardless
                LOG.exception("rebuild breaker: judging failed; keeping its last verdict")
            for w in self.workers:
                if w.proc is not None and not w.proc.is_alive() and not self._stop.is_set():
                    LOG.error("worker %d (pid %s) died with code %s: restarting", w.index,
                              w.proc.pid, w.proc.exitcode)
                    w.restarts += 1
                    if w.proc.pid is not None:  # rebuilds would wait on it forever
                        self.breaker.release_dead(w.proc.pid)
                    self._spawn(w)
                    with self._lock:
                        mine = [r for r in self.known.values()
                                if shard_for(r.tenant_id, len(self.workers)) == w.index]
                    for ref in mine:
                        self.submit(ref)

    def _collect(self) -> None:
        import queue as queue_mod

        while not self._stop.is_set():
            try:
                msg = self._results.get(timeout=0.5)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            if msg[0] == "snapshot":
                _, index, states, gone, stats, released = msg
                proc = self.workers[index].proc
                if proc is None or stats.get("pid") != proc.pid:
                    continue  # sent by a worker that has died since: its successor reports
                with self._lock:
                    first = gone is None
                    if first:  # every router the worker holds: forget the others' views
                        gone = [rid for rid, r in self.routers.items()
                                if r.get("_worker") == index and rid not in states]
                    for rid in gone:
                        self.last_pushed.forget(rid)  # dropped: no report will come
                        if self.routers.get(rid, {}).get("_worker") == index:
                            del self.routers[rid]
                        if not first and rid not in released and (
                                self.ownership is None or self.ownership.owns(rid)):
                            # Dropped after a terminal pass: gone. A restarted worker's
                            # first report only lacks what it was not handed yet, and a
                            # router released may be ours again already (the ring gave
                            # it back): the keys stay (requeued, floating IPs resolved,
                            # requeued again; renewed by the next round).
                            self.known.pop(rid, None)
                    for rid, summary in states.items():
                        self.routers[rid] = {**summary, "_worker": index}
                        self.last_pushed.forget(rid)
                    self.workers[index].metrics = stats.pop("metrics", {})
                    self.workers[index].stats = stats
                self._note_start_up(index)

    def _note_start_up(self, index: int) -> None:
        """INFO milestones of a start: each worker's first report, then every router
        the start-up resync queued seen healthy (logged once)."""
        if index not in self._reported:
            self._reported.add(index)
            LOG.info("start-up: first report from worker %d, %.2f s after start", index,
                     since_exec())
        with self._lock:
            if self._resynced is None:
                return
            healthy = sum(1 for r in self.routers.values() if r.get("healthy"))
            if healthy < self._resynced:
                return
            n, self._resynced = self._resynced, None
        LOG.info("start-up: every router seen healthy (%d), %.2f s after start", n,
                 since_exec())

    def judge_breaker(self) -> None:
        """Every router's latest status check, from the workers' snapshots, decides
        whether the breaker is open; the workers read the verdict on the board."""
        with self._lock:
            checks = breaker_board.checks(self.routers.values())
            routers = len(self.routers)
        breaker_board.judge(self.breaker, checks, routers)

    # -- views ------------------------------------------------------------------
    def router_views(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in sorted(self.routers.values(), key=lambda r: r["id"])]

    def resource_counts(self) -> collections.Counter[tuple[str, str, bool]]:
        """Resources held by the workers by (kind, status, healthy): the metrics' view."""
        with self._lock:
            return collections.Counter(
                (r.get("kind") or "router", r.get("status") or "unknown", bool(r.get("healthy")))
                for r in self.routers.values())

    def worker_views(self) -> list[dict]:
        return [{"index": w.index, "pid": w.proc.pid if w.proc else None,
                 "alive": bool(w.proc and w.proc.is_alive()), "restarts": w.restarts,
                 **w.stats} for w in self.workers]

    def cluster_view(self) -> dict:
        """The cluster as this member sees it (a single node: one member, everything)."""
        if self.ownership is None:
            return {"enabled": False, "member": self.coordination.member_name,
                    "coordination": "disabled", "acting": True,
                    "members": [{"name": self.coordination.member_name, "in_group": True,
                                 "share": 1.0, "leases": None, "self": True}]}
        status = self.ownership.status()
        rows = self.ownership.board.read() if self.ownership.board is not None else []
        counts = self.ownership.leases.live_counts()
        return {"enabled": True, "member": status["member"],
                "coordination": status["coordination"], "acting": status["acting"],
                "members": cluster_view.members(status, rows, dict(counts), time.time())}

    def forget_member(self, name: str) -> tuple[int, dict]:
        """``astara-ctl cluster forget``: drop a member removed for good (its row and
        outbox cursor), refused while it is in the group. (HTTP status, body)."""
        if self.ownership is None or self.ownership.board is None:
            return 409, {"error": "clustering is off ([coordination] enabled = false)"}
        if name == self.coordination.member_name or name in self.ownership.status()["members"]:
            return 409, {"error": f"member {name!r} is in the group: stop it first (it "
                                  f"leaves the group at once, or {self.coordination.lease:.0f} "
                                  f"s after a kill)"}
        if self.ownership.down is not None:
            return 409, {"error": "the coordination service does not answer here "
                                  f"({self.ownership.down[:200]}): who is in the group is "
                                  "not known; try again when it answers"}
        try:
            row = next((r for r in self.ownership.board.read() if r["name"] == name), None)
        except SQLAlchemyError as exc:
            return self._database_down("cluster forget", exc)
        age = time.time() - row["heartbeat_at"] if row is not None else None
        if age is not None and age < FORGET_AFTER * self.coordination.lease:
            return 409, {"error": f"member {name!r} wrote a heartbeat {max(age, 0):.0f} s "
                                  f"ago: it may be alive (paused, or cut off from the "
                                  f"coordination service); forget it once "
                                  f"{FORGET_AFTER * self.coordination.lease:.0f} s have "
                                  "passed without one"}
        try:
            done = self.ownership.board.forget(name, f"{CONSUMER}@{name}")
        except SQLAlchemyError as exc:
            return self._database_down("cluster forget", exc)
        if not any(done.values()):
            return 404, {"error": f"no member {name!r} is known (no row, no cursor)"}
        LOG.info("cluster: member %s forgotten (%s)", name, done)
        return 200, {"forgotten": name, **done}

    @staticmethod
    def _database_down(what: str, exc: Exception) -> tuple[int, dict]:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        LOG.error("%s: database error: %s", what, first)
        return 503, {"error": f"the database did not answer ({type(exc).__name__}): try "
                              "again"}

    def peers(self) -> list[tuple[str, str]]:
        """The other members in the group: (name, url), by name; url "" when one
        advertises none."""
        if self.ownership is None:
            return []
        return sorted((name, str(caps.get("rpc_url") or ""))
                      for name, caps in self.ownership.group().items()
                      if name != self.coordination.member_name)

    def forward_target(self, resource_id: str) -> tuple[str, str] | None:
        """Where a command on ``resource_id`` must go: (member, its RPC URL) when another
        member owns it by the ring; None when it is ours (or a single node)."""
        resource_id = router_ha.router_of(resource_id)  # member 1 goes where its router is
        if self.ownership is None or self.ownership.owns(resource_id):
            return None
        name, caps = self.ownership.owner_of(resource_id)
        if name is None or name == self.coordination.member_name:
            return None
        return name, str(caps.get("rpc_url") or "")

    def health_view(self) -> dict:
        return self.breaker.view(time.time())

    def bus_view(self) -> dict:
        """The bus as the health route shows it: the transport and, with ``amqp``, the
        relay's state (``down`` with since when and why while RabbitMQ refuses)."""
        view: dict = {"transport": self.settings.bus.transport}
        if self.relay is not None:
            view["relay"] = self.relay.status()
        return view
