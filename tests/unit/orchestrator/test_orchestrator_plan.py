"""plan() as a truth table: observed state -> step, status, when to look again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from astara.orchestrator.opts import plan_defaults
from astara.orchestrator.reconcile.model import (
    Appliance,
    Failure,
    Instance,
    Memory,
    Observed,
    OutcomeKind,
    Status,
    Step,
)
from astara.orchestrator.reconcile.plan import plan
from astara.orchestrator.reconcile.silence import Verdict, judge, still_forwards

S = replace(plan_defaults(), boot_timeout=100, build_timeout=600, boot_check_interval=1,
            reboot_error_threshold=3, error_cooldown=60, max_error_cooldown=240,
            health_check_period=30, appliance_failure_threshold=3,
            appliance_failure_period=10)
PORTS = frozenset({"mgmt", "p1"})
ACTIVE = Instance("i1", "ACTIVE", PORTS)
OK = Appliance(reachable=True, config_digest="d1", healthy=True)
SILENT = Appliance(reachable=False, failure=Failure.TIMEOUT, answers_probe=False)
BASE = Observed(exists=True, desired_digest="d1", wanted_ports=PORTS, instance=ACTIVE,
                appliance=OK, now=1000.0)


def obs(**kw) -> Observed:
    return replace(BASE, **kw)


CASES = [
    # name, observed, step, status, outcome kind, after
    ("healthy", obs(), Step.ALIVE, Status.CONFIGURED, OutcomeKind.REQUEUE, 30),
    ("debug wins over everything", obs(debug=True, exists=False), Step.EXIT, Status.DOWN,
     OutcomeKind.DONE, 0),
    # A boot is looked at again when the compute service says the instance is ACTIVE
    # (the router is woken then): until then only a safety net, 4 check intervals.
    ("new router", obs(instance=None, appliance=None), Step.CREATE_VM, Status.BOOTING,
     OutcomeKind.REQUEUE, 4),
    ("no config yet", obs(desired_digest=None, instance=None), Step.EXIT, Status.DOWN,
     OutcomeKind.REQUEUE, 30),
    ("still building", obs(instance=Instance("i1", "BUILD", PORTS), appliance=None,
                           memory=Memory(boot_started=990)),
     Step.CHECK_BOOT, Status.BOOTING, OutcomeKind.REQUEUE, 4),
    # ACTIVE but the agent does not answer yet: soon, backing off with the boot's age.
    ("active, agent not up yet", obs(appliance=Appliance(reachable=False),
                                     memory=Memory(boot_started=999.6)),
     Step.CHECK_BOOT, Status.BOOTING, OutcomeKind.REQUEUE, 0.1),
    ("active 2 s after boot, agent not up yet", obs(appliance=Appliance(reachable=False),
                                                    memory=Memory(boot_started=998)),
     Step.CHECK_BOOT, Status.BOOTING, OutcomeKind.REQUEUE, 0.5),
    ("active long after boot, agent not up yet", obs(appliance=Appliance(reachable=False),
                                                     memory=Memory(boot_started=950)),
     Step.CHECK_BOOT, Status.BOOTING, OutcomeKind.REQUEUE, 4),
    # boot_timeout (100) counts from the instance going ACTIVE, not from the boot
    # request: a busy compute host queues boots, and replacing them adds to its queue.
    ("boot deadline passed", obs(appliance=Appliance(reachable=False),
                                 memory=Memory(boot_started=800, active_since=850)),
     Step.STOP_VM, Status.RESTART, OutcomeKind.REQUEUE, 1),
    ("ACTIVE only now, long after the boot request", obs(
        appliance=Appliance(reachable=False), memory=Memory(boot_started=800)),
     Step.CHECK_BOOT, Status.BOOTING, OutcomeKind.REQUEUE, 4),
    ("still building past boot_timeout, within build_timeout", obs(
        instance=Instance("i1", "BUILD", PORTS), appliance=None,
        memory=Memory(boot_started=800)), Step.CHECK_BOOT, Status.BOOTING,
     OutcomeKind.REQUEUE, 4),
    ("still building past build_timeout", obs(
        instance=Instance("i1", "BUILD", PORTS), appliance=None,
        memory=Memory(boot_started=1000 - 601)), Step.STOP_VM, Status.RESTART,
     OutcomeKind.REQUEUE, 1),
    # A working appliance that fails its status call: replaced only after 3 failed looks
    # spread over >= 10 s (spaced 5 s apart), and never while it still answers a probe.
    ("stopped answering: first failure", obs(appliance=SILENT), Step.CALC_ACTION,
     Status.DEGRADED, OutcomeKind.REQUEUE, 5),
    ("a 5xx is a failure too", obs(appliance=Appliance(False, failure=Failure.ERROR,
                                                       http_status=503)),
     Step.CALC_ACTION, Status.DEGRADED, OutcomeKind.REQUEUE, 5),
    ("second failure", obs(appliance=SILENT, memory=Memory(silent_count=1, silent_since=995)),
     Step.CALC_ACTION, Status.DEGRADED, OutcomeKind.REQUEUE, 5),
    ("third failure, too soon", obs(appliance=SILENT, memory=Memory(
        silent_count=2, silent_since=995)), Step.CALC_ACTION, Status.DEGRADED,
     OutcomeKind.REQUEUE, 5),
    ("third failure over the period, nothing answers", obs(appliance=SILENT, memory=Memory(
        silent_count=2, silent_since=990)), Step.STOP_VM, Status.RESTART,
     OutcomeKind.REQUEUE, 1),
    ("silent over the period but still answers the probe", obs(
        appliance=replace(SILENT, answers_probe=True),
        memory=Memory(silent_count=5, silent_since=900)),
     Step.CALC_ACTION, Status.DEGRADED, OutcomeKind.REQUEUE, 30),
    ("silent over the period, answers but instance not ACTIVE", obs(
        instance=Instance("i1", "REBOOT", PORTS), appliance=None,
        memory=Memory(silent_count=2, silent_since=990)),
     Step.STOP_VM, Status.RESTART, OutcomeKind.REQUEUE, 1),
    ("instance error", obs(instance=Instance("i1", "ERROR", PORTS)), Step.STOP_VM,
     Status.RESTART, OutcomeKind.REQUEUE, 1),
    ("instance shut off", obs(instance=Instance("i1", "SHUTOFF", PORTS)), Step.STOP_VM,
     Status.RESTART, OutcomeKind.REQUEUE, 1),
    ("old instance going away", obs(instance=Instance("i1", "ACTIVE", PORTS, deleting=True)),
     Step.CHECK_BOOT, Status.RESTART, OutcomeKind.REQUEUE, 1),
    ("interface added", obs(wanted_ports=PORTS | {"p2"}), Step.REPLUG_VM, Status.REPLUG,
     OutcomeKind.REQUEUE, 0),
    ("config changed", obs(desired_digest="d2"), Step.CONFIGURE_VM, Status.UP,
     OutcomeKind.REQUEUE, 1),
    ("appliance lost a daemon", obs(appliance=replace(OK, healthy=False)), Step.CONFIGURE_VM,
     Status.UP, OutcomeKind.REQUEUE, 1),
    ("router deleted", obs(exists=False), Step.STOP_VM, Status.GONE, OutcomeKind.REQUEUE, 1),
    ("router deleted, appliance going", obs(
        exists=False, instance=Instance("i1", "ACTIVE", PORTS, deleting=True)),
     Step.CHECK_BOOT, Status.GONE, OutcomeKind.REQUEUE, 1),
    ("router and appliance gone", obs(exists=False, instance=None), Step.EXIT, Status.GONE,
     OutcomeKind.TERMINAL, 0),
    ("admin down", obs(admin_up=False), Step.STOP_VM, Status.DOWN, OutcomeKind.REQUEUE, 1),
    ("admin down, nothing running", obs(admin_up=False, instance=None), Step.EXIT,
     Status.DOWN, OutcomeKind.DONE, 0),
    ("too many failed boots", obs(instance=None, memory=Memory(failed_boots=3)), Step.EXIT,
     Status.ERROR, OutcomeKind.REQUEUE, 60),
    ("in error cooldown", obs(instance=None, memory=Memory(
        failed_boots=3, error_until=1050, error_count=1)),
     Step.EXIT, Status.ERROR, OutcomeKind.REQUEUE, 50),
    ("cooldown over", obs(instance=None, memory=Memory(
        failed_boots=3, error_until=999, error_count=1)),
     Step.CLEAR_ERROR, Status.DOWN, OutcomeKind.REQUEUE, 0),
    ("operator forces out of error", obs(instance=None, force_rebuild=True, memory=Memory(
        failed_boots=3, error_until=5000, error_count=1)),
     Step.CLEAR_ERROR, Status.DOWN, OutcomeKind.REQUEUE, 0),
    ("rebuild requested", obs(force_rebuild=True), Step.STOP_VM, Status.RESTART,
     OutcomeKind.REQUEUE, 1),
]


@pytest.mark.parametrize("name, observed, step, status, kind, after", CASES,
                         ids=[c[0] for c in CASES])
def test_plan(name, observed, step, status, kind, after):
    decision = plan(observed, S)
    assert (decision.step, decision.status, decision.outcome.kind) == (step, status, kind)
    assert decision.outcome.after == pytest.approx(after)
    assert decision.reason


def test_failed_boot_is_counted_and_remembered():
    d = plan(obs(appliance=Appliance(reachable=False), memory=Memory(
        boot_started=800, active_since=850, failed_boots=1)), S)
    assert d.memory.failed_boots == 2
    assert d.memory.last_error == "boot timeout"
    assert d.memory.active_since is None  # the next boot's clock starts afresh


def test_the_boot_clock_starts_when_the_instance_is_first_seen_active():
    d = plan(obs(appliance=Appliance(reachable=False), memory=Memory(boot_started=800)), S)
    assert d.memory.active_since == 1000
    later = replace(BASE, appliance=Appliance(reachable=False), memory=d.memory, now=1099)
    assert plan(later, S).step is Step.CHECK_BOOT
    assert plan(replace(later, now=1101), S).step is Step.STOP_VM


def test_error_cooldown_doubles_and_is_capped():
    m = Memory(failed_boots=3)
    afters = []
    for _ in range(4):
        d = plan(obs(instance=None, memory=m), S)
        afters.append(d.outcome.after)
        m = replace(d.memory, failed_boots=3, error_until=None)
    assert afters == [60, 120, 240, 240]


def test_boot_records_start_and_success_clears_failures():
    d = plan(obs(instance=None, memory=Memory(failed_boots=2)), S)
    assert d.memory.boot_started == 1000
    d = plan(obs(desired_digest="d2", memory=d.memory), S)
    assert d.step is Step.CONFIGURE_VM
    assert d.memory.failed_boots == 0 and d.memory.boot_started is None


def test_status_maps_to_neutron_router_status():
    assert Status.CONFIGURED.neutron == "ACTIVE"
    assert Status.BOOTING.neutron == "BUILD"
    assert Status.ERROR.neutron == "ERROR"
    assert Status.DOWN.neutron == "DOWN"


JUDGE = [
    # name, failures counted, first at, now, still forwards, verdict (threshold 3, 10 s)
    ("one failure", 1, 1000, 1000, False, Verdict.WAIT),
    ("two back to back", 2, 1000, 1000.5, False, Verdict.WAIT),
    ("three within the period", 3, 1000, 1009.9, False, Verdict.WAIT),
    ("three over the period", 3, 1000, 1010, False, Verdict.REPLACE),
    ("many over the period, still forwards", 9, 1000, 1100, True, Verdict.KEEP),
    ("few but long ago, still forwards", 2, 0, 1100, True, Verdict.WAIT),
]


@pytest.mark.parametrize("name, count, since, now, forwards, verdict", JUDGE,
                         ids=[c[0] for c in JUDGE])
def test_judge_silence(name, count, since, now, forwards, verdict):
    m = Memory(silent_count=count, silent_since=since)
    assert judge(m, now, forwards, threshold=3, period=10) is verdict


@pytest.mark.parametrize("status, probe, forwards", [
    ("ACTIVE", True, True), ("ACTIVE", False, False), ("ACTIVE", None, False),
    ("REBOOT", True, False), ("SHUTOFF", True, False)])
def test_still_forwards_needs_an_active_instance_and_an_answer(status, probe, forwards):
    assert still_forwards(status, replace(SILENT, answers_probe=probe)) is forwards


def test_silence_is_remembered_and_forgotten_once_it_answers():
    d = plan(obs(appliance=SILENT), S)
    assert (d.memory.silent_count, d.memory.silent_since) == (1, 1000)
    d = plan(obs(appliance=SILENT, memory=d.memory, now=1005), S)
    assert (d.memory.silent_count, d.memory.silent_since) == (2, 1000)
    d = plan(obs(memory=d.memory, now=1010), S)
    assert d.step is Step.ALIVE
    assert (d.memory.silent_count, d.memory.silent_since) == (0, None)


def test_replacing_a_silent_appliance_says_why():
    d = plan(obs(appliance=Appliance(False, failure=Failure.ERROR, http_status=502),
                 memory=Memory(silent_count=2, silent_since=990)), S)
    assert d.step is Step.STOP_VM
    assert "502" in d.reason and "502" in (d.memory.last_error or "")
    assert d.memory.silent_count == 0
