"""List semantics as tables: parsing, matching, sorting, pages and links."""

from __future__ import annotations

import pytest

from astara.network_service import attributes as A
from astara.network_service import errors, query
from astara.network_service.context import RequestContext

MEMBER = RequestContext(project_id="p1", roles=("member",))
ITEMS = [
    {"id": "a", "name": "x", "admin_state_up": True, "mtu": 1500},
    {"id": "b", "name": "y", "admin_state_up": False, "mtu": 1400},
    {"id": "c", "name": "x", "admin_state_up": True, "mtu": 9000},
    {"id": "d", "name": None, "admin_state_up": True, "mtu": 1500},
]


def parse(*items):
    return query.parse(A.NETWORK, list(items), MEMBER, max_page=100)


def test_parse_collects_controls_and_filters():
    q = parse(("name", "x"), ("name", "y"), ("fields", "id,name"), ("fields", "mtu"),
              ("sort_key", "name"), ("sort_dir", "desc"), ("limit", "2"), ("marker", "a"))
    assert q.filters == {"name": ["x", "y"]}
    assert q.fields == ["id", "name", "mtu"]
    assert q.sort == [("name", False)]
    assert (q.limit, q.marker) == (2, "a")


@pytest.mark.parametrize("items, fragment", [
    ([("bogus", "1")], "invalid attribute for filtering"),
    ([("provider:network_type", "flat")], "invalid attribute for filtering"),
    ([("sort_key", "bogus")], "invalid attribute for sort_keys"),
    ([("sort_key", "name"), ("sort_dir", "up")], "invalid value for sort_dirs"),
    ([("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")], "must be same"),
    ([("limit", "-1")], "Limit must be"),
    ([("limit", "many")], "Limit must be"),
])
def test_parse_errors(items, fragment):
    with pytest.raises(errors.HTTPBadRequest) as exc:
        parse(*items)
    assert fragment in exc.value.msg


def test_limit_is_capped():
    assert query.parse(A.NETWORK, [("limit", "5000")], MEMBER, max_page=100).limit == 100


@pytest.mark.parametrize("filters, ids", [
    ({"name": ["x"]}, ["a", "c"]),
    ({"name": ["x", "y"]}, ["a", "b", "c"]),
    ({"admin_state_up": ["false"]}, ["b"]),
    ({"admin_state_up": ["True"], "mtu": ["1500"]}, ["a", "d"]),
    ({"name": [""]}, ["d"]),
])
def test_matches(filters, ids):
    assert [it["id"] for it in ITEMS if query.matches(it, filters)] == ids


def test_page_sorts_with_id_tiebreak_and_marker():
    q = parse(("sort_key", "mtu"), ("sort_dir", "asc"), ("limit", "2"))
    page, more = query.page(list(ITEMS), q)
    assert [it["id"] for it in page] == ["b", "a"] and more
    q = parse(("sort_key", "mtu"), ("limit", "2"), ("marker", "a"))
    page, more = query.page(list(ITEMS), q)
    assert [it["id"] for it in page] == ["d", "c"] and not more


def test_unknown_marker():
    with pytest.raises(errors.NotFound):
        query.page(list(ITEMS), parse(("marker", "zzz")))


def test_links_of_a_full_first_page_are_next_and_previous_as_neutron_gives_them():
    q = parse(("limit", "2"), ("name", "x"))
    page, _ = query.page(list(ITEMS), q)
    links = query.links("http://h/v2.0/networks", page, q, [("limit", "2"), ("name", "x")])
    assert links == [
        {"rel": "next", "href": "http://h/v2.0/networks?limit=2&name=x&marker=b"},
        {"rel": "previous",
         "href": "http://h/v2.0/networks?limit=2&name=x&marker=a&page_reverse=True"}]


def test_a_short_page_has_no_link_onwards():
    params = [("limit", "5"), ("marker", "a")]
    q = parse(*params)
    page, _ = query.page(list(ITEMS), q)
    assert len(page) < 5
    assert [link["rel"] for link in query.links("http://h/n", page, q, params)] == ["previous"]
    params = [("limit", "5"), ("marker", "c"), ("page_reverse", "True")]
    q = parse(*params)
    page, _ = query.page(list(ITEMS), q)
    assert query.links("http://h/n", page, q, params) == [
        {"rel": "next", "href": f"http://h/n?limit=5&marker={page[-1]['id']}"}]


def test_no_limit_no_links():
    q = parse(("name", "x"))
    assert query.links("http://h/n", list(ITEMS), q, [("name", "x")]) == []


def test_select_fields():
    assert query.select_fields(ITEMS[0], ["id", "mtu"]) == {"id": "a", "mtu": 1500}
    assert query.select_fields(ITEMS[0], []) == ITEMS[0]
