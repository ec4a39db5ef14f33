"""The admin's dead-letters page against the fake compute API: listed with their error,
age and an escaped body preview; retried through the API with the page's CSRF token;
refused to a member with nothing called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.dashboard_fake import FakeApis, csrf_of, login

from astara.dashboard import views


@pytest.fixture
def fake():
    fake = FakeApis()
    stamp = (datetime.now(UTC) - timedelta(minutes=3)).replace(tzinfo=None).isoformat()
    fake.dead_letters = {
        7: {"id": 7, "topic": "compute.events", "error": "payload is not an object",
            "created_at": stamp, "body": {"payload": "<script>alert(1)</script>" + "x" * 300}},
        8: {"id": 8, "topic": "compute.events", "error": "failed 5 times: boom",
            "created_at": stamp, "body": {"payload": {"instance_id": "i-1"}}, "fixed": True}}
    return fake


def test_admin_sees_and_retries_dead_letters(fake):
    c = login(fake, role="admin")
    page = c.get("/admin/dead-letters").text
    assert "payload is not an object" in page and "failed 5 times: boom" in page
    assert "3 min" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x" * 300 not in page  # a preview, not the whole body
    token = csrf_of(c, "/admin/dead-letters")
    r = c.post("/admin/dead-letters/8/retry", data={"csrf": token})
    assert "Dead letter 8: applied and removed." in r.text and 8 not in fake.dead_letters
    r = c.post("/admin/dead-letters/7/retry", data={"csrf": token})
    assert "Dead letter 7: still fails to apply. retry failed: ValueError" in r.text
    r = c.post("/admin/dead-letters/99/retry", data={"csrf": token})
    assert "The compute API says: Dead letter 99 could not be found." in r.text
    posts = [call[2] for call in fake.calls if call[0] == "POST"]
    assert posts == [f"/v2.1/os-astara-dead-letters/{n}/action" for n in (8, 7, 99)]


def test_retry_needs_the_csrf_token_and_the_admin_role(fake):
    admin = login(fake, role="admin")
    assert admin.post("/admin/dead-letters/8/retry", data={"csrf": "x"}).status_code == 403
    member = login(fake, project="p2")
    assert member.get("/admin/dead-letters").status_code == 403
    token = csrf_of(member, "/instances")
    assert member.post("/admin/dead-letters/8/retry", data={"csrf": token}
                       ).status_code == 403
    assert not [call for call in fake.calls if "dead-letters" in call[2]]
    assert 8 in fake.dead_letters


@pytest.mark.parametrize("seconds, said", [(5, "5 s"), (59, "59 s"), (60, "1 min"),
                                           (7200, "2 h"), (90000, "1 d"), (-3, "0 s")])
def test_age(seconds, said):
    now = datetime(2026, 1, 2, tzinfo=UTC).timestamp()
    stamp = datetime(2026, 1, 2) - timedelta(seconds=seconds)
    assert views.age(stamp.isoformat(), now) == said


def test_age_of_a_missing_or_bad_time():
    assert views.age(None, 0) == "-" and views.age("yesterday", 0) == "-"
