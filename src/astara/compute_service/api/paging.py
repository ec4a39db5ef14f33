"""The next-page link of a server list, as Nova gives it (pure, no I/O).

``list_query`` parses ``limit``/``marker`` and cuts the page; this builds the query
string of the ``next`` link when the page is full.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlencode


class Listed(Protocol):
    id: str


def next_query(query: dict[str, str], shown: list[Listed], limit: int | None) -> str | None:
    """The query string of the next page's link, when this page is full (as Nova links)."""
    if limit is None or not shown or len(shown) < limit:
        return None
    return urlencode({**query, "marker": shown[-1].id})
