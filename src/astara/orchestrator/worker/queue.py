"""A de-duplicating, delayed dirty-key queue (the controller-runtime workqueue idea).

A key is in at most one of: waiting (with a due time), processing, or absent.
Adding a waiting key keeps the earlier due time; adding a key being processed
marks it dirty, so it runs once more right after ``done`` — never twice at once.
``retry`` requeues with exponential back-off and jitter; ``forget`` resets it.
The synchronous core takes ``now`` explicitly, so it is tested without sleeping;
``get`` is the asyncio face used by workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Callable, Hashable


class DirtyQueue:
    def __init__(self, base_delay: float = 1.0, max_delay: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random):
        self._base, self._max = base_delay, max_delay
        self._clock, self._jitter = clock, jitter
        self._due: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._processing: set[Hashable] = set()
        self._dirty: dict[Hashable, float] = {}
        self._failures: dict[Hashable, int] = {}
        self._wakeup = asyncio.Event() if _loop_running() else None

    def __len__(self) -> int:
        return len(self._due) + len(self._dirty)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due or key in self._processing

    @property
    def processing(self) -> frozenset:
        return frozenset(self._processing)

    def add(self, key: Hashable, delay: float = 0.0, now: float | None = None) -> None:
        due = (self._clock() if now is None else now) + max(0.0, delay)
        if key in self._processing:
            self._dirty[key] = min(due, self._dirty.get(key, due))
            return
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._signal()

    def pop_ready(self, now: float | None = None) -> Hashable | None:
        now = self._clock() if now is None else now
        while self._heap:
            due, _, key = self._heap[0]
            if self._due.get(key) != due:
                heapq.heappop(self._heap)  # superseded by an earlier add
                continue
            if due > now:
                return None
            heapq.heappop(self._heap)
            del self._due[key]
            self._processing.add(key)
            return key
        return None

    def next_due(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def idle(self, now: float | None = None) -> bool:
        """Nothing being processed and nothing due yet (health requeues may wait)."""
        due = self.next_due()
        return not self._processing and (
            due is None or due > (self._clock() if now is None else now))

    def done(self, key: Hashable, now: float | None = None) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            due = self._dirty.pop(key)
            now = self._clock() if now is None else now
            self.add(key, max(0.0, due - now), now=now)

    def backoff(self, key: Hashable) -> float:
        n = self._failures.get(key, 0)
        delay = min(self._max, self._base * (2 ** n))
        return delay * (0.5 + self._jitter() / 2)

    def retry(self, key: Hashable, now: float | None = None) -> float:
        """Finish ``key`` and requeue it after its back-off; returns the delay."""
        delay = self.backoff(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self._processing.discard(key)
        dirty_due = self._dirty.pop(key, None)
        now = self._clock() if now is None else now
        # A change that arrived meanwhile still waits for the back-off: it failed.
        self.add(key, delay if dirty_due is None else max(delay, dirty_due - now), now=now)
        return delay

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def discard(self, key: Hashable) -> None:
        """Out of the queue: not waiting, not dirty (a pass running ends as it is)."""
        self._due.pop(key, None)  # its heap entry is skipped as superseded
        self._dirty.pop(key, None)
        self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> Hashable:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        while True:
            key = self.pop_ready()
            if key is not None:
                return key
            due = self.next_due()
            timeout = None if due is None else max(0.0, due - self._clock())
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _signal(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
