"""The compute API's read-only Glance v2 view (``/image``): its routes on their own,
with noauth headers (the same headers auth_token sets under Keystone)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from astara.compute_service import catalog
from astara.compute_service.api import glance

MEMBER = {"X-Project-Id": "p1", "X-Roles": "member"}
ADMIN = {"X-Project-Id": "admin-p", "X-Roles": "admin,member"}


@pytest.fixture(scope="module")
def client():
    return TestClient(Starlette(routes=glance.routes()))


def _names(body: dict) -> list[str]:
    return [i["name"] for i in body["images"]]


def test_version_document_points_at_v2(client):
    body = client.get("/image", headers=MEMBER).json()
    (version,) = body["versions"]
    assert version["id"].startswith("v2.") and version["status"] == "CURRENT"
    assert version["links"][0]["href"] == "http://testserver/image/v2/"


def test_member_lists_only_what_it_can_boot(client):
    body = client.get("/image/v2/images", headers=MEMBER).json()
    assert _names(body) == ["astara-tenant"]
    assert body["first"] == "/v2/images" and body["schema"] == "/v2/schemas/images"
    assert "next" not in body
    image = body["images"][0]
    assert (image["id"], image["status"], image["visibility"]) == (
        catalog.TENANT_IMAGE, "active", "public")


def test_admin_sees_the_appliance_image_private(client):
    body = client.get("/image/v2/images", headers=ADMIN).json()
    assert sorted(_names(body)) == ["astara-appliance", "astara-tenant"]
    shown = client.get(f"/image/v2/images/{catalog.APPLIANCE_IMAGE}", headers=ADMIN).json()
    assert shown["name"] == "astara-appliance" and shown["visibility"] == "private"


def test_the_rule_is_the_boot_rule():
    for image in catalog.IMAGES.values():
        for admin in (False, True):
            seen = [i.id for i in glance.listing([], admin)[0]]
            assert (image.id in seen) == catalog.bootable(image, admin)


@pytest.mark.parametrize("query, names", [
    ("name=astara-tenant", ["astara-tenant"]),
    ("name=astara-appliance", []),  # a member's query does not reveal it
    ("name=nope", []),
    (f"id=in:{catalog.TENANT_IMAGE},{catalog.APPLIANCE_IMAGE}", ["astara-tenant"]),
    ("status=active", ["astara-tenant"]),
    ("status=queued", []),
    ("visibility=public", ["astara-tenant"]),
    ("visibility=private", []),
    ("visibility=all", ["astara-tenant"]),
    ("os_hidden=true", []),
    ("some_property=x", []),
    ("sort_key=name&sort_dir=asc", ["astara-tenant"]),
])
def test_member_filters(client, query, names):
    r = client.get(f"/image/v2/images?{query}", headers=MEMBER)
    assert r.status_code == 200 and _names(r.json()) == names


def test_limit_and_marker_page_through(client):
    first = client.get("/image/v2/images?limit=1&name=in:astara-tenant,astara-appliance",
                       headers=ADMIN).json()
    assert len(first["images"]) == 1 and first["next"].startswith("/v2/images?")
    second = client.get("/image" + first["next"], headers=ADMIN).json()
    assert len(second["images"]) == 1 and "next" not in second
    assert {first["images"][0]["id"], second["images"][0]["id"]} == set(catalog.IMAGES)


@pytest.mark.parametrize("query, status", [
    ("limit=x", 400), ("limit=-1", 400), ("status=bogus", 400), ("visibility=x", 400),
    (f"marker={catalog.APPLIANCE_IMAGE}", 400),  # not one the member sees
    ("marker=" + "m" * 300, 400), ("name=" + "n" * 20000, 400),
])
def test_bad_queries_are_glance_400s(client, query, status):
    r = client.get(f"/image/v2/images?{query}", headers=MEMBER)
    assert r.status_code == status
    assert r.json()["code"] == "400 Bad Request" and len(r.text) < 500


def test_show_and_404s(client):
    shown = client.get(f"/image/v2/images/{catalog.TENANT_IMAGE}", headers=MEMBER).json()
    assert shown["name"] == "astara-tenant" and shown["self"].endswith(catalog.TENANT_IMAGE)
    for path in (f"/image/v2/images/{catalog.APPLIANCE_IMAGE}", "/image/v2/images/astara-tenant",
                 "/image/v2/schemas/image", "/image/v1/images"):
        r = client.get(path, headers=MEMBER)
        assert r.status_code == 404 and r.json()["title"] == "Not Found", path


def test_no_caller_is_401_and_writes_are_405(client):
    r = client.get("/image/v2/images")
    assert r.status_code == 401 and r.json()["code"] == "401 Unauthorized"
    r = client.post("/image/v2/images", headers=ADMIN, json={"name": "x"})
    assert r.status_code == 405
    r = client.delete(f"/image/v2/images/{catalog.TENANT_IMAGE}", headers=ADMIN)
    assert r.status_code == 405
    r = client.get("/image/v2/images", headers={"X-Project-Id": "p" * 300})
    assert r.status_code == 400
