"""The sweep of HA member 1s left behind, as the worker process and the parent wire it:
every worker looks once (even with no routers), a failed look is retried at the next
resync, worker 0 removes the gone ones without holding up the first passes."""

from __future__ import annotations

import asyncio
import queue
import threading
from types import SimpleNamespace

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Outcome, OutcomeKind
from astara.orchestrator.worker import process

A = ResourceRef("router", "r-a", "t-a")


class Stub:
    """What ``_serve`` uses of a Runtime: passes, and the reconciler's two sweep halves."""

    def __init__(self, found: list):
        self.found = list(found)  # find_member1's answers, in order
        self.finds: list[list[ResourceRef]] = []
        self.removed: list[dict] = []
        self.passes: list[ResourceRef] = []
        self.event = threading.Event()
        self.hold_removal = threading.Event()
        self.hold_find = threading.Event()
        self.hold_find.set()
        self.released: list[ResourceRef] = []
        self.reconciler = SimpleNamespace(
            executor=SimpleNamespace(tally=None), states={},
            find_member1=self._find, remove_member1=self._remove)

    def _find(self, mine):
        self.finds.append(list(mine))
        self.event.set()
        self.hold_find.wait(10)  # a slow look: messages come meanwhile
        return self.found.pop(0)

    def _remove(self, gone):
        self.hold_removal.wait(10)  # a slow removal must not hold up the passes
        self.removed.append(gone)
        self.event.set()
        return True

    def run(self, ref, full):
        self.passes.append(ref)
        self.event.set()
        return Outcome(OutcomeKind.DONE)

    def release(self, ref):  # Worker's on_released, and the runtime's on a release
        self.released.append(ref)
        self.event.set()

    def has_touched(self):
        return False

    def take_touched(self):
        return set(), set()


def serve(index: int, rt: Stub, script) -> None:
    """Run ``_serve`` while ``script(inbox, until)`` sends messages; ``until(cond)``
    waits (on the stub's event, not a sleep) for ``cond()``."""
    inbox: queue.Queue = queue.Queue()

    def until(cond) -> None:
        for _ in range(200):
            if cond():
                return
            rt.event.wait(0.05)
            rt.event.clear()
        raise AssertionError("condition not reached")

    async def main() -> None:
        task = asyncio.ensure_future(process._serve(index, rt, inbox, queue.Queue(), 2))
        await asyncio.to_thread(script, inbox, until)
        inbox.put(("stop",))
        await task

    asyncio.run(main())


def test_worker_0_with_no_routers_still_removes_gone_members():
    rt = Stub(found=[{"r-gone.ha1": ["s1"]}])
    rt.hold_removal.set()
    serve(0, rt, lambda inbox, until: (inbox.put(("submit_many", [], False)),
                                       until(lambda: rt.removed)))
    assert rt.finds == [[]] and rt.removed == [{"r-gone.ha1": ["s1"]}]


def test_other_workers_look_but_do_not_remove():
    rt = Stub(found=[{"r-gone.ha1": ["s1"]}])
    rt.hold_removal.set()
    serve(1, rt, lambda inbox, until: (inbox.put(("submit_many", [tuple(A.__dict__.values())],
                                                  False)), until(lambda: rt.passes)))
    assert rt.finds == [[A]] and rt.removed == []


def test_the_first_passes_do_not_wait_for_the_removal():
    rt = Stub(found=[{"r-gone.ha1": ["s1"]}])

    def script(inbox, until):
        inbox.put(("submit_many", [tuple(A.__dict__.values())], False))
        until(lambda: rt.passes)  # while the removal is still held
        assert rt.removed == []
        rt.hold_removal.set()
        until(lambda: rt.removed)

    serve(0, rt, script)
    assert rt.passes[0] == A


def test_a_failed_look_is_retried_at_the_next_resync():
    rt = Stub(found=[None, {}])
    rt.hold_removal.set()

    def script(inbox, until):
        inbox.put(("submit_many", [tuple(A.__dict__.values())], False))
        until(lambda: rt.passes)  # submitted after the failed look
        inbox.put(("submit_many", [tuple(A.__dict__.values())], True))
        until(lambda: len(rt.finds) == 2)

    serve(0, rt, script)
    assert rt.finds == [[A], [A]]


def test_a_router_released_while_the_first_look_runs_gets_no_pass():
    """The cluster gives a router away while the first resync's look runs: its held-back
    first pass must not come after the release (a state machine on the wrong member)."""
    b, c = ResourceRef("router", "r-b", "t-b"), ResourceRef("router", "r-c", "t-c")
    rt = Stub(found=[{}])
    rt.hold_find.clear()

    def script(inbox, until):
        inbox.put(("submit_many", [tuple(A.__dict__.values()), tuple(b.__dict__.values())],
                   False))
        until(lambda: rt.finds)  # the look is running
        inbox.put(("release", tuple(A.__dict__.values())))
        until(lambda: A in rt.released)
        rt.hold_find.set()
        until(lambda: b in rt.passes)
        inbox.put(("submit", tuple(c.__dict__.values()), True))  # queued after A would be
        until(lambda: c in rt.passes)

    serve(1, rt, script)
    assert A not in rt.passes and rt.passes[0] == b


class _Inbox:
    def __init__(self):
        self.got: list[tuple] = []

    def put(self, msg: tuple) -> None:
        self.got.append(msg)


def _parent(routers: list[ResourceRef], workers: int):
    from astara.orchestrator.clients.fakes import FakeNetwork
    from astara.orchestrator.service import Orchestrator, WorkerHandle

    network = FakeNetwork()
    orch = Orchestrator.__new__(Orchestrator)  # no database, no processes: the messages
    orch.network = network  # type: ignore[assignment]
    orch.drivers = {"router": SimpleNamespace(resources=lambda: list(routers))}
    orch.known, orch._lock, orch.ownership = {}, threading.Lock(), None
    orch._handoff = threading.Lock()
    orch.workers = [WorkerHandle(i) for i in range(workers)]
    for w in orch.workers:
        w.inbox = _Inbox()  # type: ignore[assignment]
    return orch


def test_the_start_up_resync_reaches_every_worker_even_with_no_routers():
    orch = _parent([], 3)
    assert orch.resync(full=False) == 0
    assert [w.inbox.got for w in orch.workers] == [[("submit_many", [], False)]] * 3


def test_routers_only_in_another_shard_still_reach_worker_0():
    from astara.orchestrator.scheduler import shard_for

    tenant = next(f"t{i}" for i in range(100) if shard_for(f"t{i}", 2) == 1)
    ref = ResourceRef("router", "r1", tenant)
    orch = _parent([ref], 2)
    orch.resync(full=False)
    assert orch.workers[0].inbox.got == [("submit_many", [], False)]
    assert orch.workers[1].inbox.got == [("submit_many", [tuple(ref.__dict__.values())],
                                          False)]
