"""Wires a reconciler from typed settings: real clients, debug switches, state store."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import asdict

from astara.common.private import read_secret
from astara.db.engine import Database
from astara.orchestrator import appliance_view, endpoints
from astara.orchestrator.breaker_board import BreakerBoard
from astara.orchestrator.byonf import BootSpec, BootSpecs
from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.compute import HttpComputeAPI
from astara.orchestrator.clients.loadbalancer import HttpLoadBalancerAPI
from astara.orchestrator.clients.network import HttpNetworkAPI
from astara.orchestrator.cluster.leases import Leases
from astara.orchestrator.debug import DebugSnapshot, DebugStore
from astara.orchestrator.drivers import loadbalancer_view, registry, router_ha
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import (
    OrchestratorSettings,
    appliance_source,
    management_settings,
    plan_settings,
)
from astara.orchestrator.reconcile.execute import Advance, Executor, Fence
from astara.orchestrator.reconcile.memory import RouterState
from astara.orchestrator.reconcile.model import Outcome, Settings
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Gate, Reconciler
from astara.orchestrator.reconcile.silence import spacing
from astara.orchestrator.scheduler import shard_for
from astara.orchestrator.state_store import RouterStateStore


class Runtime:
    """Everything one worker process needs to reconcile routers."""

    def __init__(self, o: OrchestratorSettings, db: Database, management_network_id: str,
                 board: BreakerBoard | None = None, preload: bool = True,
                 shard: tuple[int, int] | None = None,
                 fence: tuple[str, float] | None = None):
        """``preload``: read every router's stored state at once (a worker starting);
        ``shard`` (index, workers): only the rows of the tenants this worker owns;
        ``fence`` (lease owner token, margin): a cluster member's, checked before each
        step (``cluster.leases``)."""
        headers = o.service_headers
        store = RouterStateStore(db)
        net, compute = endpoints.resolve(o, "network"), endpoints.resolve(o, "compute")
        self.network = HttpNetworkAPI(net.url, management_network_id, headers, auth=net.auth)
        self.compute = HttpComputeAPI(compute.url, headers, o.appliance_image,
                                      o.appliance_flavor, auth=compute.auth)
        key = read_secret(o.appliance_auth_key_file, "appliance deployment key")
        self.appliance = HttpApplianceAPI(key, o.appliance_port, source=appliance_source(o))
        self.loadbalancers = None
        if "loadbalancer" in o.enabled_drivers:
            lb = endpoints.resolve(o, "loadbalancer")
            self.loadbalancers = HttpLoadBalancerAPI(lb.url, headers, auth=lb.auth)
        drivers = registry.make(o.enabled_drivers, self.network, self.loadbalancers)
        boot = BootSpecs(self.network, self.compute,
                         BootSpec(o.appliance_image, o.appliance_flavor), o.enable_byonf)
        self.debug_store = DebugStore(db)
        self.debug = self.debug_store.snapshot()
        settings = plan_settings(o)
        self.reconciler = Reconciler(
            Observer(self.network, self.compute, self.appliance, management_settings(o),
                     drivers, boot),
            Executor(self.network, self.compute, self.appliance, drivers,
                     fence=lease_fence(db, fence) if fence is not None else None,
                     advance=lease_advance(db, fence) if fence is not None else None),
            settings, is_debug=lambda ref: self.debug.is_debug(ref),
            store=store,
            gate=breaker_gate(board, settings) if board is not None else None)
        if preload:
            mine = (lambda tenant: True) if shard is None else (
                lambda tenant: shard_for(tenant, shard[1]) == shard[0])
            self.reconciler.preload(store.load_all(mine))
        self.touched = Touched()

    def run(self, ref: ResourceRef, full: bool) -> Outcome:
        """One pass; the router is noted as changed for the next report to the parent."""
        self.touched.starts(ref.id)
        try:
            return self.reconciler.run(ref, full)
        finally:
            self.touched.passed(ref.id)

    def release(self, ref: ResourceRef) -> None:
        """The cluster gave ``ref`` to another member: its state machine stops here,
        and the next report says it is no longer held, because it was released."""
        self.reconciler.release(ref)
        self.touched.released(ref.id)

    def has_touched(self) -> bool:
        return self.touched.any()

    def take_touched(self) -> tuple[set[str], set[str]]:
        """See ``Touched.take``."""
        return self.touched.take()

    def reload_debug(self) -> DebugSnapshot:
        self.debug = self.debug_store.snapshot()
        return self.debug

    def close(self) -> None:
        for c in (self.network, self.compute, self.appliance, self.loadbalancers):
            if c is not None:
                c.close()


class Touched:
    """The routers passed or released since the last report (their summaries may have
    changed), and which of them were released and not passed since: a report saying one
    is no longer held says whether it was released (the parent keeps its key: the ring
    may give it back at once) or ended by a terminal pass (the parent forgets it)."""

    def __init__(self):
        self._lock = threading.Lock()  # the worker's passes run in threads
        self._touched: set[str] = set()
        self._released: set[str] = set()

    def starts(self, rid: str) -> None:
        """A pass begins: held again (given back), so the pass says what it is now."""
        with self._lock:
            self._released.discard(rid)

    def passed(self, rid: str) -> None:
        with self._lock:
            self._touched.add(rid)

    def released(self, rid: str) -> None:
        with self._lock:
            self._touched.add(rid)
            self._released.add(rid)

    def any(self) -> bool:
        with self._lock:
            return bool(self._touched)

    def take(self) -> tuple[set[str], set[str]]:
        """The routers touched since the last call, and those of them released and not
        passed since (a pass running at the release does not count: it began before)."""
        with self._lock:
            touched, self._touched = self._touched, set()
            released = self._released & touched
            self._released -= released
        return touched, released


def lease_fence(db: Database, fence: tuple[str, float]) -> Fence:
    """The executor's fence in a cluster: this member's lease on the resource, read
    from the database right before each step (its epoch goes with the pushes)."""
    owner, margin = fence
    leases = Leases(db, owner, lease=0.0, margin=margin)
    return lambda ref: leases.tenure(ref.id)


def lease_advance(db: Database, fence: tuple[str, float]) -> Advance:
    """After an appliance's refusal: raise our lease past its epoch if the row still
    names us (``Leases.advance``)."""
    owner, margin = fence
    leases = Leases(db, owner, lease=0.0, margin=margin)
    return lambda ref, pushed, accepted: leases.advance(ref.id, pushed, accepted)


def breaker_gate(board: BreakerBoard, s: Settings) -> Gate:
    # A held router is looked at again no sooner than its silent looks are spaced, and
    # no later than its health checks.
    floor = spacing(s.appliance_failure_threshold, s.appliance_failure_period,
                    s.boot_check_interval)
    return lambda observed, decision, charge: board.admit(
        decision, observed.memory, observed.now, floor, max(floor, s.health_check_period),
        charge)


def check_view(st: RouterState) -> dict | None:
    """The latest status check, as the parent reads it for the rebuild breaker."""
    return None if st.last_check is None else {"at": st.last_check[0],
                                               "ok": st.last_check[1]}


def summary(router_id: str, st: RouterState, steps: int = 10) -> dict:
    last = st.steps[-1] if st.steps else None
    return {
        "id": router_id,
        "kind": st.kind,
        "tenant_id": st.tenant_id,
        "status": st.status,
        "state": last.status if last else None,
        "healthy": st.healthy and bool(st.steps),  # resumed, but not looked at yet: no
        "instance_id": st.context.instance_id,
        "management_address": st.context.mgmt_address,
        "config_digest": st.context.desired_digest,
        "last_error": next((s.error for s in reversed(st.steps) if s.error),
                           st.memory.last_error),
        "memory": asdict(st.memory),
        "floating_ips": sorted(st.context.floating_ips),
        "check": check_view(st),
        # As its appliance last reported (status check): interfaces, services.
        "appliance": appliance_view.view(st.report),
        # A load balancer's own fields (VIP, children, statuses), before the steps.
        **loadbalancer_view.view(st),
        # An HA router's pair: both members, which is master, their sync state.
        **({"ha": st.pair} if st.pair is not None else {}),
        "steps": [asdict(s) for s in list(st.steps)[-steps:]],
    }


def report(held: dict[str, RouterState], touched: set[str] | None,
           released: Collection[str] = ()
           ) -> tuple[dict[str, dict], list[str] | None, list[str]]:
    """What a worker tells the parent: every router it holds (``touched`` None: its first
    report), else the summaries of the routers passed since, the ids it dropped, and of
    those the ones it dropped because they were ``released``, not ended. An
    HA router's second member is shown in its router's summary (``ha``), not as one."""
    if touched is None:
        return {rid: summary(rid, st) for rid, st in list(held.items())
                if not router_ha.split(rid)[1]}, None, []
    states = {rid: summary(rid, st) for rid in touched if (st := held.get(rid)) is not None}
    gone = sorted(rid for rid in touched if rid not in held)
    return states, gone, [rid for rid in gone if rid in released]
