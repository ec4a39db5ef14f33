"""Pure instance state rules: Nova status derivation, action checks, event application.

``status`` derives what Nova shows from the stored vm state and the pending task;
``check_action`` tells the API whether an action conflicts (409) with the state;
``apply`` is the dispatcher's decision for one event: ``Applied(changes)`` or
``Dropped(reason)``. No I/O, no clock: the event carries its own timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from astara.compute_service.events import Event

NOSTATE, RUNNING, SHUTDOWN = 0, 1, 4

# event action -> (vm_state, task_state, power_state); None keeps the stored value,
# KEEP_TASK marks "leave task_state as it is".
KEEP = object()
RULES: dict[str, tuple[Any, Any, Any]] = {
    "create.start": ("building", "spawning", NOSTATE),
    "create.end": ("active", None, RUNNING),
    "create.error": ("error", None, NOSTATE),
    "power_off.start": (KEEP, "powering-off", KEEP),
    "power_off.end": ("stopped", None, SHUTDOWN),
    "power_on.start": (KEEP, "powering-on", KEEP),
    "power_on.end": ("active", None, RUNNING),
    "reboot.start": (KEEP, KEEP, KEEP),
    "reboot.end": ("active", None, RUNNING),
    "delete.start": (KEEP, "deleting", KEEP),
    "delete.end": ("deleted", None, NOSTATE),
    "interface_attach.end": (KEEP, None, KEEP),
    "interface_detach.end": (KEEP, None, KEEP),
}


@dataclass(frozen=True)
class State:
    vm_state: str
    task_state: str | None
    power_state: int
    seq: int
    deleted: bool = False
    ports: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Applied:
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dropped:
    reason: str


def status(vm_state: str, task_state: str | None) -> str:
    if vm_state == "building":
        return "BUILD"
    if vm_state == "active":
        if task_state == "rebooting":
            return "REBOOT"
        if task_state == "rebooting_hard":
            return "HARD_REBOOT"
        return "ACTIVE"
    return {"stopped": "SHUTOFF", "error": "ERROR", "deleted": "DELETED"}.get(
        vm_state, "UNKNOWN")


STATUS_FILTER = {"BUILD": ["building"], "ACTIVE": ["active"], "SHUTOFF": ["stopped"],
                 "ERROR": ["error"], "DELETED": ["deleted"], "REBOOT": ["active"],
                 "HARD_REBOOT": ["active"]}

# action -> (vm_states it is allowed from, task_state it sets). As in Nova, a soft
# reboot needs a running server; a hard one also revives a stopped or failed one.
ACTIONS = {
    "start": (("stopped",), "powering-on"),
    "stop": (("active", "error"), "powering-off"),
    "reboot": (("active",), "rebooting"),
    "reboot_hard": (("active", "stopped", "error"), "rebooting_hard"),
    "attach_interface": (("active", "stopped"), None),
    "detach_interface": (("active", "stopped"), None),
}


def check_action(action: str, instance_id: str, vm_state: str,
                 task_state: str | None) -> str | None:
    """Nova's conflict message for ``action`` in this state, or None when allowed."""
    allowed, _ = ACTIONS[action]
    action = action.removesuffix("_hard")  # Nova names both reboots 'reboot'
    if task_state is not None:
        return (f"Cannot '{action}' instance {instance_id} while it is in task_state "
                f"{task_state}")
    if vm_state not in allowed:
        return f"Cannot '{action}' instance {instance_id} while it is in vm_state {vm_state}"
    return None


def apply(state: State | None, event: Event) -> Applied | Dropped:
    """The dispatcher's decision for ``event`` given the stored ``state``."""
    if state is None:
        return Dropped("unknown instance")
    if event.seq <= state.seq:
        return Dropped(f"not newer: sequence {event.seq} <= stored {state.seq}")
    if state.deleted:
        return Dropped("instance already deleted")
    action = event.action
    changes: dict[str, Any] = {"seq": event.seq}
    if action == "update":
        seen = _observed(event.payload)
        if state.task_state == "deleting" and "task_state" in seen:
            seen["task_state"] = "deleting"  # a pending delete outlives what is observed
        return Applied(changes | seen)
    if action.endswith(".error"):
        changes["task_state"] = None if state.task_state != "deleting" else "deleting"
        changes["fault"] = _fault(event)
        if action == "create.error":
            changes.update(vm_state="error", power_state=NOSTATE)
        return Applied(changes)
    vm, task, power = RULES[action]
    if action == "reboot.start":
        task = "rebooting_hard" if event.payload.get("reboot_type") == "HARD" else "rebooting"
    if vm is not KEEP:
        changes["vm_state"] = vm
    if power is not KEEP:
        changes["power_state"] = power
    if task is not KEEP:
        # A pending delete outlives every step but the delete's own end.
        keep_delete = state.task_state == "deleting" and action != "delete.end"
        changes["task_state"] = "deleting" if keep_delete else task
    if action == "create.end":
        changes["launched_at"] = event.timestamp
        changes["fault"] = None
    if action == "delete.end":  # a deleted server's metadata goes with it, as in Nova
        changes.update(deleted=True, terminated_at=event.timestamp, metadata_={})
    port = event.payload.get("port")
    if action.startswith("interface_") and isinstance(port, dict) and "port_id" in port:
        kept = [p for p in state.ports if p.get("port_id") != port["port_id"]]
        changes["ports"] = kept + [port] if action == "interface_attach.end" else kept
    if isinstance(event.payload.get("console"), str):
        changes["console"] = event.payload["console"]
    return Applied(changes)


def _observed(payload: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(payload.get("state"), str):
        out["vm_state"] = payload["state"]
    if isinstance(payload.get("power_state"), int):
        out["power_state"] = payload["power_state"]
    if "new_task_state" in payload:
        out["task_state"] = payload["new_task_state"] or None
    return out


def _fault(event: Event) -> dict[str, Any]:
    return {"code": int(event.payload.get("code", 500)),
            "message": str(event.payload.get("message", "error"))[:255],
            "details": str(event.payload.get("details", "")),
            "created": event.timestamp}
