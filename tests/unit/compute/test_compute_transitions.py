"""The dispatcher's rules as tables: ordering, drops, state changes and statuses."""

from __future__ import annotations

import pytest

from astara.compute_service import transitions as T
from astara.compute_service.events import Event

ID = "5e1ed4fb-c14c-4b7b-8010-906c05b929a9"
TS = "2026-11-22 16:03:48.677288"


def ev(action: str, seq: int, **payload) -> Event:
    return Event(f"compute.instance.{action}", ID, seq, "h1", TS, {"instance_id": ID, **payload})


BUILDING = T.State("building", "scheduling", 0, 10)
ACTIVE = T.State("active", None, 1, 20)
STOPPING = T.State("active", "powering-off", 1, 20)
DELETING = T.State("active", "deleting", 1, 20)
GONE = T.State("deleted", None, 0, 30, deleted=True)


@pytest.mark.parametrize("state,event,reason", [
    (None, ev("create.end", 1), "unknown instance"),
    (ACTIVE, ev("power_off.end", 20), "not newer: sequence 20 <= stored 20"),
    (ACTIVE, ev("power_off.end", 19), "not newer: sequence 19 <= stored 20"),
    (BUILDING, ev("create.start", 3), "not newer: sequence 3 <= stored 10"),
    (GONE, ev("create.end", 31), "instance already deleted"),
    (GONE, ev("delete.end", 30), "not newer: sequence 30 <= stored 30"),
])
def test_dropped(state, event, reason):
    assert T.apply(state, event) == T.Dropped(reason)


@pytest.mark.parametrize("state,event,expected", [
    (BUILDING, ev("create.start", 11),
     {"seq": 11, "vm_state": "building", "task_state": "spawning", "power_state": 0}),
    (BUILDING, ev("create.end", 12),
     {"seq": 12, "vm_state": "active", "task_state": None, "power_state": 1,
      "launched_at": TS, "fault": None}),
    (STOPPING, ev("power_off.end", 21),
     {"seq": 21, "vm_state": "stopped", "task_state": None, "power_state": 4}),
    (T.State("stopped", "powering-on", 4, 20), ev("power_on.end", 22),
     {"seq": 22, "vm_state": "active", "task_state": None, "power_state": 1}),
    (ACTIVE, ev("reboot.start", 21, reboot_type="HARD"),
     {"seq": 21, "task_state": "rebooting_hard"}),
    (ACTIVE, ev("reboot.start", 21, reboot_type="SOFT"), {"seq": 21, "task_state": "rebooting"}),
    (DELETING, ev("delete.end", 25),
     {"seq": 25, "vm_state": "deleted", "task_state": None, "power_state": 0,
      "deleted": True, "terminated_at": TS, "metadata_": {}}),
    # a delete asked for while a reconcile found the instance gone survives its ERROR
    (DELETING, ev("update", 21, state="error", power_state=0, new_task_state=None),
     {"seq": 21, "vm_state": "error", "power_state": 0, "task_state": "deleting"}),
    (ACTIVE, ev("update", 21, state="error", power_state=0, new_task_state=None),
     {"seq": 21, "vm_state": "error", "power_state": 0, "task_state": None}),
    # a delete asked for during the build survives the build's end
    (T.State("building", "deleting", 0, 10), ev("create.end", 12),
     {"seq": 12, "vm_state": "active", "task_state": "deleting", "power_state": 1,
      "launched_at": TS, "fault": None}),
    (T.State("active", None, 1, 20, ports=({"port_id": "a"},)),
     ev("interface_attach.end", 21, port={"port_id": "p"}),
     {"seq": 21, "task_state": None, "ports": [{"port_id": "a"}, {"port_id": "p"}]}),
    (T.State("active", None, 1, 20, ports=({"port_id": "a"}, {"port_id": "p"})),
     ev("interface_detach.end", 21, port={"port_id": "a"}),
     {"seq": 21, "task_state": None, "ports": [{"port_id": "p"}]}),
    (ACTIVE, ev("update", 21, state="stopped", power_state=4, new_task_state=None),
     {"seq": 21, "vm_state": "stopped", "power_state": 4, "task_state": None}),
])
def test_applied(state, event, expected):
    assert T.apply(state, event) == T.Applied(expected)


@pytest.mark.parametrize("state,action,changes", [
    (BUILDING, "create.error", {"vm_state": "error", "power_state": 0, "task_state": None}),
    (STOPPING, "power_off.error", {"task_state": None}),
    (DELETING, "delete.error", {"task_state": "deleting"}),
])
def test_errors_record_a_fault(state, action, changes):
    out = T.apply(state, ev(action, 99, code=500, message="boom", details="trace"))
    assert isinstance(out, T.Applied)
    assert out.changes["fault"] == {"code": 500, "message": "boom", "details": "trace",
                                    "created": TS}
    assert {k: out.changes[k] for k in changes} == changes


def test_out_of_order_sequence_keeps_the_newest():
    state = T.State("building", None, 0, 0)
    stream = [ev("create.start", 11), ev("create.end", 12), ev("create.start", 11)]
    for event in sorted(stream[:2], key=lambda e: -e.seq) + stream[2:]:
        out = T.apply(state, event)
        if isinstance(out, T.Applied):
            c = out.changes
            state = T.State(c.get("vm_state", state.vm_state),
                            c.get("task_state", state.task_state),
                            c.get("power_state", state.power_state), c["seq"])
    assert (state.vm_state, state.power_state, state.seq) == ("active", 1, 12)


@pytest.mark.parametrize("vm,task,status", [
    ("building", "scheduling", "BUILD"), ("building", None, "BUILD"),
    ("active", None, "ACTIVE"), ("active", "powering-off", "ACTIVE"),
    ("active", "rebooting", "REBOOT"), ("active", "rebooting_hard", "HARD_REBOOT"),
    ("active", "deleting", "ACTIVE"), ("stopped", None, "SHUTOFF"),
    ("stopped", "powering-on", "SHUTOFF"), ("error", None, "ERROR"),
    ("deleted", None, "DELETED"),
])
def test_status(vm, task, status):
    assert T.status(vm, task) == status


@pytest.mark.parametrize("action,vm,task,message", [
    ("start", "active", None, f"Cannot 'start' instance {ID} while it is in vm_state active"),
    ("stop", "stopped", None, f"Cannot 'stop' instance {ID} while it is in vm_state stopped"),
    ("stop", "active", "powering-off",
     f"Cannot 'stop' instance {ID} while it is in task_state powering-off"),
    ("reboot", "building", None,
     f"Cannot 'reboot' instance {ID} while it is in vm_state building"),
    ("start", "stopped", None, None), ("stop", "active", None, None),
    ("reboot", "stopped", None,
     f"Cannot 'reboot' instance {ID} while it is in vm_state stopped"),
    ("reboot", "error", None, f"Cannot 'reboot' instance {ID} while it is in vm_state error"),
    ("reboot_hard", "stopped", None, None), ("reboot_hard", "error", None, None),
    ("reboot_hard", "building", None,
     f"Cannot 'reboot' instance {ID} while it is in vm_state building"),
])
def test_check_action(action, vm, task, message):
    assert T.check_action(action, ID, vm, task) == message
