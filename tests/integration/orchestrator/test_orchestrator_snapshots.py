"""The parent's view of the workers' reports: a restarted worker's first report prunes
the router views it lacks, never the keys the parent owns (``Orchestrator.known``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from tests.support import wait_for

from astara.common.settings import defaults
from astara.orchestrator.keys import FloatingIPHint, ResourceRef
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.service import Orchestrator

A = ResourceRef("router", "a" * 8 + "-0000-4000-8000-000000000000", "t1")
B = ResourceRef("router", "b" * 8 + "-0000-4000-8000-000000000000", "t1")


@dataclass
class FakeProc:
    pid: int


def summary(ref: ResourceRef, fips: list[str]) -> dict:
    return {"id": ref.id, "tenant_id": ref.tenant_id, "floating_ips": fips}


@pytest.fixture
def orch(tmp_path):
    o = Orchestrator(defaults(tmp_path), orch_defaults())
    o.workers = o.workers[:1]
    o.workers[0].proc = FakeProc(100)  # type: ignore[assignment]
    sent: list[tuple] = []
    o._send = lambda ref, msg: sent.append(msg)  # type: ignore[method-assign]
    t = threading.Thread(target=o._collect, daemon=True)
    t.start()
    yield o
    o._stop.set()
    t.join(10)
    o.db.dispose()


def report(o: Orchestrator, states: dict, gone: list[str] | None, pid: int,
           released: tuple[str, ...] = ()) -> None:
    o._results.put(("snapshot", 0, states, gone, {"pid": pid}, list(released)))


def test_a_restarted_workers_first_report_keeps_the_routers_it_was_not_handed_yet(orch):
    o = orch
    o.submit(A)
    o.submit(B)
    report(o, {A.id: summary(A, []), B.id: summary(B, ["203.0.113.7"])}, None, 100)
    wait_for(lambda: B.id in o.routers)
    assert o._resolve(FloatingIPHint("f1", "203.0.113.7", "t1")) == [B]
    # The worker dies and is restarted; its first report holds only A so far.
    o.workers[0].proc = FakeProc(101)  # type: ignore[assignment]
    report(o, {A.id: summary(A, [])}, None, 101)
    wait_for(lambda: B.id not in o.routers)
    assert set(o.known) == {A.id, B.id}  # B is still owned: a second crash requeues it
    # B is handed again and reported: a floating IP disassociation reaches it.
    report(o, {B.id: summary(B, ["203.0.113.7"])}, [], 101)
    wait_for(lambda: B.id in o.routers)
    assert o._resolve(FloatingIPHint("f1", "203.0.113.7", "t1")) == [B]
    # A router dropped after a terminal pass is gone for the parent too.
    report(o, {}, [A.id], 101)
    wait_for(lambda: A.id not in o.routers)
    assert set(o.known) == {B.id}


class Holding:
    """A cluster member's ownership that holds every router (given back already)."""

    def owns(self, resource_id: str) -> bool:
        return True


def test_a_router_released_and_given_back_before_the_report_keeps_its_key(orch):
    # The ring took A away and gave it back within a report's time: the report that it
    # is no longer held (released) comes when this member holds its lease again. Read
    # as a terminal drop, the key was forgotten: the next round released A for good and
    # no member served it.
    o = orch
    o.ownership = Holding()  # type: ignore[assignment]
    o.submit(A)
    report(o, {A.id: summary(A, [])}, None, 100)
    wait_for(lambda: A.id in o.routers)
    report(o, {}, [A.id], 100, released=(A.id,))
    wait_for(lambda: A.id not in o.routers)  # the view goes: another member's, for now
    assert set(o.known) == {A.id}
    # Dropped after a terminal pass while held: forgotten.
    report(o, {}, [A.id], 100)
    wait_for(lambda: A.id not in o.known)
