"""``bench/browse.py`` on a small fleet: it measures what it says (rows changed per
refresh as churned, every figure present)."""

import asyncio

from bench import browse


def test_a_small_run_measures_every_refresh_and_the_rows_it_changed():
    got = asyncio.run(browse.run(routers=40, refreshes=3, every=10))
    assert got["changed"] == [4, 4, 4]  # one router in 10 changed state each refresh
    assert len(got["ui"]) == len(got["total"]) == len(got["key"]) == 3
    assert got["filter_shown"][0] < 40
    for key in ("first_ui", "all_ui", "filter", "sort", "idle_key"):
        assert len(got[key]) == 1 and got[key][0] >= 0


def test_percentiles():
    assert browse.pct([3.0, 1.0, 2.0], 50) == 2.0
    assert browse.pct([float(i) for i in range(100)], 99) == 98.0
