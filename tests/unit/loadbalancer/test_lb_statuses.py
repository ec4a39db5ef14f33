"""The status report's parser and the revision rule (pure)."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import errors, statuses
from astara.loadbalancer_service.statuses import Report


def test_a_full_report_parses():
    report = statuses.parse({
        "revision": 4, "loadbalancer": {"provisioning_status": "ACTIVE"},
        "listeners": [{"id": "l1", "operating_status": "ONLINE"}],
        "members": [{"id": "m1", "provisioning_status": "ERROR",
                     "operating_status": "NO_MONITOR"}],
        "l7rules": [{"id": "r1", "provisioning_status": "ACTIVE"}]})
    assert report.revision == 4
    assert report.loadbalancer == Report("", "ACTIVE", None)
    assert report.children == {"listeners": (Report("l1", None, "ONLINE"),), "pools": (),
                               "members": (Report("m1", "ERROR", "NO_MONITOR"),),
                               "healthmonitors": (), "l7policies": (),
                               "l7rules": (Report("r1", "ACTIVE", None),)}


@pytest.mark.parametrize("body", [
    None, [], {"revision": None}, {"revision": False}, {"revision": -1},
    {"revision": 1, "pools": [{"id": ""}]},
    {"revision": 1, "pools": [{"id": "p", "provisioning_status": "PENDING_CREATE"}]},
    {"revision": 1, "pools": [{"id": "p", "operating_status": "online"}]},
    {"revision": 1, "loadbalancer": {"id": "lb"}},
    {"revision": 1, "pools": "p"},
    {"revision": 1, "pools": [{"id": "p"}, {"id": "p"}]},
    {"revision": 1, "l7policies": [{"id": "p", "provisioning_status": "PENDING_UPDATE"}]},
])
def test_bad_reports_are_400(body):
    with pytest.raises(errors.BadRequest):
        statuses.parse(body)


@pytest.mark.parametrize(("report", "current", "expected"), [
    (Report("x", "ACTIVE", "ONLINE"), True,
     {"provisioning_status": "ACTIVE", "operating_status": "ONLINE"}),
    (Report("x", "ACTIVE", "ONLINE"), False, {"operating_status": "ONLINE"}),
    (Report("x", "ERROR", None), False, {}),
    (Report("x", "ERROR", None), True, {"provisioning_status": "ERROR"}),
    (Report("x", None, None), True, {}),
])
def test_provisioning_only_for_the_current_revision(report, current, expected):
    assert statuses.writes(report, current) == expected
