"""Placement's choice among live hosts, with Nova's ``different_host`` hint as a preference."""

from __future__ import annotations

import pytest

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
