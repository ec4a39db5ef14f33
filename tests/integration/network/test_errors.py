"""Bad input gets Neutron's error bodies and statuses, never a traceback."""

from __future__ import annotations

import httpx

from tests.integration.network.helpers import error


def test_request_without_project_is_refused(network_api):
    r = httpx.get(f"{network_api.url}/v2.0/networks")
    assert r.status_code == 401
    assert error(r)["type"] == "Unauthorized"


def test_version_document_is_public(network_api):
    r = httpx.get(f"{network_api.url}/")
    assert r.json()["versions"][0]["id"] == "v2.0"


def test_malformed_json(demo):
    with demo.http() as c:
        r = c.post("/networks", content=b'{"network": {"name": ')
    assert r.status_code == 400
    assert error(r)["type"] == "MalformedRequestBody"


def test_missing_resource_key(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"netwrk": {}})
    assert r.status_code == 400
    assert "Unable to find 'network'" in error(r)["message"]


def test_unknown_attribute(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"name": "n", "colour": "red"}})
    assert r.status_code == 400
    assert error(r)["message"] == "Unrecognized attribute(s) 'colour'"


def test_wrong_type(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"admin_state_up": "maybe"}})
        assert r.status_code == 400
        assert error(r)["message"].startswith("Invalid input for admin_state_up")
        r = c.post("/networks", json={"network": {"mtu": "big"}})
        assert r.status_code == 400


def test_read_only_attribute_in_post(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"status": "DOWN"}})
    assert r.status_code == 400
    assert error(r)["message"] == "Attribute 'status' not allowed in POST"


def test_not_found(demo):
    with demo.http() as c:
        r = c.get("/networks/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 404
        assert error(r)["type"] == "NetworkNotFound"
        r = c.get("/widgets")
        assert r.status_code == 404
        error(r)


def test_other_project_requires_admin(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"project_id": "someone-else"}})
    assert r.status_code == 400
    assert "requires admin" in error(r)["message"]
