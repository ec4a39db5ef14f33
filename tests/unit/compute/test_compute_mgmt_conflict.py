"""Who else holds the management address at the compute agent's start (pure rules)."""

from __future__ import annotations

import pytest

from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service import jobs
from astara.compute_service.agent.mgmt_conflict import (
    Holder,
    check_holder,
    conflicts,
    expected_bridge,
    holders,
    unknown_holder,
)
from astara.compute_service.models import Host
from astara.db import migrate

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


@pytest.mark.parametrize(("holder", "host", "hosts", "want"), [
    ("", "a", [], None),  # no holder: every host holds its own
    ("a", "a", [], None),  # itself: its agent registers it
    ("ctl-1", "b", ["ctl-1", "b"], None),
    ("CTL-1", "b", ["ctl-1", "b"], "management_address_host = 'CTL-1' names no compute "
     "host (did you mean 'ctl-1'?): no appliance of this host reaches the management "
     "address until it names the holder's [compute_service] host exactly (known: b, "
     "ctl-1)"),
    ("ctl", "b", [], "management_address_host = 'ctl' names no compute host: no "
     "appliance of this host reaches the management address until it names the holder's "
     "[compute_service] host exactly (known: none yet)"),
])
def test_a_holder_naming_no_compute_host_is_one_line(holder, host, hosts, want):
    assert unknown_holder(holder, host, hosts) == want


def test_the_holder_is_checked_against_the_hosts_table(tmp_path):
    db = migrate.open_database(DatabaseSettings(sqlite_url(tmp_path), auto_migrate=True))
    try:
        with db.write() as s:
            s.add(Host(name="ctl-1", updated_at=jobs.now()))
        assert check_holder(db, ("ctl-1",), "b") == []
        assert check_holder(db, (), "b") == []
        [line] = check_holder(db, ("Ctl-1",), "b")
        assert "did you mean 'ctl-1'?" in line and "\n" not in line
    finally:
        db.dispose()
