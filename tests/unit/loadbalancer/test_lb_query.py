"""List parameters and pages as Octavia answers them (pure)."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import errors, query

KEYS = {"id", "name", "tags", "created_at", "provisioning_status"}


def items():
    return [{"id": f"id-{n}", "name": n, "tags": tags, "created_at": "2026-01-01T00:00:00",
             "provisioning_status": "ACTIVE"}
            for n, tags in (("c", []), ("a", ["web"]), ("d", ["web", "prod"]), ("b", []))]


def test_parse_and_apply():
    q = query.parse([("sort", "name:desc"), ("limit", "2")], KEYS, 1000)
    assert [x["name"] for x in query.apply(items(), q)] == ["d", "c"]
    q = query.parse([("sort_key", "name"), ("sort_dir", "asc"), ("marker", "id-b")], KEYS, 1000)
    assert [x["name"] for x in query.apply(items(), q)] == ["c", "d"]
    q = query.parse([("sort", "name"), ("marker", "id-c"), ("page_reverse", "True"),
                     ("limit", "1")], KEYS, 1000)
    assert [x["name"] for x in query.apply(items(), q)] == ["b"]
    assert [x["name"] for x in query.apply(items(), query.parse([("tags", "web,prod")],
                                                                KEYS, 9))] == ["d"]
    assert sorted(x["name"] for x in query.apply(items(), query.parse(
        [("not-tags-any", "web")], KEYS, 9))) == ["b", "c"]
    assert query.parse([("limit", "5000")], KEYS, 1000).limit == 1000
    assert query.parse([("limit", "-1")], KEYS, 1000).limit is None


@pytest.mark.parametrize(("params", "body"), [
    ([("sort", "bogus:asc")], {"faultcode": "Client", "debuginfo": None,
                               "faultstring": "Supplied sort key 'bogus' is not valid."}),
    ([("sort", "name:up")], {"code": 400, "title": "Bad Request",
                             "description": "Supplied sort direction 'up' is not valid."}),
    ([("limit", "abc")], {"code": 400, "title": "Bad Request",
                          "description": "Supplied pagination limit 'abc' is not valid."}),
    ([("bogus_filter", "x")], {"faultcode": "Client", "debuginfo": None, "faultstring":
                               "One or more arguments are either duplicate or invalid"}),
])
def test_refused_parameters(params, body):
    with pytest.raises(errors.ApiError) as caught:
        query.parse(params, KEYS, 1000)
    assert (caught.value.status, caught.value.body()) == (400, body)


def test_unknown_marker_and_links():
    with pytest.raises(errors.BadRequest, match="marker 'nope' is not valid"):
        query.apply(items(), query.parse([("marker", "nope")], KEYS, 9))
    params = [("limit", "2"), ("sort", "name:asc")]
    q = query.parse(params, KEYS, 9)
    page = query.apply(items(), q)
    assert query.links("http://h/v2/lbaas/x", page, q, params) == [
        {"href": "http://h/v2/lbaas/x?limit=2&sort=name:asc&marker=id-b", "rel": "next"}]
    params = [*params, ("marker", "id-b")]
    q = query.parse(params, KEYS, 9)
    page = query.apply(items(), q)
    assert [x["rel"] for x in query.links("http://h/x", page, q, params)] == [
        "previous", "next"]
    assert query.select_fields({"a": 1, "b": 2}, ["b", "zz"]) == {"b": 2}
