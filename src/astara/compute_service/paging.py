"""Paging of server lists as Nova does it: ``limit`` and ``marker`` (pure, no I/O).

Servers are listed newest first (``created_at`` descending, then id); a page starts
after the marker's place in that order and holds at most ``limit`` servers (Nova's
``max_limit``, 1000, caps it). A marker the caller cannot see is "not found", the
same answer as for a marker that does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import urlencode

from astara.compute_service import errors

MAX_LIMIT = 1000


class Listed(Protocol):
    created_at: datetime
    id: str


Row = TypeVar("Row", bound=Listed)


def parse_limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value):
        raise errors.BadRequest(f"Invalid input for query parameters limit. Value: "
                                f"{value[:64]}. '{value[:64]}' does not match '^[0-9]*$'")
    return MAX_LIMIT if len(value) > 9 else min(int(value), MAX_LIMIT)


def marker_missing(marker: str) -> errors.BadRequest:
    return errors.BadRequest(f"marker [{marker[:255]}] not found")


def page(rows: list[Row], after: tuple[datetime, str] | None,
         limit: int | None) -> list[Row]:
    """``rows`` (newest first) that come after the marker's ``(created_at, id)``, at most
    ``limit`` of them."""
    if after is not None:
        when, ident = after
        rows = [r for r in rows
                if r.created_at < when or (r.created_at == when and r.id > ident)]
    return rows if limit is None else rows[:limit]


def next_query(query: dict[str, str], shown: list[Row], limit: int | None) -> str | None:
    """The query string of the next page's link, when this page is full (as Nova links)."""
    if limit is None or not shown or len(shown) < limit:
        return None
    return urlencode({**query, "marker": shown[-1].id})
