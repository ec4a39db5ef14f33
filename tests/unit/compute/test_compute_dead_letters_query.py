"""The dead letters' list query: ASCII digits in bounds, everything else a 400."""

import pytest

from astara.compute_service.api import dead_letters, errors


@pytest.mark.parametrize("raw", ["\u00b2", "\u0661\u0660", "0", "1001", "00001", "", "1 "])
def test_a_limit_out_of_bounds_is_a_bad_request(raw):
    with pytest.raises(errors.BadRequest):
        dead_letters.parse_query({"limit": raw})


def test_limits_and_markers_in_bounds():
    assert dead_letters.parse_query({"limit": "1000", "marker": "7"}) == (1000, 7)
    assert dead_letters.parse_query({}) == (dead_letters.DEFAULT_LIMIT, None)
    with pytest.raises(errors.BadRequest):
        dead_letters.parse_query({"marker": "\u00b2"})
