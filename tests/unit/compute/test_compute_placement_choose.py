"""Placement's choice among live hosts, with Nova's ``different_host`` hint as a
preference and a server group's policy (hard: a filter, soft: an order)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.compute_service.api import server_groups
from astara.compute_service.api.bodies import create
from astara.compute_service.api.errors import BadRequest
from astara.compute_service.api.placement import Group, choose

A, B = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


@pytest.mark.parametrize("free, avoid, expected", [
    ([], frozenset(), None),
    ([(0, "h1")], frozenset(), None),  # full
    ([(5, "h1"), (9, "h2")], frozenset(), "h2"),  # the roomiest
    ([(5, "h1"), (9, "h2")], frozenset({"h2"}), "h1"),  # away from the peer
    ([(9, "h2"), (0, "h1")], frozenset({"h2"}), "h2"),  # h1 full: with the peer
    ([(9, "h1")], frozenset({"h1"}), "h1"),  # one host: with the peer (soft)
])
def test_choose(free, avoid, expected):
    assert choose(free, avoid) == expected


FREE = [(5, "h1"), (9, "h2"), (3, "h3")]


@pytest.mark.parametrize("group, avoid, expected", [
    (Group("anti-affinity", {"h2": 1}), frozenset(), "h1"),
    (Group("anti-affinity", {"h1": 1, "h2": 1, "h3": 1}), frozenset(), None),  # no host
    (Group("anti-affinity", {"h2": 1}, max_server_per_host=2), frozenset(), "h2"),
    (Group("affinity", {"h3": 1}), frozenset(), "h3"),
    (Group("affinity", {"h4": 1}), frozenset(), None),  # its host is gone or full
    (Group("affinity"), frozenset(), "h2"),  # the first member: anywhere
    (Group("soft-anti-affinity", {"h2": 1, "h1": 1}), frozenset(), "h3"),
    (Group("soft-anti-affinity", {"h1": 1, "h2": 1, "h3": 1}), frozenset(), "h2"),  # room
    (Group("soft-anti-affinity", {"h1": 2, "h2": 1, "h3": 1}), frozenset(), "h2"),
    (Group("soft-affinity", {"h3": 1}), frozenset(), "h3"),
    (Group("soft-affinity"), frozenset(), "h2"),
    (Group("soft-anti-affinity", {"h2": 1}), frozenset({"h1"}), "h3"),  # with the hint
])
def test_choose_with_a_group(group, avoid, expected):
    assert choose(FREE, avoid, group) == expected


def test_one_host_soft_anti_affinity_still_places():
    assert choose([(9, "only")], group=Group("soft-anti-affinity", {"only": 1})) == "only"
    assert choose([(9, "only")], group=Group("anti-affinity", {"only": 1})) is None


@pytest.mark.parametrize("body, version, expected", [
    ({"name": "g", "policies": ["anti-affinity"]}, (2, 1), ("anti-affinity", None)),
    ({"name": "g", "policies": ["soft-anti-affinity"]}, (2, 15), ("soft-anti-affinity", None)),
    ({"name": "g", "policy": "soft-affinity"}, (2, 64), ("soft-affinity", None)),
    ({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}, (2, 64),
     ("anti-affinity", 2)),
])
def test_server_group_bodies(body, version, expected):
    req = server_groups.parse_create({"server_group": body}, version)
    assert (req.policy, req.max_server_per_host) == expected and req.name == "g"


@pytest.mark.parametrize("body, version", [
    ({"name": "g", "policies": ["soft-anti-affinity"]}, (2, 14)),  # from 2.15
    ({"name": "g", "policies": ["anti-affinity", "affinity"]}, (2, 1)),
    ({"name": "g", "policy": "anti-affinity"}, (2, 63)),  # policies before 2.64
    ({"name": "g", "policies": ["anti-affinity"]}, (2, 64)),
    ({"name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}, (2, 64)),
    ({"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 0}}, (2, 64)),
    ({"name": "g", "policy": "anti-affinity", "rules": {"other": 1}}, (2, 64)),
    ({"name": "", "policies": ["affinity"]}, (2, 1)),
    ({"name": "x" * 256, "policies": ["affinity"]}, (2, 1)),
    ({"name": 5, "policies": ["affinity"]}, (2, 1)),
    ({"policies": ["affinity"]}, (2, 1)),
])
def test_server_group_bodies_refused(body, version):
    with pytest.raises(BadRequest):
        server_groups.parse_create({"server_group": body}, version)


def test_group_hint_is_read():
    assert create(_body({"group": A}), (2, 37)).group == A
    assert create(_body({"group": [A]}), (2, 37)).group == A
    assert create(_body({}), (2, 37)).group is None
    with pytest.raises(BadRequest):
        create(_body({"group": "not-a-uuid"}), (2, 37))


@pytest.mark.parametrize("free, mine, expected", [
    ([(5, "h1"), (9, "h2")], {"h2": 1}, "h1"),  # fewer of the project's beats room
    ([(5, "h1"), (9, "h2")], {"h1": 2, "h2": 2}, "h2"),  # as many: the roomiest
    ([(9, "h1"), (9, "h2")], {}, "h1"),  # a full tie: the first name
    ([(0, "h1"), (9, "h2")], {"h2": 5}, "h2"),  # the emptier one is full
])
def test_choose_spreads_a_project(free, mine, expected):
    assert choose(free, frozenset(), mine=mine) == expected


def test_avoid_comes_before_spreading():
    assert choose([(5, "h1"), (9, "h2")], frozenset({"h1"}), mine={"h2": 7}) == "h2"


HOSTS = st.lists(st.tuples(st.integers(-3, 20), st.sampled_from("abcdef")), max_size=6,
                 unique_by=lambda x: x[1])


@given(free=HOSTS, avoid=st.frozensets(st.sampled_from("abcdef")),
       mine=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 9)))
def test_choice_properties(free, avoid, mine):
    got = choose(free, avoid, mine=mine)
    room = {name: n for n, name in free if n > 0}
    if not room:
        assert got is None
        return
    assert got in room  # never a full (or unknown) host
    pool = [h for h in room if h not in avoid] or list(room)
    assert got in pool
    assert mine.get(got, 0) == min(mine.get(h, 0) for h in pool)


@given(capacity=st.integers(1, 8), hosts=st.integers(1, 4), boots=st.integers(0, 30))
def test_one_project_spreads_evenly(capacity, hosts, boots):
    """Booting one project's instances one by one (equal hosts, nothing else on them):
    the counts never differ by more than one."""
    names = [f"h{i}" for i in range(hosts)]
    mine = dict.fromkeys(names, 0)
    for _ in range(boots):
        got = choose([(capacity - mine[h], h) for h in names], frozenset(), mine=mine)
        if got is None:
            assert all(n == capacity for n in mine.values())
            break
        mine[got] += 1
    assert max(mine.values()) - min(mine.values()) <= 1


def _body(hints):
    return {"server": {"name": "x", "flavorRef": "1", "imageRef": "astara-tenant",
                       "networks": "none"}, "os:scheduler_hints": hints}


@pytest.mark.parametrize("hints, expected", [
    ({}, ()),
    ({"different_host": A}, (A,)),
    ({"different_host": [B, A, B]}, (A, B)),
    ({"group": A, "different_host": [A]}, (A,)),  # other hints are ignored
])
def test_different_host_hint_is_read(hints, expected):
    assert create(_body(hints), (2, 37)).different_host == expected


@pytest.mark.parametrize("hints", [
    [A], {"different_host": 5}, {"different_host": ["not-a-uuid"]},
    {"different_host": [A] * 33},
])
def test_bad_different_host_hint_is_a_400(hints):
    with pytest.raises(BadRequest):
        create(_body(hints), (2, 37))
