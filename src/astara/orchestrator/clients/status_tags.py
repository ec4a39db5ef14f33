"""A router's status shown as a Neutron tag, where a real Neutron keeps ``status`` read-only.

Neutron refuses a ``status`` write (400), so the orchestrator keeps each router's status
itself (``astara-ctl router show``). Neutron 29's ``standard-attr-tag`` extension gives
a router tags (``PUT /v2.0/routers/{id}/tags/{tag}`` adds one, ``DELETE`` removes one):
the status is shown there as one tag, ``astara-status:<STATUS>``, for whoever looks at
the router in Neutron. The tag is added, then those of the other statuses removed;
``PUT .../tags`` with a list is not used, as it would replace the project's own tags.

Tags are writable by the router's project: the orchestrator never reads its status, nor
anything else, back from them. They are written, never trusted.
"""

from __future__ import annotations

PREFIX = "astara-status:"
# Every status the router driver writes (``Status.neutron``): what a stale tag can be.
STATUSES = ("ACTIVE", "BUILD", "DOWN", "ERROR")
# The alias of Neutron's tag extension, as 29.0.0 lists it.
EXTENSION = "standard-attr-tag"


def tag(status: str) -> str:
    return PREFIX + status


def stale(status: str) -> list[str]:
    """The tags to remove once ``status``'s is written: every other status's."""
    return [tag(s) for s in STATUSES if s != status]


def supported(body: object) -> bool:
    """Whether ``GET /v2.0/extensions``'s answer lists the tag extension."""
    items = body.get("extensions") if isinstance(body, dict) else None
    return isinstance(items, list) and any(
        isinstance(x, dict) and x.get("alias") == EXTENSION for x in items)
