"""``os-server-groups`` create bodies: every bad input is Nova's 400, never an exception."""

from __future__ import annotations

import pytest

from astara.compute_service.api import errors, server_groups


@pytest.mark.parametrize("group", [
    {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "\u00b2"}},
    {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "9" * 5000}},
    {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "0"}},
    {"name": "a\u0000b", "policy": "anti-affinity"},
    {"name": "a\nb", "policy": "anti-affinity"},
    {"name": "", "policy": "anti-affinity"},
    {"name": 3, "policy": "anti-affinity"},
])
def test_server_group_bodies_refused_with_a_400(group):
    with pytest.raises(errors.BadRequest):
        server_groups.parse_create({"server_group": group}, (2, 64))


def test_a_digit_string_rule_is_taken_as_its_integer():
    req = server_groups.parse_create({"server_group": {
        "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "3"}}}, (2, 64))
    assert req.max_server_per_host == 3
