"""The holders' claims on a real database (SQLite, or PostgreSQL with
``ASTARA_TEST_DATABASE_URL``): one host per management address, the second refused
with one line, also when they claim at once; a host no longer a holder gives its claim
up; the metadata address is nobody's; a holder's heartbeat claims again what our records
lost, and stops holding if another host has it; the overlay's view counts only listed,
claimed, beating holders."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session
from tests.integration.conftest import fresh_database

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.cli import compute_agent
from astara.compute_service import jobs
from astara.compute_service.agent import holders
from astara.compute_service.agent.overlay import Overlay
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.agent.worker import Agent
from astara.compute_service.models import Host
from astara.compute_service.settings import defaults
from astara.db import migrate
from astara.db.engine import Database

A = "fdca:3ba5:a17a:acda::1/64"


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def claimed(db) -> dict[str, str | None]:
    with db.read() as s:
        return {h.name: h.management_address for h in s.query(Host)}


def test_a_second_host_claiming_the_same_address_is_refused(db):
    assert holders.claim(db, "a", A, True) is None
    assert holders.claim(db, "a", A, True) is None  # a restart claims it again
    line = holders.claim(db, "b", A, True)
    assert line is not None and line.startswith(
        f"management_host_address {A} is claimed by host 'a' ")
    assert "\n" not in line
    assert claimed(db) == {"a": "fdca:3ba5:a17a:acda::1", "b": None}
    # what a backend built by another command (it never claims) goes by
    assert holders.claimed(db, "a", A) and not holders.claimed(db, "b", A)
    # a is no holder any more: its claim goes, and b may have the address
    assert holders.claim(db, "a", A, False) is None
    assert holders.claim(db, "b", A, True) is None
    assert claimed(db) == {"a": None, "b": "fdca:3ba5:a17a:acda::1"}


def test_hosts_claiming_at_once_get_one_holder(db):
    for name in "abcdef":  # rows first: the race is on the unique column
        holders.claim(db, name, "", False)
    with ThreadPoolExecutor(6) as pool:
        lines = list(pool.map(lambda n: holders.claim(db, n, A, True), "abcdef"))
    assert sum(line is None for line in lines) == 1, lines
    assert sorted(v for v in claimed(db).values() if v) == ["fdca:3ba5:a17a:acda::1"]


def test_an_address_in_the_appliances_pool_is_not_claimed(db):
    line = holders.claim(db, "a", "fdca:3ba5:a17a:acda::10/64", True)
    assert line is not None and "allocation pool" in line
    assert claimed(db) == {"a": None}


def test_the_view_counts_listed_claimed_beating_holders(db):
    for name, address in (("a", A), ("b", "fdca:3ba5:a17a:acda::2/64"),
                          ("x", "fdca:3ba5:a17a:acda::3/64")):
        assert holders.claim(db, name, address, True) is None
    with db.write() as s:
        for h in s.query(Host):
            h.tunnel_address = "10.0.0.1"
        s.get(Host, "b").updated_at = jobs.now() - timedelta(hours=1)
    view = Overlay(db, FakeRunner(), "c", "10.0.0.3", 60.0, "vxbrq", ("a", "b")).holder_view()
    assert view.live == {"a": "fdca:3ba5:a17a:acda::1"}  # b stale, x not listed


def test_the_metadata_address_is_nobodys_management_address(db):
    line = holders.claim(db, "a", A, True, metadata_address="fdca:3ba5:a17a:acda::1")
    assert line is not None and "is the management_metadata_address" in line
    assert "\n" not in line and claimed(db) == {"a": None}
    # b claimed ::2; a, whose metadata address is ::2, would hold b's address
    assert holders.claim(db, "b", "fdca:3ba5:a17a:acda::2/64", True) is None
    line = holders.claim(db, "a", A, True, metadata_address="fdca:3ba5:a17a:acda::2")
    assert line is not None and "is claimed by host 'b'" in line
    assert claimed(db)["a"] is None


def test_a_row_made_at_once_by_another_process_of_the_host_is_no_refusal(db, monkeypatch):
    assert holders.claim(db, "a", "", False) is None  # the row is there
    real_get = Session.get
    missed = []

    def get(self, entity, ident, *args, **kwargs):  # a read before the other's insert
        if entity is Host and not missed:
            missed.append(ident)
            return None
        return real_get(self, entity, ident, *args, **kwargs)

    monkeypatch.setattr(Session, "get", get)
    assert holders.claim(db, "a", A, True) is None
    assert missed == ["a"] and claimed(db) == {"a": "fdca:3ba5:a17a:acda::1"}


class Backend:
    """What the agent tells a backend about its claim."""

    def __init__(self):
        self.stopped = 0

    def stop_holding(self) -> list[str]:
        self.stopped += 1
        return ["link set brqx address fa:16:3e:00:00:01"]


def agent(db, tmp_path, backend) -> Agent:
    return Agent(db, backend, "a", OutboxPublisher(WakeupDir(tmp_path / "w")),  # type: ignore[arg-type]
                 WakeupDir(tmp_path / "j"), holder_address=A)


@pytest.mark.parametrize("lost", ["row", "column"])
def test_a_holders_heartbeat_claims_again_what_our_records_lost(db, tmp_path, lost):
    assert holders.claim(db, "a", A, True) is None
    ours = agent(db, tmp_path, Backend())
    ours.register()
    with db.write() as s:  # an operator removes the host, or clears its claim
        if lost == "row":
            s.delete(s.get(Host, "a"))
        else:
            s.get(Host, "a").management_address = None
    ours.heartbeat()
    assert claimed(db) == {"a": "fdca:3ba5:a17a:acda::1"}
    assert holders.claim(db, "b", A, True) is not None  # still a's: b refused
    assert ours.holder_address == A and ours.backend.stopped == 0


def test_a_holder_whose_claim_another_host_took_stops_holding(db, tmp_path, caplog):
    assert holders.claim(db, "a", A, True) is None
    ours = agent(db, tmp_path, Backend())
    ours.register()
    with db.write() as s:
        s.delete(s.get(Host, "a"))
    assert holders.claim(db, "b", A, True) is None  # b started meanwhile
    with caplog.at_level(logging.INFO):
        ours.heartbeat()
        ours.heartbeat()  # once: it holds nothing now
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].startswith(
        f"management_host_address {A} is claimed by host 'b' ")
    assert ours.holder_address is None and ours.backend.stopped == 1
    assert claimed(db) == {"a": None, "b": "fdca:3ba5:a17a:acda::1"}


class StartedBackend:
    """What ``astara-compute-agent`` builds, as the netns backend would be."""

    runner = None

    def __init__(self, holding: bool):
        self.mgmt_tunnelled, self.holds_mgmt_address = True, holding

    def drop_tunnels(self) -> list[str]:
        return []


@pytest.mark.parametrize("taken", [False, True])
def test_the_agent_claims_at_start_and_keeps_what_it_was_granted(db, tmp_path, monkeypatch,
                                                                 caplog, taken):
    if taken:
        assert holders.claim(db, "b", A, True) is None
    compute = replace(defaults(), host="a", tunnel_address="192.0.2.1",
                      management_host_address=A, management_address_host=("a", "b"))
    base = SimpleNamespace(debug=False, database=None,
                           bus=SimpleNamespace(wakeup_dir=tmp_path / "w", max_idle_wait=1.0))
    built, ran = [], []
    monkeypatch.setattr(compute_agent.settings_mod, "load", lambda *a, **k: (None, base,
                                                                            compute))
    monkeypatch.setattr(compute_agent.private, "restrict_umask", lambda: None)
    monkeypatch.setattr(compute_agent.logs, "setup", lambda debug: None)
    monkeypatch.setattr(compute_agent.migrate, "open_database", lambda settings: db)
    monkeypatch.setattr(compute_agent.NetnsBackend, "from_settings",
                        lambda compute, db, holding: built.append(holding)
                        or StartedBackend(holding))
    for module in (compute_agent.mgmt_conflict, compute_agent.neighbour_limits):
        for name in ("check", "check_holder"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda *a: [])
    monkeypatch.setattr(compute_agent.signal, "signal", lambda *a: None)
    monkeypatch.setattr(compute_agent.Agent, "run", lambda self, stop: ran.append(self))
    with caplog.at_level(logging.WARNING):
        assert compute_agent.main([]) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    if taken:
        assert built == [False] and ran[0].holder_address is None
        assert len(errors) == 1 and "is claimed by host 'b'" in errors[0]
    else:
        assert built == [True] and ran[0].holder_address == A and errors == []
        assert claimed(db)["a"] == "fdca:3ba5:a17a:acda::1"
