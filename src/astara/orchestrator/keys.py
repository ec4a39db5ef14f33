"""What the orchestrator queues: keys naming a resource, never the event itself.

A ``ResourceRef`` is the unit of work (one router or load balancer). Intake may
only know a hint (a network, a floating IP address) that a resolver turns into
the refs of the routers concerned.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Crud(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    POLL = "poll"
    REBUILD = "rebuild"
    COMMAND = "command"


@dataclass(frozen=True, order=True)
class ResourceRef:
    kind: str  # "router" or "loadbalancer"
    id: str
    tenant_id: str


@dataclass(frozen=True)
class NetworkHint:
    """Something changed on a network: every router with an interface on it cares."""

    network_id: str
    tenant_id: str


@dataclass(frozen=True)
class FloatingIPHint:
    """A floating IP changed but the message names no router (e.g. a disassociation)."""

    floatingip_id: str
    address: str | None
    tenant_id: str


@dataclass(frozen=True)
class Event:
    crud: Crud
    target: ResourceRef | NetworkHint | FloatingIPHint
    event_type: str


def is_uuid(value: object) -> bool:
    """Only a canonical UUID names a resource: anything else (``.*``, a name) is a label
    a member wrote, and pasted into a compute name filter it is a regex."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
