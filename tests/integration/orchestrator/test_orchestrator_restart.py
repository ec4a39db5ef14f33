"""A restarted orchestrator worker over the real state store and the in-tree fakes.

N healthy routers are converged by one reconciler; a new reconciler (the restarted
worker: nothing in memory) reads the store in one query and is handed every router
the network API lists, as start-up does (``full=False``). Every router must be Alive
after one status call each, with nothing pushed, booted or written.
"""

from __future__ import annotations

import copy

import pytest
from tests.integration.conftest import fresh_database
from tests.orchestrator_world import router_model

from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.state_store import RouterStateStore

N = 40


def model(router_id: str) -> RouterModel:
    return router_model(router_id=router_id)


@pytest.fixture
def store(tmp_path):
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine)
    yield RouterStateStore(db)
    db.dispose()


class World:
    def __init__(self, store: RouterStateStore):
        self.store = store
        self.network = FakeNetwork()
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        for i in range(N):
            rid = f"{i:08x}-0000-4000-8000-000000000000"
            self.network.models[rid] = model(rid)

    def reconciler(self) -> Reconciler:
        return Reconciler(Observer(self.network, self.compute, self.appliances,
                                   management_defaults()),
                          Executor(self.network, self.compute, self.appliances),
                          plan_defaults(), store=self.store)

    def converge(self, rec: Reconciler, ref: ResourceRef) -> None:
        for _ in range(10):
            rec.run(ref)
            port = self.network.mgmt_ports.get(ref.id)
            if port is not None:
                ports = self.network.models[ref.id].ports
                if not any(p["id"] == port["id"] for p in ports):
                    ports.append(dict(port, device_owner="network:astara_management",
                                      network_id="mgmt"))
                self.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = ref.id
            if rec.state(ref).steps[-1].step == "Alive":
                return
        raise AssertionError(rec.state(ref).steps)

    def clear_calls(self) -> None:
        for fake in (self.network, self.compute, self.appliances):
            fake.calls.clear()

    def restart(self, full: bool = False) -> Reconciler:
        rec = self.reconciler()
        rec.preload(self.store.load_all())
        for ref in self.network.routers():
            rec.run(ref, full)
        return rec


def test_a_restart_with_healthy_routers_pushes_nothing_and_sees_each_alive(store, monkeypatch):
    w = World(store)
    first = w.reconciler()
    for ref in w.network.routers():
        w.converge(first, ref)
    w.clear_calls()
    reads, writes = [], []
    monkeypatch.setattr(store, "load", lambda rid: reads.append(rid))
    real_save = store.save
    monkeypatch.setattr(store, "save", lambda *a, **k: writes.append(a) or real_save(*a, **k))
    rec = w.restart()
    assert [rec.state(ref).steps[-1].step for ref in w.network.routers()] == ["Alive"] * N
    assert not [c for c in w.appliances.calls if c[0] == "push"]
    assert [c[0] for c in w.appliances.calls] == ["status"] * N
    assert w.network.calls == [("routers",)] * 2  # the restart's list, and ours above
    assert w.compute.calls == [] and reads == [] and writes == []
    assert all(rec.state(ref).healthy for ref in w.network.routers())


def test_after_a_restart_a_changed_router_is_still_pushed(store):
    w = World(store)
    first = w.reconciler()
    refs = w.network.routers()
    for ref in refs:
        w.converge(first, ref)
    changed = refs[7]
    fips = w.network.models[changed.id].floating_ips
    fips[0] = dict(copy.deepcopy(fips[0]), fixed_ip_address="10.0.0.154")
    rec = w.restart()  # the first pass trusts what was pushed: nothing to push yet
    w.clear_calls()
    rec.run(changed, True)  # the router's event (the bus replays it): a full look
    pushes = [c for c in w.appliances.calls if c[0] == "push"]
    assert len(pushes) == 1 and rec.state(changed).steps[-1].step == "ConfigureVM"
    # Its next look sees the change applied, and a second restart resumes from it.
    rec.run(changed, False)
    assert rec.state(changed).steps[-1].step == "Alive"
    assert store.load(changed.id)[2].desired_digest == pushes[0][2]
    w.clear_calls()
    again = w.restart()
    assert again.state(changed).steps[-1].step == "Alive"
    assert not [c for c in w.appliances.calls if c[0] == "push"]


def test_a_change_missed_at_the_stop_is_pushed_within_seconds_of_a_restart(store):
    """Its event was taken from the bus before the stop but never acted on: not replayed.
    The resumed check passes on what was pushed; the full look must follow in seconds."""
    w = World(store)
    first = w.reconciler()
    refs = w.network.routers()
    for ref in refs:
        w.converge(first, ref)
    changed = refs[3]
    fips = w.network.models[changed.id].floating_ips
    fips[0] = dict(copy.deepcopy(fips[0]), fixed_ip_address="10.0.0.154")
    rec = w.reconciler()
    rec.preload(store.load_all())
    w.clear_calls()
    outcomes = [rec.run(ref, False) for ref in refs]
    assert not [c for c in w.appliances.calls if c[0] == "push"]  # the restart pushes nothing
    assert all(rec.state(ref).healthy for ref in refs)
    period = plan_defaults().health_check_period
    afters = [o.after for o in outcomes]
    assert all(o.kind == "requeue" for o in outcomes)
    assert max(afters) <= min(period, 10) and min(afters) > 0
    assert len({round(a, 3) for a in afters}) > 1  # spread, not all at once
    rec.run(changed, False)  # as the worker requeues it: not marked full
    pushes = [c for c in w.appliances.calls if c[0] == "push"]
    assert len(pushes) == 1 and rec.state(changed).steps[-1].step == "ConfigureVM"
    # Unchanged routers' follow-up looks push nothing, and the next looks are a period away.
    w.clear_calls()
    later = [rec.run(ref, False) for ref in refs if ref != changed]
    assert not [c for c in w.appliances.calls if c[0] == "push"]
    assert all(o.after == period for o in later)


def test_a_restarted_worker_preloads_only_its_shard_and_drops_what_it_is_never_handed(
        store, monkeypatch):
    w = World(store)
    first = w.reconciler()
    refs = w.network.routers()
    for ref in refs:
        w.converge(first, ref)
    tenants = {ref.tenant_id for ref in refs}
    assert store.load_all(lambda tenant: tenant not in tenants) == {}
    assert len(store.load_all(lambda tenant: tenant in tenants)) == N
    clock = [5000.0]
    rec = Reconciler(Observer(w.network, w.compute, w.appliances, management_defaults()),
                     Executor(w.network, w.compute, w.appliances), plan_defaults(),
                     clock=lambda: clock[0], store=store)
    rec.preload(store.load_all(), keep=60)
    reads: list[str] = []
    real_load = store.load
    monkeypatch.setattr(store, "load", lambda rid: reads.append(rid) or real_load(rid))
    rec.run(refs[0], False)
    assert reads == [] and len(rec._preloaded) == N - 1
    clock[0] += 61  # the resync is long over: what is left was never asked for
    rec.run(refs[1], False)
    assert reads == [refs[1].id] and rec._preloaded == {}
    assert rec.state(refs[1]).steps[-1].step == "Alive"  # from its own row, as resumed
