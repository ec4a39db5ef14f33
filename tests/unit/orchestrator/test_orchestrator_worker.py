"""The worker: one pass per key at a time, many keys at once, failures retried."""

from __future__ import annotations

import asyncio
import threading
import time

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Outcome, OutcomeKind
from astara.orchestrator.scheduler import shard_for
from astara.orchestrator.worker.pool import Worker
from astara.orchestrator.worker.queue import DirtyQueue

A = ResourceRef("router", "a", "t1")
B = ResourceRef("router", "b", "t1")
C = ResourceRef("router", "c", "t1")


def run_worker(run, actions, concurrency=4, until=lambda w: False, timeout=5.0):
    async def main():
        w = Worker(run, concurrency=concurrency,
                   queue=DirtyQueue(base_delay=0.01, max_delay=0.05))
        stop = asyncio.Event()
        server = asyncio.ensure_future(w.serve(stop))
        for action in actions:
            action(w)
        deadline = time.monotonic() + timeout
        while not until(w) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await server
        return w

    return asyncio.run(main())


def test_same_key_never_runs_concurrently_but_different_keys_do():
    """A and B run at once (both held); A submitted twice meanwhile runs once more,
    after A: with B released, the free slot goes to C, submitted after A's
    resubmissions, so A was not ready to run again (two slots: no timing involved)."""
    lock = threading.Lock()
    running: dict[str, int] = {}
    overlap = {"same": 0, "max_parallel": 0}
    entered: list[str] = []
    calls = []
    release = {"a": threading.Event(), "b": threading.Event()}

    def run(ref, full):
        with lock:
            first = ref.id not in entered
            entered.append(ref.id)
            running[ref.id] = running.get(ref.id, 0) + 1
            if running[ref.id] > 1:
                overlap["same"] += 1
            overlap["max_parallel"] = max(overlap["max_parallel"], sum(running.values()))
        if first and ref.id in release:
            release[ref.id].wait(10)
        with lock:
            running[ref.id] -= 1
            calls.append((ref.id, full))
        return Outcome(OutcomeKind.DONE)

    async def until(check, what: str) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {entered}"
            await asyncio.sleep(0.01)

    async def main():
        w = Worker(run, concurrency=2, queue=DirtyQueue(base_delay=0.01, max_delay=0.05))
        stop = asyncio.Event()
        server = asyncio.ensure_future(w.serve(stop))
        try:
            w.submit(A)
            w.submit(B)
            await until(lambda: sorted(entered) == ["a", "b"], "A and B to run at once")
            w.submit(A)
            w.submit(A)
            release["b"].set()
            w.submit(C)
            await until(lambda: "c" in entered, "C to take B's slot")
            assert entered.count("a") == 1  # A did not run again while it was running
            release["a"].set()
            await until(lambda: len(calls) == 4 and not w.queue.processing
                        and len(w.queue) == 0, "A to run once more")
        finally:
            for event in release.values():
                event.set()
            stop.set()
            await server

    asyncio.run(main())
    assert overlap["same"] == 0
    assert overlap["max_parallel"] == 2
    assert entered == ["a", "b", "c", "a"] or entered == ["b", "a", "c", "a"]
    assert all(full for _, full in calls)


def test_exception_is_retried_with_a_full_look():
    calls = []

    def run(ref, full):
        calls.append(full)
        if len(calls) < 3:
            raise RuntimeError("boom")
        return Outcome(OutcomeKind.DONE)

    run_worker(run, [lambda w: w.submit(A)], until=lambda w: len(calls) >= 3)
    assert calls == [True, True, True]


def test_requeue_comes_back_as_a_health_check():
    calls = []

    def run(ref, full):
        calls.append(full)
        return Outcome(OutcomeKind.REQUEUE, 0.01) if len(calls) == 1 else Outcome(
            OutcomeKind.DONE)

    run_worker(run, [lambda w: w.submit(A)], until=lambda w: len(calls) >= 2)
    assert calls == [True, False]


def test_shards_are_stable_and_spread():
    assert shard_for("tenant-x", 4) == shard_for("tenant-x", 4)
    assert len({shard_for(f"t{i}", 4) for i in range(100)}) == 4
