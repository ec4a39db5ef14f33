"""The fence in the executor, and a released key in the worker.

A member refused by the fence performs nothing (no boot, push, delete or status write)
and stores nothing; a released key leaves its worker's queue, and a pass running for it
when released is not followed by another (no state machine left behind).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.orchestrator.clients.base import Fenced
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.model import Outcome, OutcomeKind
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.worker.pool import Worker
from astara.orchestrator.worker.queue import DirtyQueue
from astara.wire.tenure import Tenure


class Store:
    def __init__(self):
        self.rows, self.saves = {}, 0

    def load(self, rid):
        return self.rows.get(rid)

    def save(self, rid, tenant, memory, status, resume=None):
        self.saves += 1
        self.rows[rid] = (memory, status, resume)

    def forget(self, rid):
        self.rows.pop(rid, None)


def world(fence):
    network = FakeNetwork(models={RID: router_model()})
    compute = FakeCompute()
    appliances = FakeAppliances(compute)
    store = Store()
    rec = Reconciler(Observer(network, compute, appliances, management_defaults()),
                     Executor(network, compute, appliances, fence=fence),
                     replace(plan_defaults(), health_check_period=60), store=store)
    return network, compute, appliances, store, rec


def test_a_fenced_member_does_nothing_and_stores_nothing():
    why = {"now": "lease held by orch-b/7 (epoch 4)"}
    network, compute, appliances, store, rec = world(lambda ref: why["now"])
    out = rec.run(REF, True)
    assert out.kind is OutcomeKind.RETRY
    assert not [c for c in compute.calls if c[0] in ("boot", "delete")]
    assert not [c for c in appliances.calls if c[0] == "push"]
    assert not [c for c in network.calls if c[0].startswith("set_")]
    assert network.mgmt_ports == {} and store.saves == 0
    last = rec.state(REF).steps[-1]
    assert (last.step, last.error) == ("CreateVM", "fenced: lease held by orch-b/7 (epoch 4)")
    why["now"] = None  # the lease is ours again: the same pass boots
    rec.run(REF, True)
    assert [c[0] for c in compute.calls if c[0] == "boot"] == ["boot"]
    assert store.saves == 1


def test_a_fenced_health_check_writes_no_status_either():
    why = {"now": None}
    network, compute, appliances, store, rec = world(lambda ref: why["now"])
    for _ in range(10):
        rec.run(REF, True)
        sync_mgmt(network, appliances)
        if rec.state(REF).steps[-1].step == "Alive":
            break
    network.calls.clear()
    appliances.calls.clear()
    saves = store.saves
    why["now"] = "lease (epoch 1) ends in 0.0 s"
    network.statuses[RID] = "DOWN"  # Alive would write ACTIVE back: not while fenced
    rec.state(REF).status = None
    rec.run(REF, True)
    assert not [c for c in network.calls if c[0].startswith("set_")]
    assert store.saves == saves and network.statuses[RID] == "DOWN"


def test_a_released_key_leaves_the_queue_and_a_running_pass_is_not_requeued():
    a, b = REF, replace(REF, id="b" * 8)
    entered, go = threading.Event(), threading.Event()
    passes: list[str] = []
    dropped: list = []  # a pass running at the release may leave state: dropped after

    def run(ref, full):
        passes.append(ref.id)
        if ref == a:
            entered.set()
            go.wait(5)
        return Outcome(OutcomeKind.REQUEUE, 0.01)

    async def main():
        w = Worker(run, concurrency=2, queue=DirtyQueue(base_delay=0.01, max_delay=0.05),
                   on_released=dropped.append)
        stop = asyncio.Event()
        server = asyncio.ensure_future(w.serve(stop))
        w.submit(a)
        w.submit(b, delay=30)
        await asyncio.to_thread(entered.wait, 5)
        w.submit(a)  # dirty while running: would run again right after
        w.release(a)
        w.release(b)
        go.set()
        while a in w.queue.processing:  # its settling runs before it leaves
            await asyncio.sleep(0.01)
        stop.set()
        await server
        return w

    w = asyncio.run(main())
    assert passes == [RID] and dropped == [a]
    assert len(w.queue) == 0 and a not in w.queue and b not in w.queue


def test_a_push_carries_the_lease_epoch_and_an_appliance_refusal_stops_acting():
    held = {"now": Tenure(3, "orch-a/1/x")}
    network, compute, appliances, store, rec = world(lambda ref: held["now"])
    rec.run(REF, True)  # boots
    sync_mgmt(network, appliances)
    (instance,) = compute.servers
    # A newer owner pushed while this member was paused past its lease.
    appliances.tenures[instance] = Tenure(4, "orch-b/2/y")
    for _ in range(10):  # the boot is waited for, then the push
        saves = store.saves
        out = rec.run(REF, True)
        sync_mgmt(network, appliances)
        if [c for c in appliances.calls if c[0] == "push"]:
            break
    assert out.kind is OutcomeKind.RETRY and rec.state(REF).fenced
    assert store.saves == saves and not appliances.applied
    last = rec.state(REF).steps[-1]
    assert last.step == "ConfigureVM" and "a newer owner exists" in last.error
    held["now"] = Tenure(5, "orch-a/1/x")  # the lease came back with a newer epoch
    for _ in range(3):
        rec.run(REF, True)
    assert appliances.applied and appliances.tenures[instance] == Tenure(5, "orch-a/1/x")


def cas_world(held):
    """A world whose executor may advance its lease like ``Leases.advance``: only
    while the row still names it at the epoch it pushed."""
    def advance(ref, pushed, accepted):
        if held["now"] != pushed:
            return None
        held["now"] = Tenure(accepted + 1, pushed.owner)
        return held["now"]

    network = FakeNetwork(models={RID: router_model()})
    compute = FakeCompute()
    appliances = FakeAppliances(compute)
    store = Store()
    rec = Reconciler(Observer(network, compute, appliances, management_defaults()),
                     Executor(network, compute, appliances,
                              fence=lambda ref: held["now"], advance=advance),
                     replace(plan_defaults(), health_check_period=60), store=store)
    return network, compute, appliances, rec


def test_epochs_gone_backwards_are_raised_past_the_appliance_and_the_push_lands():
    # The database was restored: our live lease says epoch 1, the appliance holds 7.
    held = {"now": Tenure(1, "orch-a/1/x")}
    network, compute, appliances, rec = cas_world(held)
    rec.run(REF, True)  # boots
    sync_mgmt(network, appliances)
    (instance,) = compute.servers
    appliances.tenures[instance] = Tenure(7, "orch-a/0/old")
    for _ in range(10):  # the boot is waited for, then the push
        rec.run(REF, True)
        sync_mgmt(network, appliances)
        if appliances.applied:
            break
    assert appliances.applied and not rec.state(REF).fenced
    assert held["now"] == Tenure(8, "orch-a/1/x")
    assert appliances.tenures[instance] == Tenure(8, "orch-a/1/x")
    pushes = [c for c in appliances.calls if c[0] == "push"]
    assert len(pushes) == 2  # refused once, then again under epoch 8


def test_an_appliance_claiming_a_huge_epoch_is_not_followed(caplog):
    held = {"now": Tenure(1, "orch-a/1/x")}
    network, compute, appliances, rec = cas_world(held)
    rec.run(REF, True)
    sync_mgmt(network, appliances)
    (instance,) = compute.servers
    appliances.tenures[instance] = Tenure(2**31 - 2, "orch-a/0/old")
    for _ in range(10):
        rec.run(REF, True)
        sync_mgmt(network, appliances)
        if [c for c in appliances.calls if c[0] == "push"]:
            break
    assert rec.state(REF).fenced and not appliances.applied
    assert held["now"] == Tenure(1, "orch-a/1/x")  # our epoch did not move
    assert any(r.levelname == "ERROR" and instance in r.getMessage()
               and "not followed" in r.getMessage() for r in caplog.records)


def test_a_genuine_newer_owner_is_not_overtaken():
    held = {"now": Tenure(3, "orch-a/1/x")}
    network, compute, appliances, rec = cas_world(held)
    rec.run(REF, True)
    sync_mgmt(network, appliances)
    (instance,) = compute.servers
    appliances.tenures[instance] = Tenure(4, "orch-b/2/y")

    real = rec.executor.advance

    def moved_on(ref, pushed, accepted):
        held["now"] = "lease held by orch-b/2/y (epoch 4)"  # the row changed hands
        return real(ref, pushed, accepted)

    rec.executor.advance = moved_on
    for _ in range(10):
        rec.run(REF, True)
        sync_mgmt(network, appliances)
        if [c for c in appliances.calls if c[0] == "push"]:
            break
    assert rec.state(REF).fenced and not appliances.applied
    assert len([c for c in appliances.calls if c[0] == "push"]) == 1


def test_an_adopting_member_records_its_epoch_without_a_push_and_a_stale_push_is_refused():
    old = {"now": Tenure(3, "orch-a/1/x")}
    network, compute, appliances, store, rec_a = world(lambda ref: old["now"])
    for _ in range(10):  # boots, waits, pushes
        rec_a.run(REF, True)
        sync_mgmt(network, appliances)
        if appliances.applied:
            break
    (instance,) = compute.servers
    assert appliances.tenures[instance] == Tenure(3, "orch-a/1/x")
    # orch-b takes the lease (epoch 4) and adopts the healthy appliance: no push.
    rec_b = Reconciler(Observer(network, compute, appliances, management_defaults()),
                       Executor(network, compute, appliances,
                                fence=lambda ref: Tenure(4, "orch-b/2/y")),
                       replace(plan_defaults(), health_check_period=60), store=Store())
    pushes = len([c for c in appliances.calls if c[0] == "push"])
    rec_b.run(REF, True)
    assert rec_b.state(REF).healthy
    assert len([c for c in appliances.calls if c[0] == "push"]) == pushes
    assert appliances.tenures[instance] == Tenure(4, "orch-b/2/y")
    assert rec_b.executor.performed["RecordTenure"] == 1
    rec_b.run(REF, True)  # told once per epoch
    assert [c[0] for c in appliances.calls].count("tenure") == 1
    # orch-a, paused with a push decided, resumes under its old epoch: refused.
    with pytest.raises(Fenced) as exc:
        appliances.push(rec_a.state(REF).context.mgmt_address, instance,
                        rec_a.state(REF).context.desired, old["now"])
    assert exc.value.accepted == 4


def test_a_failed_tenure_record_keeps_the_adopted_appliance_healthy_and_is_retried():
    from astara.orchestrator.clients.base import RemoteError
    old = {"now": Tenure(3, "orch-a/1/x")}
    network, compute, appliances, store, rec_a = world(lambda ref: old["now"])
    for _ in range(10):
        rec_a.run(REF, True)
        sync_mgmt(network, appliances)
        if appliances.applied:
            break
    (instance,) = compute.servers
    rec_b = Reconciler(Observer(network, compute, appliances, management_defaults()),
                       Executor(network, compute, appliances,
                                fence=lambda ref: Tenure(4, "orch-b/2/y")),
                       replace(plan_defaults(), health_check_period=60), store=Store())
    real = appliances.record_tenure

    def unsaved(address, appliance_id, tenure):
        appliances.calls.append(("tenure", address, tenure.epoch))
        raise RemoteError(f"appliance {address}: tenure not recorded: 503")

    appliances.record_tenure = unsaved
    out = rec_b.run(REF, True)
    assert out.kind is not OutcomeKind.RETRY and rec_b.state(REF).healthy
    assert rec_b.state(REF).steps[-1].error is None
    assert rec_b.state(REF).told_epoch is None
    assert appliances.tenures[instance] == Tenure(3, "orch-a/1/x")
    appliances.record_tenure = real
    rec_b.run(REF, False)  # the next look (a health check) tells it again
    assert appliances.tenures[instance] == Tenure(4, "orch-b/2/y")
    assert [c[0] for c in appliances.calls].count("tenure") == 2
