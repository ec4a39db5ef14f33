"""The server list's query string as Nova reads it: paging, sorting, tenancy, time (pure).

``parse`` validates ``limit``, ``marker``, ``sort_key``, ``sort_dir``, ``all_tenants``,
``deleted`` (admins) and ``changes-since`` into a ``ListQuery`` or raises the
``badRequest`` / ``forbidden`` Nova answers with; ``page`` applies the marker and the
limit to the filtered rows. Sort keys are Nova's names, mapped to ``Instance`` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from astara.compute_service.api import errors

MAX_LIMIT = 1000  # Nova's [api] max_limit
SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at",
             "display_name": "name", "uuid": "id", "hostname": "hostname", "host": "host",
             "vm_state": "vm_state", "task_state": "task_state",
             "power_state": "power_state", "launched_at": "launched_at",
             "terminated_at": "terminated_at", "key_name": "key_name",
             "availability_zone": "availability_zone", "project_id": "project_id",
             "user_id": "user_id", "image_ref": "image_id", "instance_type_id": "flavor_id"}


@dataclass(frozen=True)
class ListQuery:
    all_tenants: bool = False
    deleted: bool | None = None            # admins only: True lists deleted servers only
    changes_since: datetime | None = None  # naive UTC
    limit: int = MAX_LIMIT
    marker: str | None = None
    sort_key: str = "created_at"           # an Instance attribute
    descending: bool = True


def _limit(raw: str) -> int:
    if raw.isascii() and raw.isdigit():
        digits = raw.lstrip("0") or "0"
        return min(int(digits) if len(digits) <= 9 else MAX_LIMIT, MAX_LIMIT)
    if raw.startswith("-") and raw[1:].isascii() and raw[1:].isdigit():
        raise errors.BadRequest("limit param must be positive")
    if not raw:
        raise errors.BadRequest("limit param must be an integer")
    raise errors.invalid_query("limit", raw, f"'{errors.shown(raw)}' does not match '^[0-9]*$'")


def _since(raw: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise errors.invalid_query("changes-since", raw,
                                   f"'{errors.shown(raw)}' is not a 'date-time'") from None
    return when


def _flag(raw: str) -> bool:
    """``?deleted=`` as Nova reads it: oslo's ``bool_from_string``, anything else False."""
    return raw.strip().lower() in ("1", "t", "true", "on", "y", "yes")


def parse(filters: dict[str, str], admin: bool, detail: bool = False) -> ListQuery:
    all_tenants = filters.get("all_tenants") not in (None, "0", "false", "False")
    if all_tenants and not admin:
        raise errors.Forbidden("Policy doesn't allow os_compute_api:servers:"
                               f"{'detail' if detail else 'index'}:get_all_tenants to "
                               "be performed.")
    deleted = None
    if admin and filters.get("status", "").upper() == "DELETED":
        deleted = True
    elif filters.get("status", "").upper() == "DELETED":
        raise errors.Forbidden("Only administrators may list deleted instances")
    if admin and "deleted" in filters:  # a member's ?deleted= is dropped, as Nova does
        deleted = _flag(filters["deleted"])
    since = filters.get("changes-since")
    key = filters.get("sort_key", "created_at")
    if key not in SORT_KEYS:
        raise errors.invalid_query("sort_key", key, f"'{errors.shown(key)}' is not one of "
                                   f"{sorted(SORT_KEYS)}")
    direction = filters.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise errors.invalid_query("sort_dir", direction, f"'{errors.shown(direction)}' is "
                                   "not one of ['asc', 'desc']")
    return ListQuery(all_tenants=all_tenants, deleted=deleted,
                     changes_since=_since(since) if since else None,
                     limit=_limit(filters["limit"]) if "limit" in filters else MAX_LIMIT,
                     marker=filters.get("marker"), sort_key=SORT_KEYS[key],
                     descending=direction == "desc")


def page(rows: list, query: ListQuery) -> list:
    """The rows after ``marker`` (an id among them), at most ``limit`` of them."""
    if query.marker is not None:
        ids = [row.id for row in rows]
        if query.marker not in ids:
            raise errors.BadRequest(f"marker [{errors.shown(query.marker)}] not found")
        rows = rows[ids.index(query.marker) + 1:]
    return rows[:query.limit]
