"""``/v2.0/byonfs`` (BYONF): admin-only entries giving a project its own appliance image
and flavor per function type, with Neutron's bodies, filters and errors."""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.network.helpers import error

IMAGE = "5a1e0000-0000-4000-8000-0000000000a1"
IMAGE2 = "5a1e0000-0000-4000-8000-0000000000a2"
FIELDS = {"id", "project_id", "tenant_id", "function_type", "image_uuid", "flavor_id",
          "created_at", "updated_at"}


def create(who, **body):
    with who.http() as c:
        return c.post("/byonfs", json={"byonf": body})


def made(who, **body) -> dict:
    r = create(who, **body)
    assert r.status_code == 201, r.text
    return r.json()["byonf"]


def test_admin_creates_shows_lists_updates_and_deletes(demo, admin):
    entry = made(admin, tenant_id=demo.project, function_type="router", image_uuid=IMAGE,
                 flavor_id="42")
    assert set(entry) == FIELDS
    assert entry["project_id"] == entry["tenant_id"] == demo.project
    assert (entry["function_type"], entry["image_uuid"], entry["flavor_id"]) == \
        ("router", IMAGE, "42")
    uuid.UUID(entry["id"])
    with admin.http() as c:
        assert c.get(f"/byonfs/{entry['id']}").json() == {"byonf": entry}
        listed = c.get("/byonfs", params={"tenant_id": demo.project}).json()
        assert listed == {"byonfs": [entry]}
        r = c.put(f"/byonfs/{entry['id']}", json={"byonf": {"image_uuid": IMAGE2,
                                                             "flavor_id": None}})
        assert r.status_code == 200, r.text
        updated = r.json()["byonf"]
        assert (updated["image_uuid"], updated["flavor_id"]) == (IMAGE2, None)
        assert updated["id"] == entry["id"] and updated["function_type"] == "router"
        assert c.get(f"/byonfs/{entry['id']}").json()["byonf"] == updated
        assert c.delete(f"/byonfs/{entry['id']}").status_code == 204
        r = c.get(f"/byonfs/{entry['id']}")
        assert r.status_code == 404
        assert error(r) == {"type": "ByonfNotFound", "detail": "",
                            "message": f"Byonf {entry['id']} could not be found."}
        assert c.delete(f"/byonfs/{entry['id']}").status_code == 404
        assert c.get("/byonfs", params={"tenant_id": demo.project}).json() == {"byonfs": []}


def test_through_openstacksdks_session(demo, admin):
    # openstacksdk has no byonf resource: its network proxy (a keystoneauth adapter)
    # still speaks to the extension as any Neutron extension's client would.
    r = admin.sdk.network.post("/byonfs", json={"byonf": {
        "project_id": demo.project, "function_type": "loadbalancer", "image_uuid": IMAGE}})
    assert r.status_code == 201, r.text
    entry = r.json()["byonf"]
    assert entry["flavor_id"] is None and entry["function_type"] == "loadbalancer"
    got = admin.sdk.network.get(f"/byonfs?project_id={demo.project}").json()
    assert got["byonfs"] == [entry]
    assert admin.sdk.network.delete(f"/byonfs/{entry['id']}").status_code == 204


def test_one_entry_per_project_and_function_type(demo, other, admin):
    first = made(admin, tenant_id=demo.project, function_type="router", image_uuid=IMAGE)
    r = create(admin, tenant_id=demo.project, function_type="router", image_uuid=IMAGE2)
    assert r.status_code == 409
    err = error(r)
    assert err["type"] == "ByonfExists"
    assert first["id"] in err["message"] and "router" in err["message"]
    # Another function type, or another project: fine.
    made(admin, tenant_id=demo.project, function_type="loadbalancer", image_uuid=IMAGE2)
    made(admin, tenant_id=other.project, function_type="router", image_uuid=IMAGE2)
    # A bulk create repeating one is refused whole.
    third = uuid.uuid4().hex
    with admin.http() as c:
        r = c.post("/byonfs", json={"byonfs": [
            {"tenant_id": third, "function_type": "router", "image_uuid": IMAGE},
            {"tenant_id": third, "function_type": "router", "image_uuid": IMAGE2}]})
        assert r.status_code == 409 and error(r)["type"] == "ByonfExists"
        assert c.get("/byonfs", params={"tenant_id": third}).json() == {"byonfs": []}
        entries = c.get("/byonfs", params={"tenant_id": demo.project}).json()["byonfs"]
    assert sorted(e["function_type"] for e in entries) == ["loadbalancer", "router"]
    assert next(e for e in entries if e["function_type"] == "router") == first


def test_the_admins_own_project_by_default(admin):
    entry = made(admin, function_type="router", image_uuid=IMAGE)
    assert entry["project_id"] == admin.project


@pytest.mark.parametrize(("body", "message"), [
    ({"function_type": "router"}, "Required attribute 'image_uuid' not specified"),
    ({"image_uuid": IMAGE}, "Required attribute 'function_type' not specified"),
    ({"function_type": "vpn", "image_uuid": IMAGE},
     "Invalid input for function_type. Reason: 'vpn' is not in [router, loadbalancer]."),
    ({"function_type": "router", "image_uuid": "not-a-uuid"},
     "Invalid input for image_uuid. Reason: 'not-a-uuid' is not a valid UUID."),
    ({"function_type": "router", "image_uuid": IMAGE, "flavor_id": ""},
     "Invalid input for flavor_id. Reason: '' is not a valid flavor id."),
    ({"function_type": "router", "image_uuid": IMAGE, "flavor_id": 42},
     "Invalid input for flavor_id. Reason: '42' is not a valid string."),
    ({"function_type": "router", "image_uuid": IMAGE, "flavor_id": "f" * 256},
     "exceeds maximum length of 255"),
    ({"function_type": "router", "image_uuid": IMAGE, "driver": "x"},
     "Unrecognized attribute(s) 'driver'"),
    ({"function_type": "router", "image_uuid": IMAGE, "id": IMAGE},
     "Attribute 'id' not allowed in POST"),
    ({"function_type": "router", "image_uuid": IMAGE, "project_id": "a", "tenant_id": "b"},
     "'project_id' and 'tenant_id' do not match"),
])
def test_bad_create_is_400_and_writes_nothing(admin, body, message):
    tenant = uuid.uuid4().hex
    body = {"tenant_id": tenant, **body} if "project_id" not in body else body
    r = create(admin, **body)
    assert r.status_code == 400, r.text
    err = error(r)
    assert err["type"] == "HTTPBadRequest" and message in err["message"]
    with admin.http() as c:
        assert c.get("/byonfs", params={"tenant_id": tenant}).json() == {"byonfs": []}


@pytest.mark.parametrize(("body", "message"), [
    ({"function_type": "loadbalancer"}, "Attribute 'function_type' not allowed in PUT"),
    ({"tenant_id": "x"}, "Attribute 'tenant_id' not allowed in PUT"),
    ({"image_uuid": None}, "Invalid input for image_uuid"),
    ({"colour": "red"}, "Unrecognized attribute(s) 'colour'"),
])
def test_bad_update_is_400_and_changes_nothing(demo, admin, body, message):
    entry = made(admin, tenant_id=demo.project, function_type="router", image_uuid=IMAGE)
    with admin.http() as c:
        r = c.put(f"/byonfs/{entry['id']}", json={"byonf": body})
        assert r.status_code == 400, r.text
        assert message in error(r)["message"]
        assert c.get(f"/byonfs/{entry['id']}").json()["byonf"] == entry


def test_members_cannot_see_or_touch_entries(demo, admin):
    """As under the upstream extension's admin-only policy: a member's create is 403,
    its list is empty and each entry is 404, even its own project's."""
    entry = made(admin, tenant_id=demo.project, function_type="router", image_uuid=IMAGE)
    r = create(demo, function_type="loadbalancer", image_uuid=IMAGE)
    assert r.status_code == 403
    assert error(r) == {"type": "PolicyNotAuthorized", "detail": "",
                        "message": "(rule:create_byonf) is disallowed by policy."}
    with demo.http() as c:
        assert c.get("/byonfs").json() == {"byonfs": []}
        assert c.get("/byonfs", params={"tenant_id": demo.project}).json() == {"byonfs": []}
        for r in (c.get(f"/byonfs/{entry['id']}"),
                  c.put(f"/byonfs/{entry['id']}", json={"byonf": {"image_uuid": IMAGE2}}),
                  c.delete(f"/byonfs/{entry['id']}")):
            assert r.status_code == 404
            assert error(r)["type"] == "ByonfNotFound"
        # A reader-only identity too.
        r = c.get(f"/byonfs/{entry['id']}", headers={"X-Roles": "reader"})
        assert r.status_code == 404
        r = c.post("/byonfs", headers={"X-Roles": "reader"}, json={"byonf": {
            "function_type": "router", "image_uuid": IMAGE}})
        assert r.status_code == 403
    with admin.http() as c:
        assert c.get(f"/byonfs/{entry['id']}").json()["byonf"] == entry
        assert c.get("/byonfs", params={"function_type": "loadbalancer",
                                        "tenant_id": demo.project}).json() == {"byonfs": []}


def test_no_identity_is_401(network_api):
    import httpx

    with httpx.Client(base_url=f"{network_api.url}/v2.0") as c:
        r = c.get("/byonfs")
    assert r.status_code == 401 and error(r)["type"] == "Unauthorized"


def test_filters_fields_sorting_and_pages(admin):
    tenants = sorted(uuid.uuid4().hex for _ in range(3))
    entries = [made(admin, tenant_id=t, function_type=f, image_uuid=IMAGE,
                    flavor_id="42" if f == "router" else None)
               for t in tenants for f in ("router", "loadbalancer")]
    with admin.http() as c:
        def get(**params):
            r = c.get("/byonfs", params={"tenant_id": tenants, **params})
            assert r.status_code == 200, r.text
            return r.json()

        assert len(get()["byonfs"]) == 6
        routers = get(function_type="router")["byonfs"]
        assert {e["tenant_id"] for e in routers} == set(tenants)
        assert {e["function_type"] for e in routers} == {"router"}
        assert get(flavor_id="42")["byonfs"] == routers
        assert get(image_uuid=IMAGE2)["byonfs"] == []
        assert get(fields=["id", "function_type"])["byonfs"][0].keys() == \
            {"id", "function_type"}
        ordered = get(sort_key=["tenant_id", "function_type"], sort_dir=["desc", "asc"])
        assert [(e["tenant_id"], e["function_type"]) for e in ordered["byonfs"]] == [
            (t, f) for t in reversed(tenants) for f in ("loadbalancer", "router")]
        page = get(limit=4, sort_key="id")
        ids = sorted(e["id"] for e in entries)
        assert [e["id"] for e in page["byonfs"]] == ids[:4]
        assert [link["rel"] for link in page["byonfs_links"]] == ["next", "previous"]
        rest = get(limit=4, sort_key="id", marker=ids[3])
        assert [e["id"] for e in rest["byonfs"]] == ids[4:]
        r = c.get("/byonfs", params={"driver": "x"})
        assert r.status_code == 400 and "driver" in error(r)["message"]
        r = c.get("/byonfs", params={"sort_key": "colour"})
        assert r.status_code == 400


def test_an_id_that_cannot_exist_is_404(admin):
    with admin.http() as c:
        for id_ in ("nope", "x" * 300):
            r = c.get(f"/byonfs/{id_}")
            assert r.status_code == 404 and error(r)["type"] == "ByonfNotFound"


def test_the_resource_listing_names_byonfs(admin):
    with admin.http() as c:
        body = c.get("").json()
    assert "byonfs" in {r["collection"] for r in body["resources"]}


_VALUES = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=300)
           | st.sampled_from(["router", "loadbalancer", IMAGE, IMAGE2, "42", ""])
           | st.lists(st.text(max_size=5), max_size=3)
           | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
_KEYS = st.sampled_from(["id", "tenant_id", "project_id", "function_type", "image_uuid",
                         "flavor_id", "created_at", "updated_at", "driver", "name"])
_BODIES = st.one_of(
    st.dictionaries(_KEYS, _VALUES, max_size=6).map(lambda b: {"byonf": b}),
    st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=3).map(
        lambda b: {"byonfs": b}),
    _VALUES)


@settings(max_examples=int(os.environ.get("ASTARA_FUZZ_BYONF", "200")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_BODIES, admin_caller=st.booleans(), method=st.sampled_from(["POST", "PUT"]))
def test_generated_bodies_never_5xx_and_keep_one_entry_per_type(demo, admin, body,
                                                                  admin_caller, method):
    with admin.http() as c:
        found = c.get("/byonfs", params={"tenant_id": demo.project,
                                         "function_type": "router"}).json()["byonfs"]
        target = found[0]["id"] if found else c.post("/byonfs", json={"byonf": {
            "tenant_id": demo.project, "function_type": "router",
            "image_uuid": IMAGE}}).json()["byonf"]["id"]
    who = admin if admin_caller else demo
    with who.http() as c:
        path = "/byonfs" if method == "POST" else f"/byonfs/{target}"
        r = c.request(method, path, json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        error(r)
    else:
        assert r.status_code in (200, 201) and admin_caller
    with admin.http() as c:
        entries = c.get("/byonfs").json()["byonfs"]
    pairs = [(e["project_id"], e["function_type"]) for e in entries]
    assert len(pairs) == len(set(pairs))
    assert all(e["function_type"] in ("router", "loadbalancer") for e in entries)
