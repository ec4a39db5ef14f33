"""Which Nova external event a port's status change is worth. Pure.

As Neutron's Nova notifier: a tenant instance's port (``compute:*``, with the server
in ``device_id``) going from DOWN or BUILD to ACTIVE is ``network-vif-plugged`` (its
network is wired and its DHCP provisioned: the guest may ask for its lease now);
ACTIVE to DOWN is ``network-vif-unplugged``. Every other change, or any other port,
is nothing to Nova. ``ports.update`` asks; ``nova_notifier`` sends after the commit.
"""

from __future__ import annotations

import uuid

PLUGGED = "network-vif-plugged"
UNPLUGGED = "network-vif-unplugged"


def event_name(before: str, after: str) -> str | None:
    if after == "ACTIVE" and before in ("DOWN", "BUILD"):
        return PLUGGED
    if before == "ACTIVE" and after == "DOWN":
        return UNPLUGGED
    return None


def event(port_id: str, device_owner: str, device_id: str, before: str,
          after: str) -> dict | None:
    """The event for Nova's ``POST /v2.1/os-server-external-events``, or None."""
    if not device_owner.startswith("compute:") or not _is_uuid(device_id):
        return None  # a device_id Nova would refuse would sink the whole batch with it
    name = event_name(before, after)
    if name is None:
        return None
    return {"name": name, "server_uuid": device_id, "tag": port_id, "status": "completed"}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
