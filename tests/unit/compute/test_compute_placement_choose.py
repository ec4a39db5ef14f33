"""Placement's choice among live hosts, with Nova's ``different_host`` hint as a preference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.compute_service.api.bodies import create
from astara.compute_service.api.errors import BadRequest
from astara.compute_service.api.placement import choose

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


@pytest.mark.parametrize("free, mine, expected", [
    ([(5, "h1"), (9, "h2")], {"h2": 1}, "h1"),  # fewer of the project's beats room
    ([(5, "h1"), (9, "h2")], {"h1": 2, "h2": 2}, "h2"),  # as many: the roomiest
    ([(9, "h1"), (9, "h2")], {}, "h1"),  # a full tie: the first name
    ([(0, "h1"), (9, "h2")], {"h2": 5}, "h2"),  # the emptier one is full
])
def test_choose_spreads_a_project(free, mine, expected):
    assert choose(free, frozenset(), mine) == expected


def test_avoid_comes_before_spreading():
    assert choose([(5, "h1"), (9, "h2")], frozenset({"h1"}), {"h2": 7}) == "h2"


HOSTS = st.lists(st.tuples(st.integers(-3, 20), st.sampled_from("abcdef")), max_size=6,
                 unique_by=lambda x: x[1])


@given(free=HOSTS, avoid=st.frozensets(st.sampled_from("abcdef")),
       mine=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 9)))
def test_choice_properties(free, avoid, mine):
    got = choose(free, avoid, mine)
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
        got = choose([(capacity - mine[h], h) for h in names], frozenset(), mine)
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
