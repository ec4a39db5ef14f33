"""Nova's ``os-services`` subset: the compute hosts as an admin sees them, drain/undrain.

``GET /v2.1/os-services`` lists every registered host as a ``nova-compute`` service
(``status`` enabled/disabled = undrained/drained, ``state`` up/down = heartbeat within
``agent_down_time``), with two Astara fields: ``astara:capacity`` and
``astara:instances``. ``PUT /v2.1/os-services/<host>`` with ``{"status": "disabled"}``
drains the host (no new instance is placed there) and ``"enabled"`` undrains it. The id is
the host's name (Nova 2.53+ uses a UUID: not yet). Admin only, as Nova's policy says.
Used by the dashboard; ``astara-compute-manage host-*`` does the same on the database.
"""

from __future__ import annotations

from typing import Any

from astara.compute_service.api import errors

STATUSES = {"enabled": False, "disabled": True}  # status -> drained
MAX_ID = 255
MAX_REASON = 255  # Nova's schema: disabled_reason is a string of 1 to 255 characters


def valid_id(value: str) -> bool:
    """An id a host can have (its name): printable, 1 to 255 characters. Anything else
    (NUL, control characters) is "not found" without asking the database, which may
    refuse it (PostgreSQL takes no NUL in text)."""
    return 0 < len(value) <= MAX_ID and value.isprintable()


def require_admin(ctx) -> None:
    if not ctx.is_admin:
        raise errors.Forbidden("Policy doesn't allow os_compute_api:os-services to be "
                               "performed.")


def view(host: dict) -> dict[str, Any]:
    """One row of ``placement.host_list`` as a Nova service."""
    return {"id": host["name"], "binary": "nova-compute", "host": host["name"],
            "zone": host["availability_zone"],
            "status": "disabled" if host["drained"] else "enabled",
            "state": "up" if host["agent_alive"] else "down",
            "updated_at": host["last_heartbeat"], "disabled_reason": None,
            "forced_down": False, "astara:capacity": host["capacity"],
            "astara:instances": host["instances"]}


def parse_update(body: Any) -> bool:
    """The drained flag a ``PUT`` asks for; BadRequest for anything else."""
    if not isinstance(body, dict) or set(body) - {"status", "disabled_reason"}:
        raise errors.BadRequest("Invalid input for field/attribute body: only 'status' "
                                "and 'disabled_reason' are accepted.")
    status = body.get("status")
    if status not in STATUSES:
        raise errors.invalid("status", status, "'enabled' or 'disabled'")
    if "disabled_reason" in body:
        reason = body["disabled_reason"]
        if not isinstance(reason, str):
            raise errors.invalid("disabled_reason", reason,
                                 f"{errors.shown(reason)} is not of type 'string'")
        if not 0 < len(reason) <= MAX_REASON:
            raise errors.invalid("disabled_reason", reason, f"{errors.shown(repr(reason))} "
                                 + ("is too long" if reason else "is too short"))
    return STATUSES[status]
