"""The reconcile-servers decision table: stored rows x what the host shows x jobs in flight."""

from __future__ import annotations

import pytest

from astara.compute_service.backend import Observed
from astara.compute_service.reconcile import Repair, Stored, decide

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
