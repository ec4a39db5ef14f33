"""``[orchestrator] metadata_address``: what the appliances' documents name, where the
metadata proxy listens, when the appliance client binds its source, the one line a
wrong value or a member that disagrees gives."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import pytest

from astara.common.entry import ConfigError
from astara.common.settings import default_conf
from astara.orchestrator import addresses, opts
from astara.orchestrator.cluster.ownership import Rebalance
from astara.orchestrator.cluster.settings import CoordinationSettings
from astara.orchestrator.service import Orchestrator

MGMT, SHARED = "fdca:3ba5:a17a:acda::a", "fdca:3ba5:a17a:acda::53"


def test_by_default_the_document_names_the_management_address_and_nothing_is_bound():
    o = opts.defaults()
    assert o.metadata_address == ""
    assert opts.management_settings(o).orchestrator_address == o.management_address
    assert opts.metadata_address(o) == o.management_address
    assert opts.appliance_source(o) is None


def test_a_metadata_address_is_what_the_document_names_and_the_management_one_is_bound():
    o = replace(opts.defaults(), management_address=MGMT, metadata_address=SHARED)
    assert opts.management_settings(o).orchestrator_address == SHARED
    assert opts.metadata_address(o) == SHARED
    assert opts.appliance_source(o) == MGMT


@pytest.mark.parametrize("management, metadata, source", [
    (MGMT, "", None),                                  # one machine: the kernel chooses
    (MGMT, "  ", None),
    (MGMT, MGMT, None),                                # the same address: no bind
    (MGMT, "fdca:3ba5:a17a:acda:0:0:0:a", None),       # the same, spelt otherwise
    (MGMT, SHARED, MGMT),
    ("192.0.2.10", "192.0.2.53", "192.0.2.10"),
])
def test_the_bind_decision(management, metadata, source):
    assert addresses.appliance_source(management, metadata) == source


@pytest.mark.parametrize("management, metadata, message", [
    (MGMT, "not-an-address", "metadata_address = 'not-an-address' is not an IP address"),
    (MGMT, "fdca::53/64", "metadata_address = 'fdca::53/64' is not an IP address"),
    ("orchestrator.example", SHARED,
     "management_address = 'orchestrator.example' is not an IP address"),
    (MGMT, "192.0.2.53", "is IPv4 but management_address = 'fdca:3ba5:a17a:acda::a' is IPv6"),
    (MGMT, "::", "metadata_address = '::' is unspecified (every address of the host)"),
    ("192.0.2.10", "0.0.0.0", "metadata_address = '0.0.0.0' is unspecified"),
    (MGMT, "ff02::1", "metadata_address = 'ff02::1' is a multicast address"),
    ("192.0.2.10", "224.0.0.1", "is a multicast address"),
    (MGMT, "::1", "metadata_address = '::1' is a loopback address"),
    ("192.0.2.10", "127.0.0.53", "is a loopback address"),
    (MGMT, "fe80::53", "metadata_address = 'fe80::53' is link-local"),
    ("fe80::a%br-mgmt", "fe80::53%br-mgmt", "is link-local"),
    ("192.0.2.10", "169.254.0.53", "is link-local"),
])
def test_a_wrong_value_is_one_line(management, metadata, message):
    with pytest.raises(ConfigError, match="^\\[orchestrator\\] ") as exc:
        addresses.check(management, metadata)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_the_options_are_checked_when_read():
    conf = default_conf(opts.GROUPS)
    conf.set_override("metadata_address", "fdca::zz", group="orchestrator")
    with pytest.raises(ConfigError, match="metadata_address = 'fdca::zz'"):
        opts.from_conf(conf)
    conf.set_override("metadata_address", SHARED, group="orchestrator")
    assert opts.from_conf(conf).metadata_address == SHARED


def test_members_that_advertise_another_metadata_address():
    group = {"a": {addresses.CAPABILITY: SHARED},
             "b": {addresses.CAPABILITY: "fdca:3ba5:a17a:acda:0:0:0:53"},  # the same
             "c": {addresses.CAPABILITY: "fdca:3ba5:a17a:acda::c"},
             "d": {"owner": "d/1"},  # an older member advertises none: not counted
             "e": {addresses.CAPABILITY: 5}}
    assert addresses.disagreeing("a", SHARED, group) == {"c": "fdca:3ba5:a17a:acda::c"}
    assert addresses.disagreeing("c", "fdca:3ba5:a17a:acda::c", group) == {
        "a": SHARED, "b": "fdca:3ba5:a17a:acda:0:0:0:53"}


class Group:
    def __init__(self, members: dict[str, dict]):
        self.members = members

    def group(self) -> dict[str, dict]:
        return self.members


def member(name: str, metadata_address: str, group: dict[str, dict]) -> Orchestrator:
    orch = Orchestrator.__new__(Orchestrator)
    orch.o = replace(opts.defaults(), management_address=MGMT,
                     metadata_address=metadata_address)
    orch.coordination = CoordinationSettings(True, "", "g", 1.0, 10, 2.0, name, "")
    orch.ownership = Group(group)  # type: ignore[assignment]
    return orch


def test_a_member_whose_metadata_address_differs_says_so_in_one_line(caplog):
    group = {"a": {addresses.CAPABILITY: MGMT}, "b": {addresses.CAPABILITY: SHARED},
             "c": {"owner": "c/1"}}
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.service"):
        member("a", "", group)._check_metadata_address()
    [line] = [r.getMessage() for r in caplog.records]
    assert "the orchestrator address in the appliances' documents differs" in line
    assert f"ours {MGMT}; b {SHARED}" in line and "\n" not in line

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.service"):
        member("b", SHARED, group | {"a": {addresses.CAPABILITY: SHARED}}) \
            ._check_metadata_address()
    assert caplog.records == []


def test_a_member_that_starts_to_differ_later_is_named_once_at_a_heartbeat(caplog):
    """Coordination down at our join (an empty group), or a member joining after us:
    the check runs at every heartbeat and names each member once when it differs."""
    group: dict[str, dict] = {}
    orch = member("a", SHARED, group)
    lines = []
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.service"):
        orch._check_metadata_address()  # the group empty: nothing to compare
        group |= {"a": {addresses.CAPABILITY: SHARED}, "b": {addresses.CAPABILITY: MGMT}}
        orch._check_metadata_address()
        orch._check_metadata_address()  # b again: not named twice
        lines.append(len(caplog.records))
        group["c"] = {addresses.CAPABILITY: "fdca:3ba5:a17a:acda::c"}
        orch._check_metadata_address()
        del group["b"], group["c"]
        orch._check_metadata_address()
        group["b"] = {addresses.CAPABILITY: MGMT}  # left and came back still differing
        orch._check_metadata_address()
    named = [r.getMessage() for r in caplog.records]
    assert lines == [1] and len(named) == 3
    assert f"ours {SHARED}; b {MGMT})" in named[0]
    assert f"ours {SHARED}; c fdca:3ba5:a17a:acda::c)" in named[1]
    assert f"ours {SHARED}; b {MGMT})" in named[2]
    assert all("metadata_address differs" not in line for line in named)


class Beats:
    """Two heartbeats, then stop; the group read at each."""

    def __init__(self, group: dict[str, dict]):
        self.waits, self.group_ = 0, group

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        return self.waits > 2

    def tick(self, known) -> Rebalance:
        return Rebalance()

    def group(self) -> dict[str, dict]:
        return self.group_


def test_each_heartbeat_compares_the_members(caplog):
    """A member that joins after us is named at the heartbeat that sees it."""
    beats = Beats({"b": {addresses.CAPABILITY: MGMT}})
    orch = member("a", SHARED, {})
    orch._stop, orch.ownership = beats, beats  # type: ignore[assignment]
    orch._lock, orch.known = threading.Lock(), {}
    orch._handoff = threading.Lock()
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.service"):
        orch._cluster()
    [line] = [r.getMessage() for r in caplog.records]
    assert f"ours {SHARED}; b {MGMT})" in line


@pytest.mark.parametrize("metadata, listens", [("", MGMT), (SHARED, SHARED)])
def test_the_metadata_proxy_listens_on_the_metadata_address(monkeypatch, metadata, listens):
    from astara.cli import orchestrator as cli

    bound: list[tuple] = []
    started: list[str] = []

    class Thread:
        def __init__(self, target, kwargs, daemon, name):
            self.name = name

        def start(self):
            started.append(self.name)

    monkeypatch.setattr(cli, "_sockets", lambda hosts, port, freebind=False:
                        bound.append((hosts, port, freebind)) or [])
    monkeypatch.setattr(cli.threading, "Thread", Thread)
    orch = Orchestrator.__new__(Orchestrator)
    orch.network = object()  # type: ignore[assignment]
    o = replace(opts.defaults(), management_address=MGMT, metadata_address=metadata,
                metadata_proxy_shared_secret="s")
    assert cli._metadata_server(orch, o) is not None
    assert bound == [((listens,), o.metadata_port, True)] and started == ["metadata-proxy"]


def test_joining_advertises_the_metadata_address_and_names_a_member_that_differs(
        tmp_path, caplog):
    from astara.common.settings import sqlite_url
    from astara.db import migrate
    from astara.db.engine import Database
    from astara.orchestrator.cluster.membership import StaticMembership

    db = Database(sqlite_url(tmp_path))
    migrate.upgrade(db.engine)
    made: list[StaticMembership] = []

    def membership(caps: dict) -> StaticMembership:
        m = StaticMembership("orch-a", caps)
        m.members["orch-b"] = {"owner": "orch-b/1", addresses.CAPABILITY: SHARED}
        made.append(m)
        return m

    orch = member("orch-a", "", {})
    orch.o = replace(orch.o, rpc_hosts=("10.0.0.11",))
    orch.db, orch.lease_owner, orch._membership_factory = db, "orch-a/1", membership
    try:
        with caplog.at_level(logging.ERROR, logger="astara.orchestrator.service"):
            orch._join_cluster()
    finally:
        db.dispose()
    assert made[0].members["orch-a"][addresses.CAPABILITY] == MGMT
    [line] = [r.getMessage() for r in caplog.records]
    assert f"(ours {MGMT}; orch-b {SHARED})" in line
