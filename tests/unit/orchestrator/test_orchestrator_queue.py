"""Dirty-key queue semantics, with an explicit clock."""

from __future__ import annotations

import asyncio

from astara.orchestrator.worker.queue import DirtyQueue


def q(**kw):
    return DirtyQueue(base_delay=1.0, max_delay=8.0, clock=lambda: 0.0, jitter=lambda: 1.0, **kw)


def test_duplicates_collapse():
    queue = q()
    for _ in range(3):
        queue.add("r1", now=0)
    queue.add("r2", now=0)
    assert len(queue) == 2
    assert [queue.pop_ready(0), queue.pop_ready(0), queue.pop_ready(0)] == ["r1", "r2", None]


def test_delayed_key_waits_and_earlier_add_wins():
    queue = q()
    queue.add("r1", delay=10, now=0)
    assert queue.pop_ready(5) is None
    assert queue.next_due() == 10
    queue.add("r1", delay=2, now=0)
    assert queue.next_due() == 2
    queue.add("r1", delay=30, now=0)  # later: ignored
    assert queue.pop_ready(2) == "r1"
    assert queue.pop_ready(100) is None


def test_key_is_never_handled_twice_at_once():
    queue = q()
    queue.add("r1", now=0)
    assert queue.pop_ready(0) == "r1"
    queue.add("r1", now=1)  # changed while being handled
    assert queue.pop_ready(1) is None
    assert "r1" in queue
    queue.done("r1", now=2)
    assert queue.pop_ready(2) == "r1"
    queue.done("r1", now=3)
    assert queue.pop_ready(3) is None and len(queue) == 0


def test_retry_backs_off_exponentially_up_to_the_cap():
    queue = q()
    delays = []
    queue.add("r1", now=0)
    t = 0.0
    for _ in range(6):
        key = queue.pop_ready(t)
        assert key == "r1"
        delays.append(queue.retry(key, now=t))
        t += delays[-1]
    assert delays == [1, 2, 4, 8, 8, 8]
    assert queue.failures("r1") == 6
    queue.forget("r1")
    assert queue.backoff("r1") == 1


def test_jitter_spreads_retries_between_half_and_full_delay():
    low = DirtyQueue(base_delay=4, clock=lambda: 0.0, jitter=lambda: 0.0)
    assert low.backoff("k") == 2


def test_async_get_waits_for_due_time():
    async def main():
        queue = DirtyQueue()
        queue.add("later", delay=0.05)
        queue.add("now")
        first = await queue.get()
        second = await asyncio.wait_for(queue.get(), 5)
        return first, second

    assert asyncio.run(main()) == ("now", "later")


def test_async_get_is_woken_by_add():
    async def main():
        queue = DirtyQueue()
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        queue.add("r9")
        return await asyncio.wait_for(getter, 5)

    assert asyncio.run(main()) == "r9"


def test_idle_only_when_nothing_is_processed_or_due():
    queue = q()
    assert queue.idle(0)
    queue.add("r1", now=0)
    assert not queue.idle(0)  # due now
    assert queue.pop_ready(0) == "r1"
    assert not queue.idle(0)  # being processed
    queue.done("r1", now=0)
    queue.add("r1", delay=60, now=0)  # a health requeue
    assert queue.idle(0)
    assert not queue.idle(60)
