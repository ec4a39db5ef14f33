"""``os-astara-dead-letters``: the dispatcher's dead letters, for an admin (pure, no I/O).

``GET /v2.1/os-astara-dead-letters[?limit=N&marker=ID]`` lists them oldest first (at
most ``MAX_LIMIT``, ``DEFAULT_LIMIT`` unless asked), ``GET .../{id}`` shows one and
``POST .../{id}/action`` with ``{"retry": null}`` feeds it to the dispatcher again
(``dispatcher.dead_letters.retry``, what ``astara-compute-manage queue-retry`` runs).
Not a Nova API: an Astara extension, admin only, its faults in Nova's bodies. This
module parses the ids, the query and the action body; ``ComputeService`` reads and
retries.
"""

from __future__ import annotations

import re
from typing import Any

from astara.compute_service.api import errors

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A dead letter's id is a positive BIGINT: anything else names none (404, no query).
ID = re.compile(r"[1-9][0-9]{0,17}")
# ASCII digits only: str.isdigit() takes "²" (which int() refuses) and other scripts'.
LIMIT = re.compile(r"[0-9]{1,4}")


def require_admin(ctx) -> None:
    if not ctx.is_admin:
        raise errors.Forbidden("Policy doesn't allow os_compute_api:os-astara-dead-letters "
                               "to be performed.")


def parse_id(value: str) -> int:
    if not ID.fullmatch(value):
        raise not_found(value)
    return int(value)


def not_found(value) -> errors.NotFound:
    return errors.NotFound(f"Dead letter {errors.shown(str(value))} could not be found.")


def parse_query(query) -> tuple[int, int | None]:
    """``(limit, marker)`` of a list request; BadRequest for anything out of bounds."""
    unknown = set(query) - {"limit", "marker"}
    if unknown:
        raise errors.invalid_query(sorted(unknown)[0], "",
                                   "Additional properties are not allowed.")
    limit = DEFAULT_LIMIT
    if "limit" in query:
        raw = query["limit"]
        if not LIMIT.fullmatch(raw) or not 0 < int(raw) <= MAX_LIMIT:
            raise errors.invalid_query("limit", raw,
                                       f"limit must be an integer from 1 to {MAX_LIMIT}.")
        limit = int(raw)
    marker = None
    if "marker" in query:
        raw = query["marker"]
        if not ID.fullmatch(raw):
            raise errors.invalid_query("marker", raw, "marker must be a dead letter's id.")
        marker = int(raw)
    return limit, marker


def parse_action(body: Any) -> str:
    """The one action there is: ``{"retry": null}`` (or ``{}`` as its value)."""
    if not isinstance(body, dict) or set(body) != {"retry"} or \
            body["retry"] not in (None, {}):
        raise errors.BadRequest("Invalid input for field/attribute body: the only action "
                                "is {\"retry\": null}.")
    return "retry"
