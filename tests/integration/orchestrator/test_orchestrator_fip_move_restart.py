"""A floating IP moved to another router's port while the orchestrator restarts: the
move's ``floatingip.update.end`` names the new router only, and the restarted parent has
neither the association's notification (``FloatingIPRouters`` is memory) nor a worker's
report yet. The router that lost the address is still woken, from what the state store
says its appliance was last pushed (read by ``start`` before intake starts); once its
worker reports (through the collector thread), the reports answer."""

from __future__ import annotations

import queue
from dataclasses import replace
from types import SimpleNamespace

import pytest
from tests.integration.conftest import fresh_database
from tests.orchestrator_intake import capture
from tests.support import wait_for

from astara.common.settings import defaults
from astara.db import migrate
from astara.orchestrator import service
from astara.orchestrator.clients.fakes import FakeNetwork
from astara.orchestrator.drivers.router import RouterDriver
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.reconcile.memory import Resume
from astara.orchestrator.reconcile.model import Memory
from astara.orchestrator.service import Orchestrator
from astara.orchestrator.state_store import RouterStateStore

LOST = "c61d6b42-85ba-4431-a014-539ade35216c"  # router the association named
GAINED = "7d1f0a52-1111-4a4a-8b8b-000000000002"
TENANT = "d" * 32
ADDRESS = "172.24.4.91"  # the capture's floating IP address


def moved() -> dict:
    """Neutron's captured ``floatingip.update.end``, now naming another router."""
    msg = capture("017_floatingip.update.end.json")
    msg["payload"]["floatingip"]["router_id"] = GAINED
    return msg


class Bus:
    """Intake's consumer: notes what the parent had last pushed when intake started,
    then hands it each message put, one batch each."""

    def __init__(self, orch: Orchestrator):
        self._orch = orch
        self.at_start: list[str] | None = None
        self.messages: queue.Queue[dict] = queue.Queue()
        self.handled: queue.Queue[None] = queue.Queue()

    def run(self, handle, stop, batch_done):
        if self.at_start is None:
            self.at_start = self._orch.last_pushed.routers(ADDRESS)
        while not stop():
            try:
                body = self.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            handle(SimpleNamespace(body=body, event_type=body["event_type"]))
            batch_done()
            self.handled.put(None)

    def close(self):
        pass


@pytest.fixture
def started(tmp_path, monkeypatch):
    """``start()`` for real, with what needs other services faked: workers that are no
    processes (their inboxes are read by nobody), the management network, the network
    API (a fake one), the bus (``Bus``) and the resync; intake and the collector run."""
    base = defaults(tmp_path)
    settings = replace(base, bus=replace(base.bus, transport="outbox"),
                       database=replace(base.database, url=fresh_database(tmp_path)))
    orch = Orchestrator(settings, orch_defaults())
    migrate.upgrade(orch.db.engine)
    # Before the stop, the losing router's appliance was pushed the floating IP.
    RouterStateStore(orch.db).save(
        LOST, TENANT, Memory(), "ACTIVE",
        Resume("i-1", "fdca:3ba5:a17a:acda::5", "digest", None, (), (ADDRESS,)))
    RouterStateStore(orch.db).save(GAINED, TENANT, Memory(), "ACTIVE")  # none pushed

    def spawn_workers():
        for w in orch.workers:
            w.proc, w.inbox = SimpleNamespace(pid=1000 + w.index), queue.Queue()

    bus = Bus(orch)
    monkeypatch.setattr(orch, "spawn_workers", spawn_workers)
    monkeypatch.setattr(service.management, "ensure_network",
                        lambda o, http, lock=None: "mgmt-net")
    monkeypatch.setattr(service.registry, "make",
                        lambda *a: {"router": RouterDriver(FakeNetwork())})
    monkeypatch.setattr(orch, "_bus_consumer", lambda: bus)
    monkeypatch.setattr(orch, "_supervise", lambda: None)  # it restarts real processes
    monkeypatch.setattr(orch, "resync", lambda full=True: 0)
    woken: list[str] = []
    monkeypatch.setattr(orch, "submit", lambda ref, full=True, booted=False: woken.append(ref.id))
    try:
        orch.start()
        yield orch, bus, woken
    finally:
        orch._stop.set()
        for t in orch._threads:
            t.join(timeout=10)
        if orch.network is not None:
            orch.network.close()
        orch.db.dispose()


def wake(bus: Bus, woken: list[str], body: dict) -> list[str]:
    woken.clear()
    bus.messages.put(body)
    bus.handled.get(timeout=30)
    return list(woken)


def test_a_move_heard_after_a_restart_wakes_the_router_that_lost_the_address(started):
    orch, bus, woken = started
    wait_for(lambda: bus.at_start is not None, what="intake started")
    assert bus.at_start == [LOST]  # start() read the rows before intake started
    assert orch.routers == {} and orch.known == {}  # no report, no resync yet
    assert wake(bus, woken, moved()) == [GAINED, LOST]
    assert orch.fip_routers.last("d0f8a37a-e57c-41dc-9d11-796cf8970cdf") == GAINED

    # Its worker reports it (without the address, pushed since), through the collector:
    # the reports answer now.
    pid = orch.workers[0].proc.pid
    orch._results.put(("snapshot", 0, {LOST: {"id": LOST, "floating_ips": []}}, None,
                       {"pid": pid}, []))
    wait_for(lambda: LOST in orch.routers, what="the report collected")
    assert wake(bus, woken, moved()) == [GAINED]
