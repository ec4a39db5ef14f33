"""A floating IP disassociated on a real Neutron (its message names no router) wakes the
router it left, even before that router's worker reported the address: the router the
last ``floatingip.*.end`` named (``FloatingIPRouters``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from astara.common.settings import defaults
from astara.orchestrator.clients.fakes import FakeNetwork
from astara.orchestrator.drivers.router import RouterDriver
from astara.orchestrator.fip_routers import FloatingIPRouters, LastPushed
from astara.orchestrator.intake import floating_ip_router
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.service import Orchestrator

CAPTURES = Path(__file__).parents[2] / "data" / "neutron" / "notifications"
ROUTER = "c61d6b42-85ba-4431-a014-539ade35216c"
FIP = "d0f8a37a-e57c-41dc-9d11-796cf8970cdf"


def capture(name: str) -> dict:
    return json.loads((CAPTURES / name).read_text())["message"]


def test_what_each_floating_ip_message_names():
    assert floating_ip_router(capture("015_floatingip.create.end.json")) == (FIP, None)
    assert floating_ip_router(capture("017_floatingip.update.end.json")) == (FIP, ROUTER)
    assert floating_ip_router(capture("031_floatingip.update.end.json")) == (FIP, None)
    assert floating_ip_router(capture("033_floatingip.delete.end.json")) == (FIP, None)
    assert floating_ip_router(capture("014_floatingip.create.start.json")) is None
    assert floating_ip_router(capture("010_router.create.end.json")) is None
    assert floating_ip_router({"event_type": "floatingip.update.end",
                               "payload": {"floatingip": {"id": 7}}}) is None


def test_the_record_is_the_last_named_and_bounded():
    rec = FloatingIPRouters(limit=2)
    rec.note("f1", "r1")
    rec.note("f1", "r2")
    assert rec.last("f1") == "r2"
    rec.note("f1", None)
    assert rec.last("f1") is None
    for n in range(3):
        rec.note(f"g{n}", "r")
    assert [rec.last(f"g{n}") for n in range(3)] == [None, "r", "r"]


def test_what_was_last_pushed_answers_until_the_router_reports():
    pushed = LastPushed({"r1": ("t1", ["203.0.113.7", "203.0.113.8"]),
                         "r2": ("t2", ["203.0.113.7"]), "r3": ("t3", [])})
    assert pushed.routers("203.0.113.7") == {"r1": "t1", "r2": "t2"}
    assert pushed.routers("203.0.113.9") == {}
    assert pushed.routers(None) == {}
    pushed.reported("r1")
    assert pushed.routers("203.0.113.7") == {"r2": "t2"}
    assert pushed.routers("203.0.113.8") == {}
    pushed.reported("r9")  # never stored: nothing to forget
    assert LastPushed().routers("203.0.113.7") == {}


def test_a_disassociation_before_the_workers_report_wakes_the_router_it_left(tmp_path):
    base = defaults(tmp_path)
    orch = Orchestrator(replace(base, bus=replace(base.bus, transport="outbox")),
                        orch_defaults())
    orch.drivers = {"router": RouterDriver(FakeNetwork())}
    orch.known[ROUTER] = ResourceRef("router", ROUTER, "d" * 32)
    submitted: list[str] = []
    orch.submit = lambda ref: submitted.append(ref.id)  # type: ignore[method-assign]
    messages = [capture(n) for n in ("017_floatingip.update.end.json",
                                     "031_floatingip.update.end.json")]

    class Consumer:  # delivers the two messages in two batches, then stops intake
        def run(self, handle, stop, batch_done):
            for body in messages:
                handle(SimpleNamespace(body=body, event_type=body["event_type"]))
                batch_done()
            orch._stop.set()

        def close(self):
            pass

    assert orch.routers == {}  # no worker has reported the router's floating IPs
    orch._intake(Consumer())
    assert submitted == [ROUTER, ROUTER]
    orch.db.dispose()
