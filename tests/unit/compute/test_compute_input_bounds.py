"""Pure checks of compute API input: bodies, the inbound bounds, list queries, name filter."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.compute_service import catalog
from astara.compute_service.api import bodies, errors, inbound, list_query, name_filter
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import HttpNetwork


@pytest.mark.parametrize("arg,want", [(None, None), ({}, None), ({"length": None}, None),
                                      ({"length": -1}, None), ({"length": "-1"}, None),
                                      ({"length": 0}, 0), ({"length": "50"}, 50),
                                      ({"length": 3}, 3)])
def test_console_length_accepts_what_nova_accepts(arg, want):
    assert bodies.console_length(arg) == want


@pytest.mark.parametrize("arg", [{"length": "abc"}, {"length": [1]}, {"length": "inf"},
                                 {"length": float("inf")}, {"length": -5}, {"length": "-5"},
                                 {"length": True}, {"length": 1.5}, {"length": "5\n"},
                                 {"length": "9" * 5000}, {"other": 1}, [], "x"])
def test_console_length_refuses_the_rest(arg):
    with pytest.raises(errors.BadRequest):
        bodies.console_length(arg)


@pytest.mark.parametrize("value", ["a", "x" * 255, "with inner  spaces", "ünï-cödé"])
def test_names_nova_accepts(value):
    assert bodies.name(value) == value


@pytest.mark.parametrize("value", [None, 1, ["a"], {}, "", "x" * 256, " a", "a ", "a\nb",
                                   "nul\x00", "\u2028"])
def test_names_nova_refuses(value):
    with pytest.raises(errors.BadRequest):
        bodies.name(value)


def test_nested_json_is_malformed_before_the_parser_recurses():
    assert inbound.too_deep("[" * 33 + "]" * 33)
    assert not inbound.too_deep("[" * 32 + "]" * 32)
    assert not inbound.too_deep('"' + "[" * 100 + '"')  # brackets inside a string
    assert not inbound.too_deep('"\\"' + "[" * 100 + '"')
    for raw in (b"[" * 100000, b'{"a": "\\ud800"}', b'{"\\udc00": 1}', b"\xff", b"{"):
        with pytest.raises(errors.BadRequest, match="Malformed request body"):
            inbound.parse_json(raw)
    assert inbound.parse_json(b'{"a": ["\\ud83d\\ude00"]}') == {"a": ["\U0001f600"]}
    assert inbound.parse_json(b"") is None


def test_query_refuses_nul_and_lone_surrogates():
    assert inbound.query([("a", "1"), ("a", "2")]) == {"a": "2"}
    for pairs in ([("flavor", "\x00")], [("n\x00", "x")], [("name", "\ud800")]):
        with pytest.raises(errors.BadRequest):
            inbound.query(pairs)


def test_shown_values_are_cut_short():
    assert len(errors.shown("x" * 100000)) <= errors.SHOWN + 3
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert len(errors.shown(deep)) < 100
    assert errors.shown({"status": "ACTIVE"}) == "{'status': 'ACTIVE'}"


@pytest.mark.parametrize("filters", [{"limit": "abc"}, {"limit": "-1"}, {"limit": ""},
                                     {"sort_key": "x"}, {"sort_dir": "up"},
                                     {"changes-since": "garbage"},
                                     {"changes-since": "0001-01-01T00:00:00+05:00"}])
def test_list_query_refusals(filters):
    with pytest.raises(errors.BadRequest):
        list_query.parse(filters, admin=False)


def test_list_query_paging():
    q = list_query.parse({"limit": "0000002", "sort_key": "display_name", "sort_dir": "asc",
                          "changes-since": "2026-01-01T01:00:00+01:00"}, admin=False)
    assert (q.limit, q.sort_key, q.descending) == (2, "name", False)
    assert q.changes_since.isoformat() == "2026-01-01T00:00:00"
    assert list_query.parse({"limit": "9" * 40}, admin=False).limit == list_query.MAX_LIMIT

    class Row:
        def __init__(self, id_):
            self.id = id_
    rows = [Row(str(i)) for i in range(5)]
    assert [r.id for r in list_query.page(rows, list_query.ListQuery(marker="1", limit=2))] \
        == ["2", "3"]
    with pytest.raises(errors.BadRequest, match=r"marker \[9\] not found"):
        list_query.page(rows, list_query.ListQuery(marker="9"))
    with pytest.raises(errors.Forbidden):
        list_query.parse({"all_tenants": "1"}, admin=False)


def test_name_filter_keeps_regex_semantics_within_a_time_budget():
    names = ["router-1", "router-12", "vm"]
    assert name_filter.select("^router-1$", names, str) == ["router-1"]
    assert name_filter.select("outer", names, str) == ["router-1", "router-12"]
    with pytest.raises(errors.BadRequest, match="Invalid name filter"):
        name_filter.select("((", names, str)
    with pytest.raises(errors.BadRequest, match="longer than 255"):
        name_filter.select("a" * 256, names, str)
    # The match itself is cut off: regex's timeout gets what is left of the budget.
    with pytest.raises(errors.BadRequest, match="too long to match"):
        name_filter.select("(a|aa)+$", ["a" * 40 + "!"], str, budget=0.05)


def test_name_filter_budget_is_spent_over_all_rows():
    ticks = iter(range(100))
    clock = lambda: float(next(ticks))  # noqa: E731 - one second passes per look
    names = ["vm-1", "vm-2", "vm-3"]
    # Budget 2.5: the first look starts at 0, rows at 1 and 2 fit, the third is at 3.
    with pytest.raises(errors.BadRequest, match="too long to match"):
        name_filter.select("vm", names, str, budget=2.5, clock=clock)
    ticks = iter(range(100))
    assert name_filter.select("vm", names, str, budget=3.5, clock=clock) == names


def test_network_client_quotes_every_path_segment():
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(404)
    net = HttpNetwork("http://network.test", transport=httpx.MockTransport(answer))
    caller = Context(project_id="p", roles=("member",))
    # An id that would leave its path segment is not even asked for.
    assert net.get_network(caller, "..") is None
    assert net.get_port(caller, "../networks/x?y#z") is None
    assert net.subnet_cidr(caller, "a/b") is None
    assert seen == []
    assert net.get_network(caller, "a.b") is None
    assert net.subnet_cidr(caller, "s.1:2") is None
    assert seen == [b"/v2.0/networks/a%2Eb", b"/v2.0/subnets/s%2E1%3A2"]


@pytest.mark.parametrize("pattern", [
    "a{10000000}", "a{4294967294}", "((a{255}){255}){255}", "a{2}b{2}", "b{,300}",
    "a\\\\{10000000}",
])
def test_name_filter_refuses_counted_repeats_that_compile_huge(pattern):
    # Compiling cannot be interrupted: a{10000000} took seconds and gigabytes.
    with pytest.raises(errors.BadRequest):
        name_filter.select(pattern, ["a"], str)


def test_name_filter_keeps_one_small_counted_repeat():
    assert name_filter.select("^x{2}$", ["x", "xx", "xxx"], str) == ["xx"]


def _server(networks):
    return {"server": {"name": "s", "flavorRef": "1", "imageRef": catalog.TENANT_IMAGE,
                       "networks": networks}}


def test_a_server_may_ask_for_up_to_the_bound_of_networks():
    nets = [{"uuid": "6a7b8c9d-0000-4000-8000-000000000001"}] * bodies.MAX_NETWORKS
    assert len(bodies.create(_server(nets), (2, 1)).networks) == bodies.MAX_NETWORKS


def test_a_server_asking_for_more_networks_than_the_bound_is_a_bad_request():
    nets = [{"uuid": "6a7b8c9d-0000-4000-8000-000000000001"}] * 2400
    with pytest.raises(errors.BadRequest) as got:
        bodies.create(_server(nets), (2, 1))
    assert "networks" in got.value.message


@given(st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40))
def test_an_escaped_name_is_an_exact_lookup_with_the_regex_meaning(name):
    pattern = "^" + re.escape(name) + "$"
    assert name_filter.exact(pattern) == name
    for other in (name, name + "x", "x" + name, name[:-1]):
        assert bool(re.search(pattern, other)) == (other == name_filter.exact(pattern))


@pytest.mark.parametrize("pattern", ["router", "^router", "router$", "^ab.c$", r"^a\d$",
                                     "^a*$", "^(ab)$", "^a|b$", r"^a\$", "^[ab]$", r"^a\\$x$"])
def test_a_pattern_that_is_no_literal_name_is_matched_as_a_regex(pattern):
    assert name_filter.exact(pattern) is None
