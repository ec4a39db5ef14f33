"""Who else holds the management address at the compute agent's start (pure rules)."""

from __future__ import annotations

import pytest

from astara.compute_service.agent.mgmt_conflict import (
    Holder,
    conflicts,
    expected_bridge,
    holders,
)

ADDR = "fdca:3ba5:a17a:acda::1/64"


def link(name, *addresses, kind=None, master=None) -> dict:
    out = {"ifname": name, "addr_info": [{"local": a.split("/")[0]} for a in addresses]}
    if kind:
        out["linkinfo"] = {"info_kind": kind}
    if master:
        out["master"] = master
    return out


def test_holders_are_found_by_address_whatever_the_prefix_or_spelling():
    links = [link("lo", "127.0.0.1", "::1"),
             link("brqaaaa", "fdca:3ba5:a17a:acda:0::1", "fe80::1", kind="bridge"),
             link("tapx", master="brqaaaa"), link("tapy", master="brqaaaa"),
             link("eth9", "fdca:3ba5:a17a:acda::1", kind=None),
             link("brqbbbb", "fdca:3ba5:a17a:acda::2", kind="bridge"),
             {"ifname": "odd", "addr_info": [{"local": "not an address"}]}]
    assert holders(links, ADDR) == [Holder("brqaaaa", "bridge", 2), Holder("eth9", None, 0)]


@pytest.mark.parametrize("ports, expected", [
    ([], None),
    ([[{"net_id": "11111111-2222-3333-4444-555555555555", "network_name": "tenant"}]], None),
    ([[{"net_id": "11111111-2222-3333-4444-555555555555", "network_name": "tenant"},
       {"net_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "network_name": "astara-mgmt",
        "management": True}]],
     "brqaaaaaaaabbbb"),
    # named like it, unmarked (a tenant's network): not the management bridge
    ([[{"net_id": "11111111-2222-3333-4444-555555555555", "network_name": "astara-mgmt"}]],
     None),
    ([None, [{"net_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
              "network_name": "astara-mgmt", "management": True}]], "brqaaaaaaaabbbb"),
])
def test_the_expected_bridge_comes_from_our_instances(ports, expected):
    assert expected_bridge(ports, "brq") == expected


@pytest.mark.parametrize("found, expected, named", [
    ([], None, []),
    ([Holder("brqcur", "bridge", 3)], "brqcur", []),  # ours, in use: nothing to say
    ([Holder("brqold", "bridge", 2)], None, ["brqold"]),  # fresh run, an old bridge holds it
    ([Holder("brqcur", "bridge", 3), Holder("brqold", "bridge", 0)], "brqcur", ["brqold"]),
    ([Holder("eth9", None, 0)], "brqcur", ["eth9"]),
])
def test_every_other_holder_is_one_line(found, expected, named):
    lines = conflicts(found, expected, ADDR, "brq")
    assert len(lines) == len(named)
    for line, name in zip(lines, named, strict=True):
        assert "\n" not in line and f"ip addr del {ADDR} dev {name}" in line


def test_the_line_says_whose_it_looks_like():
    [ours] = conflicts([Holder("brqold", "bridge", 2)], None, ADDR, "brq")
    assert "bridge brqold (with 2 ports: left by an earlier run?)" in ours
    assert "astara-netns-cleanup --force" in ours
    [theirs] = conflicts([Holder("brqlookalike", None, 0)], None, ADDR, "brq")
    assert "interface brqlookalike (not Astara's)" in theirs
    assert "astara-netns-cleanup" not in theirs
