"""A floating IP moved to another router's port while the orchestrator restarts: the
move's ``floatingip.update.end`` names the new router only, and the restarted parent has
neither the association's notification (``FloatingIPRouters`` is memory) nor a worker's
report yet. The router that lost the address is still woken, from what the state store
says its appliance was last pushed; once its worker reports, the reports answer."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from tests.integration.conftest import fresh_database

from astara.common.settings import defaults
from astara.db import migrate
from astara.orchestrator.clients.fakes import FakeNetwork
from astara.orchestrator.drivers.router import RouterDriver
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.reconcile.memory import Resume
from astara.orchestrator.reconcile.model import Memory
from astara.orchestrator.service import Orchestrator
from astara.orchestrator.state_store import RouterStateStore

CAPTURES = Path(__file__).parents[2] / "data" / "neutron" / "notifications"
LOST = "c61d6b42-85ba-4431-a014-539ade35216c"  # router the association named
GAINED = "7d1f0a52-1111-4a4a-8b8b-000000000002"
TENANT = "d" * 32
ADDRESS = "172.24.4.91"  # the capture's floating IP address


def moved() -> dict:
    """Neutron's captured ``floatingip.update.end``, now naming another router."""
    msg = json.loads((CAPTURES / "017_floatingip.update.end.json").read_text())["message"]
    msg = copy.deepcopy(msg)
    msg["payload"]["floatingip"]["router_id"] = GAINED
    return msg


def intake_once(orch: Orchestrator, body: dict) -> list[str]:
    submitted: list[str] = []
    orch.submit = lambda ref: submitted.append(ref.id)  # type: ignore[method-assign]

    class Consumer:  # one message, then intake stops
        def run(self, handle, stop, batch_done):
            handle(SimpleNamespace(body=body, event_type=body["event_type"]))
            batch_done()
            orch._stop.set()

        def close(self):
            pass

    orch._stop.clear()
    orch._intake(Consumer())
    return submitted


def test_a_move_heard_after_a_restart_wakes_the_router_that_lost_the_address(tmp_path):
    base = defaults(tmp_path)
    url = fresh_database(tmp_path)
    settings = replace(base, bus=replace(base.bus, transport="outbox"),
                       database=replace(base.database, url=url))
    orch = Orchestrator(settings, orch_defaults())
    try:
        migrate.upgrade(orch.db.engine)
        # Before the stop, the losing router's appliance was pushed the floating IP.
        RouterStateStore(orch.db).save(
            LOST, TENANT, Memory(), "ACTIVE",
            Resume("i-1", "fdca:3ba5:a17a:acda::5", "digest", None, (), (ADDRESS,)))
        RouterStateStore(orch.db).save(GAINED, TENANT, Memory(), "ACTIVE")  # none pushed
        orch.drivers = {"router": RouterDriver(FakeNetwork())}
        orch.load_last_pushed()  # as start() does, before intake
        assert orch.routers == {} and orch.known == {}  # no report, no resync yet
        woken = intake_once(orch, moved())
        assert woken == [GAINED, LOST]
        assert orch.fip_routers.last("d0f8a37a-e57c-41dc-9d11-796cf8970cdf") == GAINED

        # Its worker reported it (without the address, pushed since): reports answer now.
        orch.routers[LOST] = {"floating_ips": [], "_worker": 0}
        orch.last_pushed.reported(LOST)
        assert intake_once(orch, moved()) == [GAINED]
    finally:
        orch.db.dispose()
