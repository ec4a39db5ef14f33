"""A worker process: its own clients, reconciler and dirty-key queue.

The parent hands it the rebuild breaker's shared board (``breaker_board``) at spawn,
and the management network's id in its first message, ``("start", network_id)``: a
worker starts before the parent has checked the schema and the management network
(nothing touches the database before that message; in a cluster it also carries the
lease owner token and fence margin the worker's fence checks with). Then the parent
sends ``("submit", ref, full[, booted])`` (``booted``: the appliance instance whose
boot just ended, ``take_submit``), ``("release", ref)`` (the cluster gave it away: its
state machine stops here),
``("submit_many", [ref, ...], full)`` (a resync), ``("rebuild", ref)``, ``("debug",)``
and ``("stop",)`` on the inbox; the worker sends ``("snapshot", index, {...}, gone,
stats, released)`` while anything changes (``pacing``: at once while its start-up batch
passes, then once a second): first every router it holds (``gone``
None), then only the routers passed since (summaries) and those it dropped (``gone``;
``released``: those of them dropped on a ``release``, not after a terminal pass), so
1,000 idle routers cost the summaries of the few just health-checked. A message
the worker does not understand is logged and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue as queue_mod
import signal
import threading
import time
from typing import Any

from astara.common import logs
from astara.common.children import die_with_parent
from astara.db.engine import Database
from astara.orchestrator.breaker_board import BreakerBoard
from astara.orchestrator.drivers import router_ha
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import OrchestratorSettings, breaker_settings
from astara.orchestrator.runtime import Runtime, report
from astara.orchestrator.startup import since_exec
from astara.orchestrator.worker.pacing import ReportPacer
from astara.orchestrator.worker.pool import Worker

LOG = logging.getLogger(__name__)



def take_submit(msg: tuple, reconciler: Any, worker: Any) -> None:
    """``("submit", ref, full[, booted])``: the reconciler is told of a boot's end before
    the key is queued (its pass may then check the appliance alone)."""
    ref = ResourceRef(*msg[1])
    if len(msg) > 3 and msg[3]:
        reconciler.boot_ended(ref, msg[3])
    worker.submit(ref, full=msg[2])

def main(index: int, o: OrchestratorSettings, db_url: str,
         inbox: multiprocessing.Queue, outbox: multiprocessing.Queue, debug: bool,
         parent_pid: int, board: Any = None) -> None:
    logs.setup(debug)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    die_with_parent(parent_pid)
    # Never wait at exit to flush snapshots to a parent that no longer reads them.
    outbox.cancel_join_thread()
    mgmt_net_id, fence, early = _wait_start(index, inbox, parent_pid)
    if mgmt_net_id is None:
        return
    db = Database(db_url)
    runtime = Runtime(o, db, mgmt_net_id,
                      BreakerBoard(board, breaker_settings(o)) if board is not None else None,
                      shard=(index, o.num_worker_processes), fence=fence)
    LOG.info("worker %d ready: %.2f s after its start (stored states preloaded)", index,
             since_exec())
    try:
        asyncio.run(_serve(index, runtime, inbox, outbox, o.num_worker_threads, early))
    finally:
        runtime.close()
        db.dispose()


def _wait_start(index: int, inbox, parent_pid: int
                ) -> tuple[str | None, tuple[str, float] | None, list[tuple]]:
    """The management network's id from the parent's ``start`` (None: stop), the
    cluster fence (lease owner token, margin; None: a single node), and the messages
    that came before it, kept to be handled once started (an operator's ``rebuild`` or
    ``debug`` sent while the worker starts must still happen)."""
    early: list[tuple] = []
    while os.getppid() == parent_pid:
        try:
            msg = inbox.get(timeout=0.5)
        except queue_mod.Empty:
            continue
        except (EOFError, OSError):
            return None, None, early
        if msg[0] == "start":
            return msg[1], (msg[2] if len(msg) > 2 else None), early
        if msg[0] == "stop":
            return None, None, early
        early.append(msg)
    return None, None, early


async def _serve(index: int, rt: Runtime, inbox, outbox, threads: int,
                 early: tuple[tuple, ...] | list[tuple] = ()) -> None:
    loop = asyncio.get_running_loop()
    # One tally for the executor's steps and the worker's pass outcomes.
    worker = Worker(rt.run, concurrency=threads, tally=rt.reconciler.executor.tally,
                    on_released=rt.release)
    stop = asyncio.Event()
    # Member 1s left behind: looked for at the first resync (every worker gets one, even
    # empty), again at the next resync if that failed; worker 0 removes the gone ones.
    sweep: list[str] = []  # "running" or "done"
    # The first resync's routers, held back while the look runs; a ``release`` meanwhile
    # takes its router out: submitted after it, it would keep a state machine here for
    # a router the cluster gave to another member (fenced at every pass, never dropped).
    held_back: dict[str, ResourceRef] = {}

    def swept(fut: asyncio.Future, refs: list[ResourceRef], full: bool) -> None:
        for ref in refs:  # first passes after the look: they know whom to look at
            if held_back.pop(ref.id, None) is not None:
                worker.submit(ref, full=full)
        gone = None if fut.cancelled() or fut.exception() else fut.result()
        if not fut.cancelled() and fut.exception():
            LOG.error("worker %d: looking for HA members left behind failed: %r",
                      index, fut.exception())
        if gone is None:
            sweep.clear()  # asked again at the next resync
            return
        sweep[:] = ["done"]
        if gone and index == 0:  # in the background: the passes do not wait for it
            removal = loop.run_in_executor(None, rt.reconciler.remove_member1, gone)
            removal.add_done_callback(
                lambda f: None if not f.cancelled() and not f.exception() and f.result()
                else sweep.clear())

    def handle(msg: tuple) -> None:
        kind = msg[0]
        if kind == "submit":
            take_submit(msg, rt.reconciler, worker)
        elif kind == "submit_many":  # a resync: every router this worker owns
            refs = [ResourceRef(*fields) for fields in msg[1]]
            if not sweep:  # before these first passes: a few list calls
                sweep.append("running")
                held_back.update((ref.id, ref) for ref in refs)
                fut = loop.run_in_executor(None, rt.reconciler.find_member1, refs)
                fut.add_done_callback(lambda f: swept(f, refs, msg[2]))
                return
            for ref in refs:
                worker.submit(ref, full=msg[2])
        elif kind == "release":
            ref = ResourceRef(*msg[1])
            held_back.pop(ref.id, None)
            worker.release(ref)
            rt.release(ref)
        elif kind == "rebuild":
            ref = ResourceRef(*msg[1])
            rt.reconciler.rebuild(ref)
            # member 1's passes are its router's (``Reconciler.run``)
            worker.submit(ResourceRef(ref.kind, router_ha.router_of(ref.id), ref.tenant_id)
                          if ref.kind == "router" else ref, full=True)
        elif kind == "debug":
            rt.reload_debug()
        elif kind == "stop":
            stop.set()
        else:
            LOG.warning("worker %d: unknown message %r ignored", index, kind)

    def read_inbox() -> None:
        while not stop.is_set():
            try:
                msg = inbox.get(timeout=0.5)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                loop.call_soon_threadsafe(stop.set)
                return
            loop.call_soon_threadsafe(handle, msg)

    for msg in early:  # in the order sent, before anything read after the start
        handle(msg)
    threading.Thread(target=read_inbox, daemon=True).start()
    reporter = asyncio.ensure_future(_report(index, rt, worker, outbox, stop))
    await worker.serve(stop)
    reporter.cancel()


async def _report(index: int, rt: Runtime, worker: Worker, outbox, stop) -> None:
    last_stats: dict = {}
    first = True
    pacer = ReportPacer()
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(pacer.tick)
        if os.getppid() != parent:
            LOG.error("worker %d: the orchestrator is gone; stopping", index)
            stop.set()
            return
        held = rt.reconciler.states
        stats = {"pid": os.getpid(), "passes": worker.passes, "queued": len(worker.queue),
                 "steps": dict(rt.reconciler.executor.performed),
                 "metrics": worker.tally.snapshot()}
        now, idle = time.monotonic(), worker.queue.idle()
        # Nothing before the first router: an empty report would tell the parent that
        # this new process dropped the routers it is still being handed.
        # Counters too: a pass that changed no state still shows in ``workers debug``.
        changed = bool(held) if first else rt.has_touched() or stats != last_stats
        if not pacer.due(now, changed, idle):
            continue
        touched, released = rt.take_touched()
        states, gone, released_gone = report(held, None if first else touched, released)
        outbox.put(("snapshot", index, states, gone, stats, released_gone))
        if first:
            LOG.info("worker %d: first report (%d routers) %.2f s after its start", index,
                     len(held), since_exec())
        eager, first, last_stats = pacer.eager, False, stats
        pacer.sent(now, idle)
        if eager and not pacer.eager:
            LOG.info("worker %d: start-up batch passed and reported (%d routers, %d "
                     "healthy) %.2f s after its start", index, len(held),
                     sum(1 for st in list(held.values()) if st.healthy and st.steps),
                     since_exec())
