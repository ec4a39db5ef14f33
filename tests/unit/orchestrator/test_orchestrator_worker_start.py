"""A worker starts on the parent's word, reports at once while its start-up batch
passes, then once a tick."""

from __future__ import annotations

from astara.orchestrator.worker.pacing import ReportPacer


def test_nothing_changed_is_never_reported():
    p = ReportPacer()
    assert not p.due(0.0, changed=False, idle=True)
    p.sent(0.0, idle=True)
    assert not p.due(5.0, changed=False, idle=True)


def test_start_up_reports_as_soon_as_the_batch_is_done():
    p = ReportPacer(interval=1.0, eager_tick=0.05, eager_interval=0.25)
    assert p.tick == 0.05
    assert p.due(0.0, changed=True, idle=False)  # the first report
    p.sent(0.0, idle=False)
    assert not p.due(0.1, changed=True, idle=False)  # busy: coalesced...
    assert p.due(0.3, changed=True, idle=False)  # ...for at most eager_interval
    p.sent(0.3, idle=False)
    assert p.due(0.35, changed=True, idle=True)  # the batch passed: at once
    assert p.eager


def test_a_report_sent_idle_ends_the_eager_phase():
    p = ReportPacer(interval=1.0, eager_tick=0.05)
    p.sent(0.0, idle=True)
    assert not p.eager
    assert p.tick == 1.0  # health checks from now on: one report a tick
    assert p.due(0.01, changed=True, idle=True)


def test_a_spawned_worker_waits_for_the_management_network_before_anything():
    import os
    import queue

    from astara.orchestrator.worker.process import _wait_start

    inbox: queue.Queue = queue.Queue()
    for msg in (("debug",), ("start", "net-1"), ("stop",)):
        inbox.put(msg)
    assert _wait_start(0, inbox, os.getppid()) == ("net-1", None, [("debug",)])
    assert _wait_start(0, inbox, os.getppid()) == (None, None, [])  # stopped before it started
    assert _wait_start(0, inbox, -1) == (None, None, [])  # its parent is gone: no wait at all


def test_what_comes_before_start_is_kept_in_order_for_after_it():
    import os
    import queue

    from astara.orchestrator.worker.process import _wait_start

    inbox: queue.Queue = queue.Queue()
    rebuild = ("rebuild", ("router", "r-1", "t-1"))
    for msg in (rebuild, ("debug",), ("start", "net-1"), ("submit", ("x",), True)):
        inbox.put(msg)
    assert _wait_start(0, inbox, os.getppid()) == ("net-1", None, [rebuild, ("debug",)])
    assert inbox.get_nowait()[0] == "submit"  # after the start: left for the worker


def test_a_successor_gets_start_before_anyone_else_can_send_to_it(monkeypatch):
    import multiprocessing

    from astara.orchestrator import service

    events: list[tuple] = []

    class Recording:
        def put(self, msg):
            events.append(("put", msg[0], handle.inbox is self))

    class Proc:
        pid = 4242

        def __init__(self, **kw):
            pass

        def start(self):
            events.append(("start-process",))

    class Ctx:
        Queue = Recording
        Process = Proc

    monkeypatch.setattr(multiprocessing, "get_context", lambda method=None: Ctx)
    orch = service.Orchestrator.__new__(service.Orchestrator)
    orch.o, orch._ctx, orch._results, orch._board_array = None, Ctx, None, None
    orch.settings = type("S", (), {"database": type("D", (), {"url": "sqlite://"}),
                                   "debug": False})
    orch.mgmt_net_id = "net-1"
    handle = service.WorkerHandle(0)
    orch._spawn(handle)
    # "start" went in while the queue was still unpublished: nothing can precede it
    assert events == [("start-process",), ("put", "start", False)]
    assert isinstance(handle.inbox, Recording)


def test_workers_fork_only_while_the_parent_has_one_thread():
    from astara.orchestrator.service import start_method

    assert start_method(1) == "fork"  # start-up: everything imported, nothing locked
    assert start_method(4) == "spawn"  # a successor, with intake and RPC threads running
