"""The holders' claims on a real database (SQLite, or PostgreSQL with
``ASTARA_TEST_DATABASE_URL``): one host per management address, the second refused
with one line, also when they claim at once; a host no longer a holder gives its claim
up; the overlay's view counts only listed, claimed, beating holders."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from tests.integration.conftest import fresh_database

from astara.compute_service import jobs
from astara.compute_service.agent import holders
from astara.compute_service.agent.overlay import Overlay
from astara.compute_service.agent.runner import FakeRunner
from astara.compute_service.models import Host
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
