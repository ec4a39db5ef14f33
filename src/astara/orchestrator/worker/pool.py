"""A worker: drains its dirty-key queue, many keys at once, one task per key.

Each key's pass runs the (blocking) reconciler in a thread, at most
``concurrency`` at a time. Event-driven keys get a full observation; keys that
come back from a health requeue get the one-call health check. Any exception a
pass raises is logged and retried with back-off: a worker never dies of one key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Outcome, OutcomeKind
from astara.orchestrator.reconcile.tally import Tally
from astara.orchestrator.worker.queue import DirtyQueue

LOG = logging.getLogger(__name__)


class Worker:
    def __init__(self, run: Callable[[ResourceRef, bool], Outcome], concurrency: int = 8,
                 queue: DirtyQueue | None = None, tally: Tally | None = None,
                 on_released: Callable[[ResourceRef], None] | None = None):
        """``on_released``: called when a pass that was running at its key's release
        ends (the pass may have left state behind: the runtime drops it again)."""
        self._run = run
        self._on_released = on_released
        self.tally = tally or Tally()  # each pass's outcome
        self.queue = queue or DirtyQueue()
        self._sem = asyncio.Semaphore(concurrency)
        self._full: set[ResourceRef] = set()
        self._tasks: set[asyncio.Task] = set()
        self._released: set[ResourceRef] = set()  # given to another member: not requeued
        self.passes = 0

    def submit(self, ref: ResourceRef, full: bool = True, delay: float = 0.0) -> None:
        self._released.discard(ref)
        if full:
            self._full.add(ref)
        self.queue.add(ref, delay)

    def release(self, ref: ResourceRef) -> None:
        """Stop serving ``ref`` (the cluster gave it to another member): out of the
        queue now, and a pass running for it is not followed by another."""
        if ref in self.queue.processing:
            self._released.add(ref)
        self._full.discard(ref)
        self.queue.discard(ref)

    async def serve(self, stop: asyncio.Event) -> None:
        getter = None
        while not stop.is_set():
            getter = getter or asyncio.ensure_future(self.queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if getter not in done:
                continue
            ref = getter.result()
            getter = None
            await self._sem.acquire()
            task = asyncio.ensure_future(self._one(ref))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if getter is not None:
            getter.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _one(self, ref: ResourceRef) -> None:
        full = ref in self._full
        self._full.discard(ref)
        try:
            outcome = await asyncio.to_thread(self._run, ref, full)
        except Exception:
            LOG.exception("router %s: reconcile pass failed", ref.id)
            outcome = Outcome(OutcomeKind.RETRY)
        finally:
            self._sem.release()
            self.passes += 1
        self.tally.outcome(str(outcome.kind))
        self._settle(ref, outcome)

    def _settle(self, ref: ResourceRef, outcome: Outcome) -> None:
        q = self.queue
        if ref in self._released:
            self._released.discard(ref)
            q.discard(ref)
            q.done(ref)
            if self._on_released is not None:
                self._on_released(ref)
            return
        if outcome.kind is OutcomeKind.RETRY:
            self._full.add(ref)
            q.retry(ref)
            return
        q.forget(ref)
        q.done(ref)
        if outcome.kind is OutcomeKind.REQUEUE:
            # Not marked full: the observer tries the one-call health check and
            # looks at everything only when the router was not healthy or differs.
            q.add(ref, outcome.after)
