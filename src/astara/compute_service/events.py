"""``compute.instance.*`` notifications in Nova's legacy format, built and parsed.

The agent builds one per step of a job (``build``) and publishes it through the
outbox on ``TOPIC``; the dispatcher turns a bus message back into an ``Event`` with
``parse``, which raises ``Unparsable`` for anything it cannot trust (the message then
goes to the dead-letter table). The per-instance ``sequence`` rides in the payload.
Once the dispatcher has applied an event to the instance's state it publishes it
again, as Nova does, on ``NOTIFY_TOPIC`` (``notification``): what other services
(the orchestrator: an appliance instance is ACTIVE) wake on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOPIC = "compute.events"
NOTIFY_TOPIC = "notifications.info"  # Nova's: where the applied state is announced
PREFIX = "compute.instance."
KNOWN = {
    "create.start", "create.end", "create.error",
    "power_off.start", "power_off.end", "power_off.error",
    "power_on.start", "power_on.end", "power_on.error",
    "reboot.start", "reboot.end", "reboot.error",
    "delete.start", "delete.end", "delete.error",
    "interface_attach.end", "interface_attach.error",
    "interface_detach.end", "interface_detach.error",
    "update",
}


class Unparsable(ValueError):
    """A message that is not a well-formed compute.instance event."""


@dataclass(frozen=True)
class Event:
    event_type: str
    instance_id: str
    seq: int
    host: str = ""
    timestamp: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str:
        """``create.end`` for ``compute.instance.create.end``."""
        return self.event_type.removeprefix(PREFIX)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(action: str, instance: dict[str, Any], seq: int, host: str,
          extra: dict[str, Any] | None = None, timestamp: str | None = None) -> dict[str, Any]:
    """A Nova legacy notification for ``instance`` (a dict with id, project_id, ...)."""
    payload = {
        "tenant_id": instance.get("project_id", ""),
        "user_id": instance.get("user_id", ""),
        "instance_id": instance["id"],
        "display_name": instance.get("name", ""),
        "hostname": instance.get("hostname", ""),
        "reservation_id": instance.get("reservation_id", ""),
        "instance_flavor_id": instance.get("flavor_id", ""),
        "host": host,
        "node": host,
        "availability_zone": instance.get("availability_zone", "nova"),
        "image_ref_url": instance.get("image_id", ""),
        "metadata": instance.get("metadata", {}),
        "sequence": seq,
    }
    payload.update(extra or {})
    return {
        "message_id": str(uuid.uuid4()),
        "publisher_id": f"compute.{host}",
        "event_type": PREFIX + action,
        "priority": "ERROR" if action.endswith(".error") else "INFO",
        "payload": payload,
        "timestamp": timestamp or _now(),
    }


def parse(body: Any) -> Event:
    if not isinstance(body, dict):
        raise Unparsable("message body is not an object")
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type.startswith(PREFIX):
        raise Unparsable(f"not a compute.instance event: {event_type!r}")
    action = event_type.removeprefix(PREFIX)
    if action not in KNOWN:
        raise Unparsable(f"unknown event type {event_type}")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise Unparsable("payload is not an object")
    instance_id = payload.get("instance_id")
    if not isinstance(instance_id, str) or not instance_id:
        raise Unparsable("payload has no instance_id")
    seq = payload.get("sequence")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0:
        raise Unparsable(f"bad sequence {seq!r}")
    timestamp = body.get("timestamp", "")
    return Event(event_type, instance_id, seq, str(payload.get("host", "")),
                 timestamp if isinstance(timestamp, str) else "", payload)


def notification(body: dict[str, Any], instance: dict[str, Any]) -> dict[str, Any]:
    """The agent's event ``body`` as announced once applied: a new message id, and the
    payload completed from the instance's record as Nova's carries it (``tenant_id``,
    ``display_name``, ``metadata``, ``state``: what a consumer tells instances by)."""
    payload = {**(body.get("payload") or {}), **instance}
    return {**body, "message_id": str(uuid.uuid4()), "payload": payload}
