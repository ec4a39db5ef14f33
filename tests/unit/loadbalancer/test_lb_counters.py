"""haproxy's counters in a status report: parsing, and the totals kept over restarts
(pure)."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import counters, errors, statuses
from astara.loadbalancer_service.counters import Counters, Kept, accumulate


def C(bytes_in=0, bytes_out=0, active=0, total=0, errs=0) -> Counters:
    return Counters(bytes_in, bytes_out, active, total, errs)


@pytest.mark.parametrize("kept, epoch, now, base, shown", [
    # the first report: no base
    (None, "a", C(10, 20, 2, 3, 1), C(), C(10, 20, 2, 3, 1)),
    # the same run, counting on
    (Kept("a", C(10, 20, 2, 3, 1), C()), "a", C(15, 30, 0, 4, 1), C(), C(15, 30, 0, 4, 1)),
    # a new run (reload, restart, new appliance): the old run's counts join the base
    (Kept("a", C(10, 20, 2, 3, 1), C(1, 1, 0, 1, 0)), "b", C(5, 5, 1, 1, 0),
     C(11, 21, 0, 4, 1), C(16, 26, 1, 5, 1)),
    # a total lower in the same run: a restart the epoch did not show
    (Kept("a", C(10, 20, 2, 3, 1), C()), "a", C(10, 20, 2, 2, 1),
     C(10, 20, 0, 3, 1), C(20, 40, 2, 5, 2)),
    # the same report twice changes nothing
    (Kept("a", C(10, 20, 2, 3, 1), C(7, 7, 0, 7, 7)), "a", C(10, 20, 2, 3, 1),
     C(7, 7, 0, 7, 7), C(17, 27, 2, 10, 8)),
    # active connections going down is no restart
    (Kept("a", C(10, 20, 9, 3, 1), C()), "a", C(10, 20, 0, 3, 1), C(), C(10, 20, 0, 3, 1)),
    # no epoch given (an orchestrator that names none): only a decrease is a restart
    (Kept("", C(10, 20, 2, 3, 1), C()), "", C(1, 20, 2, 3, 1), C(10, 20, 0, 3, 1),
     C(11, 40, 2, 6, 2)),
])
def test_totals_never_go_backwards(kept, epoch, now, base, shown):
    after = accumulate(kept, epoch, now)
    assert (after.epoch, after.last, after.base) == (epoch, now, base)
    assert after.shown() == shown
    if kept is not None:
        for name in counters.TOTALS:
            assert getattr(after.shown(), name) >= getattr(kept.shown(), name)


def test_a_base_is_capped_at_the_columns_limit():
    big = counters.MAX_COUNTER
    after = accumulate(Kept("a", C(big), C(big)), "b", C())
    assert after.base.bytes_in == big


def test_a_load_balancers_are_its_listeners_summed():
    assert counters.total([C(1, 2, 3, 4, 5), C(10, 20, 30, 40, 50)]) == C(11, 22, 33, 44, 55)
    assert counters.total([]).view() == {"bytes_in": 0, "bytes_out": 0,
                                         "active_connections": 0, "total_connections": 0,
                                         "request_errors": 0}


def test_a_report_carries_listener_stats_and_their_epoch():
    report = statuses.parse({
        "revision": 2, "stats_epoch": "vm/41@1000",
        "listeners": [{"id": "l1", "stats": {"bytes_in": 5, "total_connections": 1}},
                      {"id": "l2", "operating_status": "ONLINE"}]})
    assert report.stats_epoch == "vm/41@1000"
    l1, l2 = report.children["listeners"]
    assert l1.stats == C(5, 0, 0, 1, 0) and l2.stats is None
    assert statuses.parse({"revision": 1}).stats_epoch == ""


@pytest.mark.parametrize("body", [
    {"revision": 1, "listeners": [{"id": "l", "stats": {"bytes_in": -1}}]},
    {"revision": 1, "listeners": [{"id": "l", "stats": {"bytes_in": 1.5}}]},
    {"revision": 1, "listeners": [{"id": "l", "stats": {"bytes_in": 2**63}}]},
    {"revision": 1, "listeners": [{"id": "l", "stats": {"bytes_in": False}}]},
    {"revision": 1, "listeners": [{"id": "l", "stats": {"packets": 1}}]},
    {"revision": 1, "listeners": [{"id": "l", "stats": [1]}]},
    {"revision": 1, "members": [{"id": "m", "stats": {}}]},
    {"revision": 1, "loadbalancer": {"stats": {}}},
    {"revision": 1, "stats_epoch": 5},
    {"revision": 1, "stats_epoch": "e" * 256},
])
def test_bad_stats_are_400(body):
    with pytest.raises(errors.BadRequest):
        statuses.parse(body)
