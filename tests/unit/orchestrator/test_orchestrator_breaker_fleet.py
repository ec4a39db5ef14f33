"""A fleet of routers on the in-tree fakes, two workers and the parent's judge sharing one
breaker board, on a simulated clock: what the breaker does when many appliances go silent
at once, when one does, and what it lets through."""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
from dataclasses import replace

import httpx
import pytest
from tests.orchestrator_world import router_model

from astara.orchestrator import breaker_board
from astara.orchestrator.breaker_board import BreakerBoard
from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.breaker import BreakerSettings
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.model import OutcomeKind
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.rpc import build_app
from astara.orchestrator.runtime import breaker_gate, check_view, summary
from astara.orchestrator.scheduler import shard_for

BS = BreakerSettings(failure_share=0.5, min_samples=10, budget_share=0.1, budget_min=1,
                     window=300)
PLAN = replace(plan_defaults(), boot_timeout=30, health_check_period=60,
               appliance_failure_threshold=3, appliance_failure_period=10)


def _model(router_id: str, project: str) -> RouterModel:
    return router_model(router_id=router_id, project=project)


class Fleet:
    """``n`` routers, ``workers`` reconcilers (as worker processes would hold them) and
    the parent's once-a-second judge, all on one board and one simulated clock."""

    def __init__(self, n: int, workers: int = 2, stagger: float = 0.0):
        self.now = 1000.0
        self.refs = [ResourceRef("router", f"router-{i:03d}", f"tenant-{i:03d}")
                     for i in range(n)]
        base = _model("x", "x")
        self.network = FakeNetwork(models={
            r.id: replace(copy.deepcopy(base), router={**base.router, "id": r.id,
                                                      "project_id": r.tenant_id})
            for r in self.refs})
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        array = breaker_board.new_array(multiprocessing.get_context("spawn"))
        self.board = BreakerBoard(array, BS)  # the parent's
        self.workers = [
            Reconciler(Observer(self.network, self.compute, self.appliances,
                                management_defaults()),
                       Executor(self.network, self.compute, self.appliances), PLAN,
                       clock=lambda: self.now,
                       gate=breaker_gate(BreakerBoard(array, BS), PLAN))
            for _ in range(workers)]
        self.due = {r: self.now + i * stagger for i, r in enumerate(self.refs)}
        self.full = set(self.refs)
        self.next_judge = self.now
        self.opened_at: float | None = None
        self.deletes_at: list[float] = []

    def owner(self, ref: ResourceRef) -> Reconciler:
        return self.workers[shard_for(ref.tenant_id, len(self.workers))]

    def address(self, ref: ResourceRef) -> str:
        return self.network.mgmt_ports[ref.id]["fixed_ips"][0]["ip_address"]

    def sync_mgmt(self) -> None:
        for rid, port in self.network.mgmt_ports.items():
            ports = self.network.models[rid].ports
            if not any(p["id"] == port["id"] for p in ports):
                ports.append({**port, "device_owner": "network:astara_management",
                              "network_id": "mgmt"})
                self.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = rid

    def judge(self) -> None:
        # What the parent reads of each router's summary (``summary`` is costly to build
        # a thousand times a simulated minute; one test checks it carries the same).
        views = [{"check": check_view(st)} for w in self.workers for st in w.states.values()]
        sus = breaker_board.judge(self.board, breaker_board.checks(views), len(views),
                                  self.now)
        if sus.open and self.opened_at is None:
            self.opened_at = self.now

    def run(self, seconds: float, until=lambda fleet: False) -> None:
        end = self.now + seconds
        while not until(self):
            ref, due = min(self.due.items(), key=lambda kv: kv[1])
            if due > end:
                break
            while self.next_judge <= due:
                self.now = self.next_judge
                self.judge()
                self.next_judge += 1
            self.now = due
            full = ref in self.full
            self.full.discard(ref)
            before = len(self.deletes())
            out = self.owner(ref).run(ref, full)
            self.deletes_at += [self.now] * (len(self.deletes()) - before)
            self.sync_mgmt()
            if out.kind is OutcomeKind.RETRY:
                self.full.add(ref)
            self.due[ref] = self.now + (1.0 if out.kind is OutcomeKind.RETRY
                                        else max(out.after, 0.001))
        self.now = max(self.now, min(end, self.now if until(self) else end))

    def deletes(self) -> list[tuple]:
        return [c for c in self.compute.calls if c[0] == "delete"]

    def last_steps(self) -> dict[str, str | None]:
        return {r.id: (steps[-1].step if (steps := self.owner(r).state(r).steps) else None)
                for r in self.refs}

    def healthy(self) -> bool:
        return set(self.last_steps().values()) == {"Alive"}


def converged(n: int, **kw) -> Fleet:
    fleet = Fleet(n, **kw)
    fleet.run(300, until=Fleet.healthy)
    assert fleet.healthy(), fleet.last_steps()
    assert not fleet.deletes()
    return fleet


def test_a_routers_summary_carries_its_latest_check_for_the_parent():
    fleet = converged(3)
    ref = fleet.refs[0]
    st = fleet.owner(ref).state(ref)
    assert summary(ref.id, st)["check"] == {"at": fleet.now, "ok": True} == check_view(st)
    fleet.appliances.mute.add(fleet.address(ref))
    fleet.due[ref] = fleet.now
    fleet.run(0)
    assert summary(ref.id, st)["check"] == {"at": fleet.now, "ok": False}


class _Orch:
    """What the RPC API reads from the parent for ``/health/``."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    def health_view(self) -> dict:
        return self.fleet.board.view(self.fleet.now)

    def bus_view(self) -> dict:
        return {"transport": "outbox"}


def rpc_health(fleet: Fleet) -> dict:
    """``GET /health/`` on the RPC API, which wants the token like every route."""
    app = build_app(_Orch(fleet), b"t0ken")  # type: ignore[arg-type]

    async def get() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://rpc") as client:
            return (await client.get("/health/"),
                    await client.get("/health/", headers={"X-Auth-Token": "t0ken"}))

    anonymous, r = asyncio.run(get())
    assert anonymous.status_code == 401
    assert r.status_code == 200
    assert r.json()["bus"] == {"transport": "outbox"}
    return r.json()["breaker"]


def test_most_appliances_silent_at_once_rebuild_none_then_the_breaker_closes():
    fleet = converged(20)
    silent = fleet.refs[:16]
    fleet.appliances.mute.update(fleet.address(r) for r in silent)
    fleet.run(600)
    assert not fleet.deletes(), "no appliance may be replaced while we suspect ourselves"
    view = rpc_health(fleet)
    assert (view["state"], view["failed"], view["checked"]) == ("open", 16, 20)
    assert view["held_suspect"] > 0 and view["rebuilds_in_window"] == 0
    assert "own path to the appliances" in view["meaning"]
    held = fleet.owner(silent[0]).state(silent[0]).steps[-1]
    assert held.step == "CalcAction" and "suspecting the orchestrator's own path" in \
        held.reason
    assert set(fleet.network.statuses.values()) == {"ACTIVE"}  # still forwarding
    # Held routers are looked at less and less often (up to the health check period).
    looks = [s.at for s in fleet.owner(silent[0]).state(silent[0]).steps][-3:]
    assert looks[-1] - looks[-2] == pytest.approx(60)

    fleet.appliances.mute.clear()
    fleet.run(120)
    assert rpc_health(fleet)["state"] == "closed"
    assert fleet.healthy() and not fleet.deletes()


def test_spread_out_checks_rebuild_at_most_the_budget_before_the_breaker_opens():
    """Health checks spread over the period: the first silent routers reach their
    rebuild before most have been seen failing; the budget bounds them."""
    fleet = converged(20, stagger=3.0)
    fleet.appliances.mute.update(fleet.address(r) for r in fleet.refs[:16])
    fleet.run(900)
    assert fleet.opened_at is not None
    assert 1 <= len(fleet.deletes()) <= 2  # 10% of 20 routers
    assert all(t <= fleet.opened_at for t in fleet.deletes_at)
    view = fleet.board.view(fleet.now)
    assert view["state"] == "open" and view["budget"] == 2


def test_one_dead_appliance_among_many_healthy_is_still_replaced():
    fleet = converged(20)
    dead = fleet.refs[7]
    old = fleet.owner(dead).state(dead).context.instance_id
    fleet.appliances.mute.add(fleet.address(dead))
    fleet.run(300, until=lambda f: bool(f.deletes()))
    assert fleet.deletes() == [("delete", old)]
    fleet.appliances.mute.clear()  # the new appliance answers
    fleet.run(300, until=Fleet.healthy)
    assert fleet.healthy()
    assert fleet.owner(dead).state(dead).context.instance_id != old
    assert fleet.opened_at is None and rpc_health(fleet)["rebuilds_in_window"] == 1


def test_replacing_one_appliance_again_is_not_charged_twice():
    """A silent appliance's replacement was admitted and its delete asked, but its
    instance came back ERROR and not deleting (as a compute host's reconcile racing the
    delete once left it): replacing it again is the same rebuild. With three routers the
    window's budget is one; charged twice, the second would wait out the window."""
    fleet = converged(3)
    dead = fleet.refs[1]
    old = fleet.owner(dead).state(dead).context.instance_id
    fleet.appliances.mute.add(fleet.address(dead))
    fleet.run(300, until=lambda f: bool(f.deletes()))
    assert fleet.deletes() == [("delete", old)]
    server = fleet.compute.servers[old]
    server.deleting, server.status = False, "ERROR"
    fleet.full.add(dead)
    fleet.due[dead] = fleet.now
    fleet.run(30, until=lambda f: len(f.deletes()) > 1)
    assert fleet.deletes() == [("delete", old), ("delete", old)]
    view = fleet.board.view(fleet.now)
    assert (view["rebuilds_in_window"], view["held_budget"]) == (1, 0)
    # Its replacement dying too within the window is another rebuild: charged, so held.
    fleet.appliances.mute.clear()
    fleet.run(300, until=Fleet.healthy)
    new = fleet.owner(dead).state(dead).context.instance_id
    assert new != old and fleet.owner(dead).state(dead).rebuild_admitted is None
    fleet.appliances.mute.add(fleet.address(dead))
    fleet.run(120)
    assert [d for d in fleet.deletes() if d[1] == new] == []
    assert "rebuild budget spent" in fleet.owner(dead).state(dead).steps[-1].reason


def test_real_failures_are_rationed_and_the_rest_wait_for_room():
    """40% of the appliances really die: the breaker stays closed (not most of them),
    and no more than the budget are replaced within any window."""
    fleet = converged(20)
    dead = fleet.refs[:8]
    fleet.appliances.mute.update(fleet.address(r) for r in dead)
    fleet.run(700)
    assert fleet.opened_at is None
    times = fleet.deletes_at
    assert len(times) >= 4  # it goes on, window after window
    assert all(sum(1 for u in times if 0 <= u - t < BS.window) <= 2 for t in times)
    assert fleet.board.view(fleet.now)["held_budget"] > 0
    waiting = [fleet.owner(r).state(r).steps[-1].reason for r in dead]
    assert any("rebuild budget spent" in reason for reason in waiting)


def test_an_operator_rebuild_and_an_instance_in_error_go_through_an_open_breaker():
    fleet = converged(20)
    fleet.appliances.mute.update(fleet.address(r) for r in fleet.refs[:16])
    fleet.run(120)
    assert fleet.board.view(fleet.now)["state"] == "open"
    [operator, broken] = fleet.refs[0], fleet.refs[1]
    fleet.owner(operator).rebuild(operator)
    fleet.full.add(operator)
    fleet.due[operator] = fleet.now
    broken_instance = fleet.owner(broken).state(broken).context.instance_id
    fleet.compute.servers[broken_instance].status = "ERROR"
    fleet.full.add(broken)
    fleet.due[broken] = fleet.now
    fleet.run(5)
    assert len(fleet.deletes()) == 2
    assert ("delete", broken_instance) in fleet.deletes()


class _SourceNotHere:
    """The fleet's appliances, but the health checks go through the real client bound to
    a management address this host does not hold (``[orchestrator] management_address``
    mistyped, or not added yet)."""

    def __init__(self, fake: FakeAppliances):
        self.fake = fake
        self.real = HttpApplianceAPI(b"k" * 32, port=1, timeout=1.0, source="2001:db8::77")

    def status(self, address: str, appliance_id: str):
        return self.real.status(address, appliance_id)

    def probe(self, address: str, appliance_id: str) -> bool:
        return self.real.probe(address, appliance_id)

    def __getattr__(self, name: str):
        return getattr(self.fake, name)


def test_a_management_address_not_on_the_host_rebuilds_no_appliance(caplog):
    """Three routers, fewer than the breaker's minimum samples: the failed binds are our
    fault, not the appliances', so none is replaced, and one ERROR line says why."""
    fleet = converged(3)
    client = _SourceNotHere(fleet.appliances)
    for w in fleet.workers:
        w.observer.appliance = client
        w.executor.appliance = client
    try:
        fleet.full.update(fleet.refs)
        with caplog.at_level("ERROR", logger="astara.orchestrator.clients.appliance"):
            fleet.run(600)
    finally:
        client.real.close()
    assert not fleet.deletes()
    assert not [c for c in fleet.compute.calls if c[0] == "boot"][3:]  # the first three only
    errors = [r.getMessage() for r in caplog.records
              if r.name == "astara.orchestrator.clients.appliance"]
    assert len(errors) == 1 and "management_address = '2001:db8::77'" in errors[0]
