"""Server list paging: limit, marker and the next link, as Nova pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from astara.compute_service import errors, paging


@dataclass
class Row:
    id: str
    created_at: datetime


T0, T1 = datetime(2026, 1, 1, 12, 0, 1), datetime(2026, 1, 1, 12, 0, 0)
ROWS = [Row("b", T0), Row("c", T0), Row("a", T1), Row("d", T1)]  # newest first, then id


@pytest.mark.parametrize("after, limit, ids", [
    (None, None, ["b", "c", "a", "d"]),
    (None, 2, ["b", "c"]),
    ((T0, "b"), None, ["c", "a", "d"]),
    ((T0, "c"), 1, ["a"]),
    ((T1, "d"), None, []),
    ((T0, "bb"), None, ["c", "a", "d"]),  # a marker filtered out of the list still places
])
def test_page_starts_after_the_marker(after, limit, ids):
    assert [r.id for r in paging.page(ROWS, after, limit)] == ids


@pytest.mark.parametrize("value, limit", [(None, None), ("0", 0), ("7", 7), ("99999", 1000),
                                          ("9" * 5000, 1000)])
def test_limit(value, limit):
    assert paging.parse_limit(value) == limit


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "٣", "1 "])
def test_bad_limit_is_a_400(value):
    with pytest.raises(errors.BadRequest):
        paging.parse_limit(value)


def test_next_link_only_for_a_full_page():
    assert paging.next_query({"limit": "2", "name": "x"}, ROWS[:2], 2) == \
        "limit=2&name=x&marker=c"
    assert paging.next_query({"limit": "5"}, ROWS, 5) is None
    assert paging.next_query({}, ROWS, None) is None


def test_marker_not_found_is_novas_400():
    fault = paging.marker_missing("m-1")
    assert (fault.status, fault.message) == (400, "marker [m-1] not found")
