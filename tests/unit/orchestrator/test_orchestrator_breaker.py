"""The rebuild breaker's rules as tables, the plan's rebuild kinds, and the shared board."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from dataclasses import replace

import pytest

from astara.orchestrator import breaker_board
from astara.orchestrator.breaker_board import BreakerBoard
from astara.orchestrator.opts import breaker_settings, defaults, plan_defaults
from astara.orchestrator.reconcile import breaker
from astara.orchestrator.reconcile.breaker import (
    BreakerSettings,
    Check,
    Suspicion,
    Verdict,
)
from astara.orchestrator.reconcile.model import (
    Appliance,
    Decision,
    Failure,
    Instance,
    Memory,
    Observed,
    Outcome,
    OutcomeKind,
    Rebuild,
    Status,
    Step,
)
from astara.orchestrator.reconcile.plan import plan

S = BreakerSettings(failure_share=0.5, min_samples=4, budget_share=0.1, budget_min=1,
                    window=300)
NOW = 10_000.0


def checks(ok: int, failed: int, at: float = NOW - 1) -> list[Check]:
    return [Check(at, True)] * ok + [Check(at, False)] * failed


@pytest.mark.parametrize("name, sample, was, want_open, want_since", [
    ("all answer", checks(10, 0), Suspicion(), False, None),
    ("half fail: not more than the share", checks(5, 5), Suspicion(), False, None),
    ("most fail", checks(4, 6), Suspicion(), True, NOW),
    ("too few samples to judge", checks(0, 3), Suspicion(), False, None),
    ("exactly enough samples", checks(1, 3), Suspicion(), True, NOW),
    ("failures older than the window do not count",
     checks(2, 0) + checks(0, 8, at=NOW - 301), Suspicion(), False, None),
    ("stays open: keeps its opening time", checks(1, 9),
     Suspicion(True, 9, 10, NOW - 50), True, NOW - 50),
    ("closes when checks answer again", checks(8, 2), Suspicion(True, 9, 10, NOW - 50),
     False, None),
])
def test_self_suspicion(name, sample, was, want_open, want_since):
    sus = breaker.suspect(sample, NOW, S, was)
    assert (sus.open, sus.since) == (want_open, want_since), name
    recent = [c for c in sample if NOW - c.at <= S.window]
    assert (sus.checked, sus.failed) == (len(recent), sum(not c.ok for c in recent))


@pytest.mark.parametrize("routers, share, floor, want", [
    (0, 0.1, 1, 1), (5, 0.1, 1, 1), (19, 0.1, 1, 1), (20, 0.1, 1, 2), (1000, 0.1, 1, 100),
    (1000, 0.1, 200, 200), (10, 0.0, 3, 3), (10, 1.0, 1, 10),
])
def test_budget_is_a_share_of_the_routers_with_a_floor(routers, share, floor, want):
    assert breaker.budget(routers, replace(S, budget_share=share, budget_min=floor)) == want


@pytest.mark.parametrize("kind, open_, used, allowed, want", [
    (Rebuild.SILENT, False, 0, 2, Verdict.GO),
    (Rebuild.SILENT, True, 0, 2, Verdict.SUSPECT),
    (Rebuild.BOOT_TIMEOUT, True, 0, 2, Verdict.SUSPECT),
    (Rebuild.SILENT, False, 2, 2, Verdict.OVER_BUDGET),
    (Rebuild.BOOT_TIMEOUT, False, 3, 2, Verdict.OVER_BUDGET),
    # A failure the compute API reports is real: not suspected, but rationed.
    (Rebuild.INSTANCE, True, 0, 2, Verdict.GO),
    (Rebuild.INSTANCE, True, 2, 2, Verdict.OVER_BUDGET),
    # The operator's rebuild always goes through.
    (Rebuild.OPERATOR, True, 99, 2, Verdict.GO),
])
def test_admission(kind, open_, used, allowed, want):
    assert breaker.admit(kind, open_, used, allowed) is want


@pytest.mark.parametrize("rebuilds, allowed, want", [
    ([], 1, 0.0), ([NOW - 100], 2, 0.0), ([NOW - 100], 1, 200.0),
    ([NOW - 250, NOW - 100], 2, 50.0), ([NOW - 250, NOW - 100, NOW - 10], 2, 200.0),
])
def test_room_in_the_window(rebuilds, allowed, want):
    assert breaker.room_in(rebuilds, NOW, 300, allowed) == want


def test_in_window_ignores_empty_slots_and_old_times_not_another_workers_later_clock():
    assert breaker.in_window([0.0, NOW - 400, NOW - 5, NOW - 299, NOW + 1], NOW, 300) == [
        NOW - 299, NOW - 5, NOW + 1]


@pytest.mark.parametrize("open_for, want", [(0, 5), (3, 5), (20, 20), (59, 59), (600, 60)])
def test_suspected_routers_are_looked_at_less_and_less_often(open_for, want):
    assert breaker.suspect_backoff(NOW, NOW - open_for, 5, 60) == want


def test_a_held_decision_does_nothing_and_keeps_the_memory_it_had():
    memory = Memory(silent_count=2, silent_since=NOW - 10)
    rebuild = Decision(Step.STOP_VM, Status.RESTART, Outcome(OutcomeKind.REQUEUE, 1),
                       "appliance stopped answering", Memory(last_error="x"), Rebuild.SILENT)
    held = breaker.hold(rebuild, Verdict.SUSPECT, memory, 7, "9 of 10 fail")
    assert (held.step, held.status, held.memory, held.rebuild) == (
        Step.CALC_ACTION, Status.DEGRADED, memory, None)
    assert held.outcome == Outcome(OutcomeKind.REQUEUE, 7)
    assert "suspecting the orchestrator's own path" in held.reason and "9 of 10" in held.reason
    boot = replace(rebuild, rebuild=Rebuild.BOOT_TIMEOUT)
    assert breaker.hold(boot, Verdict.OVER_BUDGET, memory, 7, "").status is Status.BOOTING
    assert "budget" in breaker.hold(boot, Verdict.OVER_BUDGET, memory, 7, "").reason


# -- the plan names what kind of rebuild each replacement is --------------------------
P = replace(plan_defaults(), boot_timeout=100, boot_check_interval=1,
            appliance_failure_threshold=3, appliance_failure_period=10)
PORTS = frozenset({"mgmt"})
LIVE = Observed(exists=True, desired_digest="d", wanted_ports=PORTS,
                instance=Instance("i", "ACTIVE", PORTS),
                appliance=Appliance(True, "d"), now=NOW)
MUTE = Appliance(reachable=False, failure=Failure.TIMEOUT, answers_probe=False)


@pytest.mark.parametrize("observed, kind", [
    (LIVE, None),
    (replace(LIVE, force_rebuild=True), Rebuild.OPERATOR),
    (replace(LIVE, instance=Instance("i", "ERROR", PORTS)), Rebuild.INSTANCE),
    (replace(LIVE, instance=Instance("i", "SHUTOFF", PORTS)), Rebuild.INSTANCE),
    (replace(LIVE, appliance=Appliance(False), memory=Memory(boot_started=NOW - 200,
                                                             active_since=NOW - 150)),
     Rebuild.BOOT_TIMEOUT),
    (replace(LIVE, instance=Instance("i", "BUILD", PORTS), appliance=None,
             memory=Memory(boot_started=NOW - 700)), Rebuild.BOOT_TIMEOUT),
    (replace(LIVE, appliance=MUTE, memory=Memory(silent_count=2, silent_since=NOW - 10)),
     Rebuild.SILENT),
    (replace(LIVE, appliance=MUTE), None),  # first failure: only looked at again
    (replace(LIVE, instance=None, appliance=None), None),  # a boot is no rebuild
])
def test_plan_names_the_kind_of_rebuild(observed, kind):
    d = plan(observed, P)
    assert d.rebuild is kind
    assert (d.step is Step.STOP_VM) == (kind is not None)


# -- the board, shared by the parent and the workers ----------------------------------
def board(settings: BreakerSettings = S) -> BreakerBoard:
    return BreakerBoard(breaker_board.new_array(multiprocessing.get_context("spawn")),
                        settings)


SILENT_REBUILD = Decision(Step.STOP_VM, Status.RESTART, Outcome(OutcomeKind.REQUEUE, 1),
                          "appliance stopped answering", Memory(), Rebuild.SILENT)


def test_default_options_make_the_documented_breaker():
    assert breaker_settings(defaults()) == BreakerSettings(
        failure_share=0.5, min_samples=10, budget_share=0.1, budget_min=1, window=300.0)


def test_budget_is_shared_by_every_worker_on_the_board():
    parent = board()
    parent.publish(Suspicion(), routers=20)  # budget 2
    w1 = BreakerBoard(parent._a, S)
    w2 = BreakerBoard(parent._a, S)
    mem = Memory(silent_count=3)
    assert w1.admit(SILENT_REBUILD, mem, NOW, 5, 60) is SILENT_REBUILD
    assert w2.admit(SILENT_REBUILD, mem, NOW + 1, 5, 60) is SILENT_REBUILD
    held = w1.admit(SILENT_REBUILD, mem, NOW + 2, 5, 60)
    assert held.step is Step.CALC_ACTION and held.memory == mem
    assert held.outcome.after == pytest.approx(298)  # when the first leaves the window
    operator = replace(SILENT_REBUILD, rebuild=Rebuild.OPERATOR)
    assert w2.admit(operator, mem, NOW + 3, 5, 60) is operator
    view = parent.view(NOW + 3)
    assert (view["rebuilds_in_window"], view["budget"], view["held_budget"]) == (3, 2, 1)
    assert parent.view(NOW + 301)["rebuilds_in_window"] == 1  # the operator's is left
    assert w1.admit(SILENT_REBUILD, mem, NOW + 301, 5, 60) is SILENT_REBUILD


def test_an_open_breaker_holds_silent_rebuilds_and_says_why():
    b = board()
    b.publish(Suspicion(True, 9, 10, NOW - 30), routers=10)
    held = b.admit(SILENT_REBUILD, Memory(), NOW, 5, 60)
    assert held.step is Step.CALC_ACTION and held.outcome.after == 30
    assert "9 of 10 appliances checked fail" in held.reason
    view = b.view(NOW)
    assert view["state"] == "open" and view["since"] == NOW - 30 and view["open_for"] == 30
    assert (view["failed"], view["checked"], view["held_suspect"]) == (9, 10, 1)
    assert "own path to the appliances" in view["meaning"]
    assert view["rebuilds_in_window"] == 0


def test_the_same_replacement_decided_again_passes_a_spent_budget_uncounted():
    b = board()
    b.publish(Suspicion(), routers=5)  # budget 1
    assert b.admit(SILENT_REBUILD, Memory(), NOW, 5, 60) is SILENT_REBUILD
    again = replace(SILENT_REBUILD, rebuild=Rebuild.INSTANCE)
    assert b.admit(again, Memory(), NOW + 5, 5, 60, charge=False) is again
    assert b.view(NOW + 5)["rebuilds_in_window"] == 1
    assert b.admit(again, Memory(), NOW + 6, 5, 60).step is Step.CALC_ACTION  # charged: held


def test_an_open_breaker_holds_the_same_replacement_decided_again():
    b = board()
    b.publish(Suspicion(True, 9, 10, NOW - 30), routers=10)
    held = b.admit(SILENT_REBUILD, Memory(), NOW, 5, 60, charge=False)
    assert held.step is Step.CALC_ACTION and "9 of 10 appliances checked fail" in held.reason


def test_budget_exhaustion_is_logged_once_per_window(caplog):
    b = board()
    b.publish(Suspicion(), routers=5)  # budget 1
    b.admit(SILENT_REBUILD, Memory(), NOW, 5, 60)
    with caplog.at_level(logging.WARNING, logger="astara.orchestrator.breaker_board"):
        for t in range(10):
            b.admit(SILENT_REBUILD, Memory(), NOW + 1 + t, 5, 60)
        assert len(caplog.records) == 1
        assert "rebuild budget spent: 1 appliances replaced in the last 300 s" in \
            caplog.records[0].getMessage()
        b.admit(SILENT_REBUILD, Memory(), NOW + 200, 5, 60)
        assert len(caplog.records) == 1
        b.admit(SILENT_REBUILD, Memory(), NOW + 301, 5, 60)  # a rebuild: room again
        b.admit(SILENT_REBUILD, Memory(), NOW + 302, 5, 60)
        assert len(caplog.records) == 2
    assert b.view(NOW + 302)["held_budget"] == 12


def test_the_parent_logs_one_line_when_it_opens_and_one_when_it_closes(caplog):
    b = board()
    views = [{"check": {"at": NOW, "ok": False}}] * 8 + [{"check": None}] + \
        [{"check": {"at": NOW, "ok": True}}] * 2
    assert len(breaker_board.checks(views)) == 10
    with caplog.at_level(logging.INFO, logger="astara.orchestrator.breaker_board"):
        assert breaker_board.judge(b, breaker_board.checks(views), 11, NOW).open
        assert breaker_board.judge(b, breaker_board.checks(views), 11, NOW + 1).since == NOW
        [opened] = caplog.records
        assert "rebuild breaker OPEN: status checks to 8 of 10 appliances" in \
            opened.getMessage()
        assert "own path to the appliances" in opened.getMessage()
        good = [{"check": {"at": NOW + 5, "ok": True}}] * 10
        assert not breaker_board.judge(b, breaker_board.checks(good), 11, NOW + 5).open
        assert len(caplog.records) == 2
        assert "rebuild breaker closed" in caplog.records[1].getMessage()
    assert b.view(NOW + 5)["state"] == "closed" and b.view(NOW + 5)["open_for"] is None


def bounded(call, seconds: float = 20.0):
    """``call()``'s result, or a failure if it is still waiting after ``seconds``."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(call()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked on the board's lock"
    return out[0]


def test_a_lock_never_released_blocks_neither_the_parent_nor_a_worker(caplog):
    parent = board()
    parent.publish(Suspicion(), routers=20)
    held, done = threading.Event(), threading.Event()

    def holder() -> None:  # like a worker killed while inside admit
        with parent._a.get_lock():
            held.set()
            done.wait()

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    assert held.wait(10)
    try:
        worker = BreakerBoard(parent._a, S)
        worker.lock_timeout = parent.lock_timeout = 0.05
        sus = bounded(lambda: breaker_board.judge(parent, checks(1, 9), 20, NOW))
        assert sus.open and parent.suspicion().open  # the verdict is written regardless
        with caplog.at_level(logging.WARNING, logger="astara.orchestrator.breaker_board"):
            d = bounded(lambda: worker.admit(SILENT_REBUILD, Memory(), NOW, 5, 60))
        assert d.step is Step.CALC_ACTION and d.outcome.after == 5  # held, looked at later
        assert "lock" in caplog.text
        view = bounded(lambda: parent.view(NOW))
        assert view["state"] == "open" and view["board_locked"] is True
    finally:
        done.set()
        t.join(10)
    assert parent.view(NOW)["board_locked"] is False
