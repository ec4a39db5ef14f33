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
    lock = threading.Lock()
    running: dict[str, int] = {}
    overlap = {"same": 0, "max_parallel": 0}
    calls = []

    def run(ref, full):
        with lock:
            running[ref.id] = running.get(ref.id, 0) + 1
            if running[ref.id] > 1:
                overlap["same"] += 1
            overlap["max_parallel"] = max(overlap["max_parallel"], sum(running.values()))
        time.sleep(0.05)
        with lock:
            running[ref.id] -= 1
            calls.append((ref.id, full))
        return Outcome(OutcomeKind.DONE)

    w = run_worker(run, [lambda w: w.submit(A), lambda w: w.submit(B),
                         lambda w: w.submit(A), lambda w: w.submit(A)],
                   until=lambda w: w.passes >= 2 and not w.queue.processing)
    assert overlap["same"] == 0
    assert overlap["max_parallel"] == 2
    assert sorted(c[0] for c in calls) in (["a", "b"], ["a", "a", "b"])
    assert all(full for _, full in calls)
    del w


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
