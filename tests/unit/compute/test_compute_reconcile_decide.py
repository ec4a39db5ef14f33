"""The reconcile-servers decision table: stored rows x what the host shows x jobs in flight."""

from __future__ import annotations

import pytest

from astara.compute_service.agent.backend import Observed
from astara.compute_service.agent.reconcile import Repair, Stored, decide

UP, DOWN = Observed("i", True), Observed("i", False)
ERROR = {"state": "error", "power_state": 0, "new_task_state": None}
ACTIVE = {"state": "active", "power_state": 1, "new_task_state": None}
STOPPED = {"state": "stopped", "power_state": 4, "new_task_state": None}


def row(vm="active", task=None, power=1, deleted=False) -> Stored:
    return Stored("i", vm, task, power, deleted)


@pytest.mark.parametrize("stored, seen, busy, expected", [
    # in agreement: nothing to do
    (row(), UP, False, []),
    (row("stopped", power=4), DOWN, False, []),
    (row("error", power=0), None, False, []),
    # stale: stored, gone from the host
    (row(), None, False, [Repair("stale", "i", "update", ERROR, "active but not on this host")]),
    (row("stopped", power=4), None, False,
     [Repair("stale", "i", "update", ERROR, "stopped but not on this host")]),
    # unsynced: the host is the truth
    (row(), DOWN, False, [Repair("unsynced", "i", "update", STOPPED,
                                 "stored power 1, host running=False")]),
    (row("stopped", power=4), UP, False,
     [Repair("unsynced", "i", "update", ACTIVE, "stored power 4, host running=True")]),
    # pending: a task no job will finish
    (row(task="powering-off"), DOWN, False,
     [Repair("pending", "i", "update", STOPPED, "task powering-off with no job")]),
    (row("building", "spawning", 0), None, False,
     [Repair("pending", "i", "update", ERROR, "task spawning with no job")]),
    (row(task="deleting"), None, False,
     [Repair("pending", "i", "delete.end", {}, "task deleting with no job")]),
    (row(task="deleting"), UP, False,
     [Repair("pending", "i", "delete.end", {}, "task deleting with no job", teardown=True)]),
    # a job in flight: hands off, whatever the drift
    (row(task="powering-off"), UP, True, []),
    (row(), None, True, []),
    (row(deleted=True), UP, True, []),
    # orphans: on the host, not (or no longer) stored
    (row(deleted=True), UP, False,
     [Repair("orphans", "i", None, {}, "on this host, not in the database", teardown=True)]),
    (None, DOWN, False,
     [Repair("orphans", "i", None, {}, "on this host, not in the database", teardown=True)]),
])
def test_decide(stored, seen, busy, expected):
    rows = [] if stored is None else [stored]
    observed = {} if seen is None else {"i": seen}
    assert decide(rows, observed, {"i"} if busy else set()) == expected


P1 = {"port_id": "p1", "mac_address": "FA:16:3E:00:00:01"}
P2 = {"port_id": "p2", "mac_address": "fa:16:3e:00:00:02"}


def plugged(*macs: str, running: bool = True) -> Observed:
    return Observed("i", running, macs)


@pytest.mark.parametrize("vm, seen, expected_detail, replug", [
    # every stored port plugged (MACs compare without case): nothing to do
    ("active", plugged("fa:16:3e:00:00:01", "fa:16:3e:00:00:02"), None, ()),
    # a port lost its interface: plug it again, running or stopped
    ("active", plugged("fa:16:3e:00:00:01"), "not plugged: p2", (P2,)),
    ("stopped", plugged(running=False), "not plugged: p1, p2", (P1, P2)),
    # an interface nobody stored: reported, nothing removed
    ("active", plugged("fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:09"),
     "interfaces the database does not know: fa:16:3e:00:00:09", ()),
])
def test_decide_ports(vm, seen, expected_detail, replug):
    power = 1 if vm == "active" else 4
    stored = Stored("i", vm, None, power, ports=(P1, P2))
    got = decide([stored], {"i": seen}, set())
    if expected_detail is None:
        assert got == []
    else:
        assert got == [Repair("ports", "i", None, {}, expected_detail, replug=replug)]


@pytest.mark.parametrize("profile, p1, filtered, replug", [
    # a tenant port with port security whose filter is gone: plugged again (reloads it)
    ("tenant", {**P1, "port_security_enabled": True}, ("fa:16:3e:00:00:02",), "p1"),
    # a record stored before the flag was kept: a tenant's port is filtered
    ("tenant", P1, ("fa:16:3e:00:00:02",), "p1"),
    ("tenant", P1, ("FA:16:3E:00:00:01", "fa:16:3e:00:00:02"), None),
    # port security disabled, or an old appliance record: no filter wanted
    ("tenant", {**P1, "port_security_enabled": False}, ("fa:16:3e:00:00:02",), None),
    ("appliance", P1, ("fa:16:3e:00:00:02",), None),
    ("appliance", {**P1, "port_security_enabled": True}, ("fa:16:3e:00:00:02",), "p1"),
    # a backend that does not filter reports None: never drift
    ("tenant", P1, None, None),
])
def test_decide_ports_replugs_a_port_whose_filter_is_missing(profile, p1, filtered, replug):
    stored = Stored("i", "active", None, 1, profile=profile, ports=(p1, P2))
    seen = Observed("i", True, ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02"), profile,
                    filtered=filtered)
    got = decide([stored], {"i": seen}, set())
    if replug is None:
        assert got == []
    else:
        assert got == [Repair("ports", "i", None, {}, f"no anti-spoofing filter: {replug}",
                              replug=(p1,))]


def test_decide_ports_leaves_busy_and_building_instances_alone():
    stored = Stored("i", "building", None, 0, ports=(P1,))
    assert decide([stored], {"i": plugged()}, set()) == []
    active = Stored("i", "active", None, 1, ports=(P1,))
    assert decide([active], {"i": plugged()}, {"i"}) == []


@pytest.mark.parametrize("vm, power, seen, expected", [
    ("active", 1, Observed("i", True, missing=("dhclient-eth0",)),
     [Repair("processes", "i", None, {}, "not running: dhclient-eth0", restart=True)]),
    # a stopped instance runs nothing: nothing is missing
    ("stopped", 4, Observed("i", False), []),
    # the whole instance is down: that is "unsynced", not a process to restart
    ("active", 1, Observed("i", False, missing=("dhclient-eth0",)),
     [Repair("unsynced", "i", "update", STOPPED, "stored power 1, host running=False")]),
])
def test_decide_processes(vm, power, seen, expected):
    assert decide([Stored("i", vm, None, power)], {"i": seen}, set()) == expected


def test_an_instance_another_host_holds_is_no_orphan():
    """Two agents on one machine see each other's namespaces: only an unknown one goes."""
    seen = {"mine": UP, "theirs": UP, "nobody": UP}
    stored = [Stored("mine", "active", None, 1)]
    repairs = decide(stored, seen, set(), elsewhere=frozenset({"theirs"}))
    assert [(r.kind, r.instance_id) for r in repairs] == [("orphans", "nobody")]
