"""Nova's ``os-services`` subset through openstacksdk: an admin lists the hosts and
drains/undrains one (what the dashboard's hosts page does); a member is refused."""

from __future__ import annotations

import httpx
import pytest
from openstack import exceptions


def test_admin_lists_drains_and_undrains(compute, admin_user):
    sdk = admin_user.sdk
    host = compute.settings.host
    found = {s.id: s for s in sdk.compute.services()}
    assert found[host].host == host and found[host].binary == "nova-compute"
    assert found[host].state == "up" and found[host].status == "enabled"

    assert sdk.compute.disable_service(found[host]).status == "disabled"
    assert {s.id: s for s in sdk.compute.services()}[host].status == "disabled"
    assert sdk.compute.enable_service(found[host]).status == "enabled"
    raw = httpx.get(f"{compute.api.url}/v2.1/os-services", headers=admin_user.headers)
    mine = next(s for s in raw.json()["services"] if s["id"] == host)
    assert mine["status"] == "enabled" and mine["astara:capacity"] >= 1
    assert isinstance(mine["astara:instances"], int)


def test_member_is_refused_and_bad_input_is_a_400(compute, user, admin_user):
    with pytest.raises(exceptions.ForbiddenException):
        list(user.sdk.compute.services())
    url = f"{compute.api.url}/v2.1/os-services/{compute.settings.host}"
    assert httpx.put(url, json={"status": "disabled"}, headers=user.headers
                     ).status_code == 403
    bad = httpx.put(url, json={"status": "sideways"}, headers=admin_user.headers)
    assert bad.status_code == 400 and "status" in bad.json()["badRequest"]["message"]
    missing = httpx.put(f"{compute.api.url}/v2.1/os-services/nope",
                        json={"status": "enabled"}, headers=admin_user.headers)
    assert missing.status_code == 404


def test_ids_no_host_can_have_are_a_404_without_a_query(compute, admin_user, monkeypatch):
    """NUL (which PostgreSQL refuses in text), control characters, over 255 characters:
    Nova's 404, and the database is not asked."""
    from astara.compute_service.api import placement

    def no_query(*args, **kwargs):
        raise AssertionError("set_drained queried the database")
    monkeypatch.setattr(placement, "set_drained", no_query)
    for bad in ("%00", "astara%00test", "host%09a", "host%0Aa", "h" * 256):
        r = httpx.put(f"{compute.api.url}/v2.1/os-services/{bad}",
                      json={"status": "disabled"}, headers=admin_user.headers)
        assert r.status_code == 404, bad
        assert "could not be found" in r.json()["itemNotFound"]["message"]


def test_the_answer_is_the_row_the_drain_wrote(compute, admin_user, monkeypatch):
    """The PUT answers with the host as its own transaction left it, never by listing
    the hosts again (a host gone from that list was a StopIteration, a 500)."""
    from astara.compute_service.api import placement
    monkeypatch.setattr(placement, "host_list", lambda *args, **kwargs: [])
    url = f"{compute.api.url}/v2.1/os-services/{compute.settings.host}"
    r = httpx.put(url, json={"status": "disabled"}, headers=admin_user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["service"]["status"] == "disabled"
    assert r.json()["service"]["id"] == compute.settings.host
    r = httpx.put(url, json={"status": "enabled"}, headers=admin_user.headers)
    assert r.status_code == 200 and r.json()["service"]["status"] == "enabled"


def test_disabled_reason_is_a_short_string(compute, admin_user):
    url = f"{compute.api.url}/v2.1/os-services/{compute.settings.host}"
    for reason, said in ((5, "is not of type 'string'"), ({"a": 1}, "is not of type"),
                         ("r" * 256, "is too long"), ("", "is too short")):
        r = httpx.put(url, json={"status": "disabled", "disabled_reason": reason},
                      headers=admin_user.headers)
        assert r.status_code == 400, reason
        message = r.json()["badRequest"]["message"]
        assert message.startswith("Invalid input for field/attribute disabled_reason.")
        assert said in message
    ok = httpx.put(url, json={"status": "enabled", "disabled_reason": "maintenance"},
                   headers=admin_user.headers)
    assert ok.status_code == 200
