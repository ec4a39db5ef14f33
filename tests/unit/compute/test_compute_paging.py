"""Server list paging: the next link, as Nova pages (limit and marker: list_query)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from astara.compute_service.api import paging


@dataclass
class Row:
    id: str
    created_at: datetime


T0, T1 = datetime(2026, 1, 1, 12, 0, 1), datetime(2026, 1, 1, 12, 0, 0)
ROWS = [Row("b", T0), Row("c", T0), Row("a", T1), Row("d", T1)]  # newest first, then id


def test_next_link_only_for_a_full_page():
    assert paging.next_query({"limit": "2", "name": "x"}, ROWS[:2], 2) == \
        "limit=2&name=x&marker=c"
    assert paging.next_query({"limit": "5"}, ROWS, 5) is None
    assert paging.next_query({}, ROWS, None) is None
