"""One reconcile pass for one router: observe -> plan -> execute -> outcome.

``Reconciler.run(ref, full)`` is what a worker calls for a key. ``full=False``
(a health check) tries the one-call health observation first. Debug mode
(router, tenant or global) is honoured before anything else is looked at.

A router resumed from the store after a restart passes its first check on what was
pushed before the stop; a change in flight then (an event taken from the bus but not
acted on, or an upgrade that changes the document) shows only in a full look, so the
full look follows within seconds (``follow_up``), spread out, not a health period later.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.router import HaMember, RouterDriver
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile import boot_end
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.memory import (
    Context,
    Resume,
    RouterState,
    Saved,
    StepRecord,
)
from astara.orchestrator.reconcile.model import (
    Decision,
    Memory,
    Observed,
    Outcome,
    OutcomeKind,
    Settings,
    Status,
    Step,
)
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.plan import plan

LOG = logging.getLogger(__name__)


class StateStore(Protocol):
    def load(self, router_id: str) -> Saved | None: ...

    def save(self, router_id: str, tenant_id: str, memory: Memory,
             status: str | None, resume: Resume | None = None) -> None: ...

    def forget(self, router_id: str) -> None: ...


# Split-brain rebuilds of one pair that never healed to one master and one backup:
# after this many the pair is left in ERROR (VRRP cannot pass between its members).
SPLIT_BRAIN_REBUILDS = 3
# The full look after a resumed check comes within this many seconds at most.
FOLLOW_UP = 10.0
# A restarted worker is handed all its routers within seconds (the start-up resync, or
# the parent requeueing a dead worker's keys): rows preloaded for routers it has not been
# handed after this long are dropped (a deleted router's, or another worker's).
PRELOAD_KEPT = 60.0


def _sooner(a: Outcome, b: Outcome) -> Outcome:
    """One key, two members: look again when the first of them needs it."""
    order = {OutcomeKind.RETRY: 0, OutcomeKind.REQUEUE: 1, OutcomeKind.DONE: 2,
             OutcomeKind.TERMINAL: 3}
    if a.kind == b.kind == OutcomeKind.REQUEUE:
        return a if a.after <= b.after else b
    return a if order[a.kind] <= order[b.kind] else b


def _last_error(st: RouterState | None) -> str | None:
    if st is None or st.healthy:
        return None
    return next((r.error for r in reversed(st.steps) if r.error), st.memory.last_error)


def follow_up(health_check_period: float, jitter: float) -> float:
    """When a resumed router's full look follows its first check: spread over
    min(health period, ``FOLLOW_UP``) s so that 1,000 routers do not all look at once
    (``jitter`` in [0, 1))."""
    spread = min(health_check_period, FOLLOW_UP)
    return spread * (0.1 + 0.9 * jitter)


# Given the observation and a decision that replaces an appliance: the decision, or
# another one if the rebuild breaker holds it back (``orchestrator.breaker_board``).
# (observed, the rebuild decided, whether it is charged to the budget) -> what to do
Gate = Callable[[Observed, Decision, bool], Decision]


class Reconciler:
    def __init__(self, observer: Observer, executor: Executor, settings: Settings,
                 is_debug: Callable[[ResourceRef], bool] = lambda ref: False,
                 clock: Callable[[], float] = time.time, store: StateStore | None = None,
                 gate: Gate | None = None, jitter: Callable[[], float] = random.random):
        self.observer, self.executor, self.settings = observer, executor, settings
        self.jitter = jitter
        self.is_debug, self.clock = is_debug, clock
        self.store = store
        self.gate = gate
        self.states: dict[str, RouterState] = {}
        self._preloaded: dict[str, Saved] = {}
        self._preloaded_until = 0.0
        # Routers resumed from the store whose member 1 (never stored) was not looked for
        # yet: deleted, or HA turned off, before member 0's first full look, it would leak.
        self._member1_unknown: set[str] = set()
        # Told their appliance's boot just ended (``boot_ended``), with the instance:
        # their next pass may check that appliance alone (``Observer.health``).
        self._booted: dict[ResourceRef, str] = {}

    def boot_ended(self, ref: ResourceRef, instance_id: str) -> None:
        self._booted[ref] = instance_id

    def preload(self, saved: dict[str, Saved], keep: float = PRELOAD_KEPT) -> None:
        """What the store holds for many routers, read in one query (a restarted worker):
        each router's first pass within ``keep`` s takes its entry instead of reading its
        own row; the entries left then are dropped (a later first pass reads its row)."""
        self._preloaded = dict(saved)
        self._preloaded_until = self.clock() + keep

    def state(self, ref: ResourceRef) -> RouterState:
        if self._preloaded and self.clock() > self._preloaded_until:
            LOG.debug("dropping %d preloaded router states never asked for",
                      len(self._preloaded))
            self._preloaded = {}
        st = self.states.get(ref.id)
        if st is None:
            st = self.states[ref.id] = RouterState(tenant_id=ref.tenant_id, kind=ref.kind)
            self._load(ref, st, resume=True)
            if ref.kind == "router" and st.status is not None \
                    and not router_ha.split(ref.id)[1]:
                self._member1_unknown.add(ref.id)
            if router_ha.split(ref.id)[1]:
                # Member 1 is not stored: after a restart it may be mid-boot, so it gets
                # a boot's time to answer (not a working appliance's few seconds).
                st.memory = replace(st.memory, boot_started=self.clock())
        return st

    def _load(self, ref: ResourceRef, st: RouterState, resume: bool) -> None:
        saved = self._preloaded.pop(ref.id, None)
        if saved is None and self.store is not None and not router_ha.split(ref.id)[1]:
            saved = self.store.load(ref.id)
        if saved is None:
            return
        st.memory, st.status, st.saved_resume = saved
        if resume and saved[2] is not None:
            # Healthy when the orchestrator stopped: the first look is one status call.
            st.context = st.saved_from = saved[2].context()
            st.healthy = st.resumed = True

    def _refresh(self, ref: ResourceRef, st: RouterState) -> None:
        """Back from debug mode: what the debugger saved replaces what this worker held
        (its steps stay: ``astara-debug-router`` waits on the debug exit among them)."""
        st.stale = False
        self._preloaded.pop(ref.id, None)
        if self.store is not None:
            st.memory, st.status = Memory(), None  # the debugger may have forgotten it
            self._load(ref, st, resume=False)
        # The appliance may have changed too: look at everything.
        st.context, st.healthy, st.resumed = Context(), False, False

    def decide(self, ref: ResourceRef, full: bool = True) -> tuple[Observed, Decision]:
        return self._decide(ref, full)[:2]

    def _decide(self, ref: ResourceRef, full: bool) -> tuple[Observed, Decision, bool]:
        """Also whether the observation was a resumed router's first check."""
        st = self.state(ref)
        now = self.clock()
        # member 1 is in debug mode with its router (keyed by the router's id)
        debug = self.is_debug(ResourceRef(ref.kind, router_ha.router_of(ref.id), ref.tenant_id)
                              if ref.kind == "router" else ref)
        if st.stale and not debug:
            self._refresh(ref, st)
        # This pass is the one the boot's end asked for (taken at once: a later end is
        # the next pass's): one status call when ``boot_end.one_call`` allows it on
        # what this worker holds now (after a debug session's refresh), else a full
        # look, as any event is.
        ended = self._booted.pop(ref, None)
        booted = ended if ended is not None and boot_end.one_call(ref, st, ended) else None
        if ended is not None and booted is None:
            full = True
        observed, resumed = None, False
        if debug:
            observed = Observed(exists=True, debug=True, memory=st.memory, now=now)
        elif not full:
            was_resumed = st.resumed
            observed = self.observer.health(st, now, debug, booted=booted)
            resumed = was_resumed and observed is not None
        if observed is None:
            observed = self.observer.full(ref, st, now, debug)
        if observed.appliance is not None and observed.memory.boot_started is None:
            st.last_check = (now, observed.appliance.reachable)
        return observed, plan(observed, self.settings), resumed

    def run(self, ref: ResourceRef, full: bool = True) -> Outcome:
        """One pass; an HA router's pass is one for each member of its pair."""
        if ref.kind != "router" or router_ha.split(ref.id)[1]:
            return self._run_one(ref, full)
        mid = router_ha.member_id(ref.id)
        other = self.states.get(mid)
        st0 = self.states.get(ref.id)
        if ref in self._booted and (other is not None or (
                st0 is not None and isinstance(st0.context.kept, HaMember))):
            # A pair's boot's end: both members looked at whole, member 1's pass too
            # (member 0's alone would be by ``boot_end.one_call``).
            full = True
        if other is not None or ref.id in self.states:
            # a replacement of member 0 keeps away from member 1's host, as 1 from 0's
            st = self.state(ref)
            st.avoid = (other.context.instance_id,) \
                if other is not None and other.context.instance_id else ()
        outcome = self._run_one(ref, full)
        st0 = self.states.get(ref.id)
        is_ha = st0 is not None and isinstance(st0.context.kept, HaMember)
        if st0 is not None and not is_ha:
            st0.pair = None  # a single router again (or not yet read as a pair)
        if not is_ha and mid not in self.states \
                and not (full and self._stray_member1(ref, mid)):
            return outcome
        mref = ResourceRef(ref.kind, mid, ref.tenant_id)
        st1 = self.state(mref)
        st1.avoid = (st0.context.instance_id,) if st0 and st0.context.instance_id else ()
        second = self._run_one(mref, full)
        if st0 is not None and is_ha:
            self._judge_pair(ref, st0, self.states.get(mid))
        return _sooner(outcome, second)

    def _stray_member1(self, ref: ResourceRef, mid: str) -> bool:
        """Once after a restart, for a router not (or no longer) HA: is a member 1 left
        (its instance or management port)? Then its passes remove it."""
        if ref.id not in self._member1_unknown:
            return False
        self._member1_unknown.discard(ref.id)
        try:
            who = self.observer.drivers[ref.kind].naming.identity(mid, 0)
            return self.observer.compute.find(who, {}) is not None \
                or self.observer.network.management_port(mid, create=False) is not None
        except RemoteError as exc:
            self._member1_unknown.add(ref.id)  # asked again at the next full pass
            LOG.warning("router %s: cannot look for its HA member 1: %s", ref.id, exc)
            return False

    def find_member1(self, mine: list[ResourceRef]) -> dict[str, list[str]] | None:
        """Once after a restart (``mine``: this worker's routers of the resync): member 1s
        (never stored) are looked for by name and by management port. A router of
        ``mine`` that has one gets it looked at in its first full pass (removed unless
        HA). Returns the members whose router was not listed (with their instances), for
        ``remove_member1``; None when the lists could not be read (ask again later)."""
        driver = self.observer.drivers.get("router")
        if driver is None:
            return {}  # routers are not this orchestrator's (loadbalancer only)
        naming = driver.naming
        pattern = f"^{re.escape(naming.prefix)}.*{re.escape(router_ha.SUFFIX)}$"
        try:
            # members first: a member seen was made before the routers are listed, so
            # its router is listed unless deleted
            servers = self.observer.compute.named(pattern, naming.metadata_key)
            found = [*servers, *self.observer.network.management_device_ids()]
            listed = {r.id for r in self.observer.network.routers()}
        except RemoteError as exc:
            LOG.warning("cannot look for HA members left behind: %s", exc)
            return None
        gone, look = router_ha.leftover_members(found, listed,
                                                {r.id for r in mine if r.kind == "router"})
        self._member1_unknown |= look
        return {mid: servers.get(mid, []) for mid in gone}

    def remove_member1(self, gone: dict[str, list[str]]) -> bool:
        """Remove member 1s ``find_member1`` found unlisted, each only once its router
        reads 404 on its own (a list may be short: a live pair's member is kept).
        Deletes of what is gone are no error. False if any could not be done."""
        done = True
        for mid in sorted(gone):
            try:
                if self.observer.network.router_project(router_ha.router_of(mid)) is not None:
                    continue  # its router exists: the list missed it
                LOG.warning("removing HA member %s: its router is gone", mid)
                for server_id in gone[mid]:
                    self.observer.compute.delete(server_id)
                self.observer.network.delete_management_port(mid)
                for port in self.observer.network.ha_ports(mid):
                    self.observer.network.delete_port(port["id"])
                self.observer.compute.delete_server_group(
                    router_ha.group_name(router_ha.router_of(mid)))
            except RemoteError as exc:
                LOG.warning("HA member %s: not removed: %s", mid, exc)
                done = False
        return done

    def sweep_member1(self, mine: list[ResourceRef], remove_gone: bool) -> None:
        """``find_member1``, then (``remove_gone``) ``remove_member1``, in one call."""
        gone = self.find_member1(mine)
        if gone and remove_gone:
            self.remove_member1(gone)

    def _judge_pair(self, ref: ResourceRef, st0: RouterState, st1: RouterState | None) -> None:
        views = []
        for st in (st0, st1):
            # A role only from a status read this pass from a member that forwards (a
            # debug pass reads nothing: its report is old).
            fresh = st is not None and st.report is not None and st.healthy and not st.stale
            ha = st.report.ha if fresh and st is not None and st.report is not None else None
            views.append(router_ha.MemberView(
                exists=st is not None and st.context.instance_id is not None,
                forwarding=st is not None and st.healthy,
                role=ha.role if ha else "unknown", sync=ha.sync if ha else "off",
                host_id=st.context.host_id if st is not None else None))
        pair = (views[0], views[1])
        state, warning = router_ha.pair_view(pair)
        roles = (views[0].role, views[1].role)
        last = (st0.pair or {}).get("master")
        # No victim unless both members forward, each judged by what it said this pass.
        victim = router_ha.split_brain_victim(roles, last) \
            if views[0].forwarding and views[1].forwarding else None
        rebuilds = (st0.pair or {}).get("split_brain_rebuilds", 0)
        if views[0].forwarding and views[1].forwarding \
                and sorted(roles) == ["backup", "master"]:
            rebuilds = 0  # healed: one master, one backup
        error = None
        # Acted on when seen at two judgements in a row: two status calls a few ms apart
        # can straddle a takeover, a second look cannot.
        if victim is not None and (st0.pair or {}).get("split_brain") \
                and rebuilds >= SPLIT_BRAIN_REBUILDS:
            error = (f"split brain after {rebuilds} rebuilds: the members cannot hear "
                     "each other (VRRP between them blocked?); not rebuilt again")
            if (st0.pair or {}).get("error") != error:
                LOG.error("router %s: %s", ref.id, error)
        elif victim is not None and (st0.pair or {}).get("split_brain"):
            LOG.error("router %s: split brain, both members report master: restarting "
                      "member %d (the pair's last sole master was %s)", ref.id, victim, last)
            target = st0 if victim == 0 else st1
            assert target is not None  # both forward
            if not target.force_rebuild:
                rebuilds += 1
            target.force_rebuild = target.split_brain_rebuild = True
        elif victim is not None:
            LOG.warning("router %s: both members report master: looking again", ref.id)
        master = router_ha.sole_master(roles)
        if warning and (st0.pair or {}).get("warning") != warning:
            LOG.warning("router %s: %s", ref.id, warning)
        if error is not None:
            state = "ERROR"
        st0.pair = {"state": state, "warning": warning, "error": error,
                    "split_brain_rebuilds": rebuilds,
                    "master": master if master is not None else last,
                    "split_brain": victim is not None,
                    "members": [{"member": i, "instance_id": (s.context.instance_id
                                                              if s else None),
                                 "management_address": s.context.mgmt_address if s else None,
                                 "role": v.role, "sync": v.sync, "forwarding": v.forwarding,
                                 "host_id": v.host_id,
                                 # why it does not forward (a push refused: its reason)
                                 "last_error": _last_error(s)}
                                for i, (s, v) in enumerate(zip((st0, st1), views,
                                                                strict=True))]}
        last_status = st0.steps[-1].status if st0.steps else None
        # (a failed observation records "unknown": no step, the status stays as it was)
        fallback = Status(last_status).neutron if last_status in set(Status) \
            else (st0.status or "BUILD")
        if error is not None:
            fallback = "ERROR"
        driver = self.executor.drivers.get(ref.kind)
        try:
            if isinstance(driver, RouterDriver):
                driver.report_pair(ref, st0, state, fallback)
        except RemoteError as exc:  # written again by the next pass
            LOG.warning("router %s: status write failed: %s", ref.id, exc)

    def _run_one(self, ref: ResourceRef, full: bool = True) -> Outcome:
        st = self.state(ref)
        started = time.monotonic()
        try:
            observed, decision, resumed = self._decide(ref, full)
        except RemoteError as exc:
            # Observation failed (an API is down): note it, back off, look again.
            LOG.warning("router %s: cannot observe: %s", ref.id, exc)
            st.healthy = False
            st.steps.append(StepRecord(self.clock(), "CalcAction", "unknown",
                                       "observation failed", "retry", 0.0, str(exc)))
            self.executor.tally.step("CalcAction", "retry", False, time.monotonic() - started)
            return Outcome(OutcomeKind.RETRY)
        if observed.debug:
            st.stale = True
            st.steps.append(StepRecord(self.clock(), str(decision.step), str(decision.status),
                                       decision.reason, str(decision.outcome.kind), 0.0))
            return decision.outcome
        if decision.rebuild is not None and self.gate is not None:
            instance = observed.instance.id if observed.instance is not None else None
            # One appliance's replacement is one rebuild of the budget: deciding it again
            # (its delete failed, or its instance turned ERROR meanwhile) is not another.
            again = instance is not None and instance == st.rebuild_admitted
            decision = self.gate(observed, decision, not again)
            if decision.rebuild is not None:
                st.rebuild_admitted = instance
        elif decision.step is Step.ALIVE:
            st.rebuild_admitted = None  # it recovered: a later failure is a new rebuild
        outcome = self.execute(ref, decision)
        if resumed and outcome.kind is OutcomeKind.REQUEUE:
            # Checked on what was pushed before the stop: look at everything soon.
            soon = follow_up(self.settings.health_check_period, self.jitter())
            outcome = Outcome(OutcomeKind.REQUEUE, min(outcome.after, soon))
        return outcome

    def execute(self, ref: ResourceRef, decision: Decision) -> Outcome:
        """Perform the decided step and persist what it changed (``astara-debug-router``
        steps through this too, so its passes are remembered like the orchestrator's)."""
        st = self.state(ref)
        before = (st.memory, st.status)
        outcome = self.executor.execute(decision, ref, st, self.clock())
        if st.fenced:
            return outcome  # not ours to act on: its row is the owner's to write
        if outcome.kind == "terminal":
            self.states.pop(ref.id, None)
            if self.store:
                self.store.forget(ref.id)
        elif self.store is not None and not router_ha.split(ref.id)[1]:
            # (an HA router's member 1 is not stored: a restart finds it by name)
            resume = self._resume(st)
            if (st.memory, st.status) != before or resume != st.saved_resume:
                self.store.save(ref.id, ref.tenant_id, st.memory, st.status, resume)
                st.saved_resume = resume
            st.saved_from = st.context if st.healthy else None
        return outcome

    @staticmethod
    def _resume(st: RouterState) -> Resume | None:
        """What a restart may resume from: only a healthy router's context (taken again
        only after a new full look: a health check keeps the context it checked)."""
        if not st.healthy:
            return None
        if st.context is st.saved_from:
            return st.saved_resume
        return Resume.of(st.context)

    def release(self, ref: ResourceRef) -> None:
        """Another member owns ``ref`` now: forget its state machine here (an HA
        router's member 1 too: its lease is the router's; kept, its old look would be
        the first one taken if the ring gave the router back)."""
        self._booted.pop(ref, None)
        ids = [ref.id]
        if ref.kind == "router" and not router_ha.split(ref.id)[1]:
            ids.append(router_ha.member_id(ref.id))
        for rid in ids:
            self.states.pop(rid, None)
            self._member1_unknown.discard(rid)
            self._preloaded.pop(rid, None)

    def rebuild(self, ref: ResourceRef) -> None:
        """Operator's rebuild (also forces a router out of ERROR, and an HA pair out of
        its split-brain ERROR: its count starts again)."""
        st = self.state(ref)
        st.force_rebuild, st.split_brain_rebuild = True, False
        if st.pair is not None:
            st.pair["split_brain_rebuilds"] = 0

    def routers_serving_floating_ip(self, address: str | None, tenant_id: str) -> list[str]:
        return sorted(rid for rid, st in self.states.items()
                      if st.tenant_id == tenant_id and address in st.context.floating_ips)
