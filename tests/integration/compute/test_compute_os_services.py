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
