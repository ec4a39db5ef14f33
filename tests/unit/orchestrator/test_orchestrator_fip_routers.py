"""A floating IP disassociated on a real Neutron (its message names no router) wakes the
router it left, even before that router's worker reported the address: the router the
last ``floatingip.*.end`` named (``FloatingIPRouters``), and after a restart the router
the state store says was last pushed it (``LastPushed``), until its worker reports it,
drops it, or it is another member's."""

from __future__ import annotations

import threading
from dataclasses import replace
from types import SimpleNamespace

import pytest
from tests.orchestrator_intake import capture, intake_messages
from tests.support import wait_for

from astara.common.settings import defaults
from astara.orchestrator.clients.fakes import FakeNetwork
from astara.orchestrator.cluster.ownership import Rebalance
from astara.orchestrator.drivers.router import RouterDriver
from astara.orchestrator.fip_routers import FloatingIPRouters, LastPushed
from astara.orchestrator.intake import floating_ip_router
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.service import Orchestrator

ROUTER = "c61d6b42-85ba-4431-a014-539ade35216c"  # the router the association named
GAINED = "7d1f0a52-1111-4a4a-8b8b-000000000002"
MINE = "7d1f0a52-1111-4a4a-8b8b-000000000003"
FIP = "d0f8a37a-e57c-41dc-9d11-796cf8970cdf"
ADDRESS = "172.24.4.91"  # the capture's floating IP address
PID = 4242


def moved() -> dict:
    """The captured association, now naming another router (a move)."""
    msg = capture("017_floatingip.update.end.json")
    msg["payload"]["floatingip"]["router_id"] = GAINED
    return msg


@pytest.fixture
def orch(tmp_path):
    base = defaults(tmp_path)
    o = Orchestrator(replace(base, bus=replace(base.bus, transport="outbox")),
                     orch_defaults())
    o.drivers = {"router": RouterDriver(FakeNetwork())}
    yield o
    o.db.dispose()


def collect(orch: Orchestrator, *snapshots: tuple[dict, list[str] | None]) -> None:
    """Worker 0's ``snapshots`` (states, gone) through the collector thread, in order."""
    orch.workers[0].proc = SimpleNamespace(pid=PID)  # type: ignore[assignment]
    mark = "7d1f0a52-1111-4a4a-8b8b-0000000000ff"  # taken last: the others are done
    for states, gone in [*snapshots, ({mark: {"id": mark}}, [])]:
        orch._results.put(("snapshot", 0, states, gone, {"pid": PID}, []))
    orch._stop.clear()
    t = threading.Thread(target=orch._collect, daemon=True)
    t.start()
    try:
        wait_for(lambda: mark in orch.routers, what="the snapshots taken")
    finally:
        orch._stop.set()
        t.join()


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


def test_what_was_last_pushed_answers_until_the_router_is_forgotten():
    pushed = LastPushed({"r1": ["203.0.113.7", "203.0.113.8"], "r2": ["203.0.113.7"],
                         "r3": [], "r4": ["203.0.113.9"]})
    assert pushed.routers("203.0.113.7") == ["r1", "r2"]
    assert pushed.routers("203.0.113.6") == []
    assert pushed.routers(None) == []
    pushed.forget("r1")
    assert pushed.routers("203.0.113.7") == ["r2"]
    assert pushed.routers("203.0.113.8") == []
    pushed.forget("r9")  # never stored: nothing to forget
    pushed.retain(lambda rid: rid != "r4")
    assert pushed.routers("203.0.113.9") == [] and pushed.routers("203.0.113.7") == ["r2"]
    assert LastPushed().routers("203.0.113.7") == []


def test_a_disassociation_before_the_workers_report_wakes_the_router_it_left(orch):
    orch.known[ROUTER] = ResourceRef("router", ROUTER, "d" * 32)
    assert orch.routers == {}  # no worker has reported the router's floating IPs
    woken = intake_messages(orch, [capture("017_floatingip.update.end.json"),
                                   capture("031_floatingip.update.end.json")])
    assert woken == [ROUTER, ROUTER]


def test_a_router_the_state_store_pushed_the_address_is_woken_until_reported(orch):
    orch.last_pushed = LastPushed({ROUTER: [ADDRESS]})
    assert intake_messages(orch, [moved()]) == [GAINED, ROUTER]
    # Its worker reports it, without the address (pushed since): the reports answer.
    collect(orch, ({ROUTER: {"id": ROUTER, "floating_ips": []}}, None))
    assert intake_messages(orch, [moved()]) == [GAINED]


def test_a_router_its_worker_dropped_is_woken_no_more(orch):
    """Deleted while the orchestrator was down, its row left behind: after its terminal
    pass no report of it comes, and a reused address must not queue it again."""
    orch.last_pushed = LastPushed({ROUTER: [ADDRESS]})
    collect(orch, ({}, [ROUTER]))
    assert intake_messages(orch, [moved()]) == [GAINED]


def test_a_router_released_to_another_member_is_woken_no_more(orch):
    orch.last_pushed = LastPushed({ROUTER: [ADDRESS]})
    orch.apply(Rebalance(release=frozenset({ROUTER})))
    assert intake_messages(orch, [moved()]) == [GAINED]


def test_the_resync_of_a_cluster_member_forgets_the_rows_of_other_members(orch):
    """The state store is the cluster's: another member's routers never report here."""
    me = orch.coordination.member_name
    orch.ownership = SimpleNamespace(  # type: ignore[assignment]
        admit=lambda ids: set(ids),
        owner_of=lambda rid: ("orch-b" if rid == ROUTER else me, {}))
    orch.network = FakeNetwork()  # type: ignore[assignment]
    orch.last_pushed = LastPushed({ROUTER: [ADDRESS], MINE: [ADDRESS]})
    orch.resync(full=False)
    assert orch.last_pushed.routers(ADDRESS) == [MINE]
