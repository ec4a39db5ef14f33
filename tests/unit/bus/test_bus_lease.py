"""``BusLease`` on SQLite: take, renew, no steal while live (whatever the local clock
says: expiry is the database's time), a steal only after expiry with a new epoch,
the old holder then fenced out, and release handing over at once."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from astara.bus.lease import BusLease, LeaseLost, LeaseRow
from astara.db import migrate
from astara.db.engine import Database


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'lease.db'}")
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def expire(db: Database, name: str = "role") -> None:
    """Time passes past the lease (the row's expiry moved into the database's past)."""
    with db.write() as s:
        s.execute(update(LeaseRow).where(LeaseRow.name == name)
                  .values(expires_at=LeaseRow.expires_at - 3600))


def test_take_renew_and_no_steal_while_live(db):
    a = BusLease(db, "role", "a", 30)
    # b's host clock an hour ahead: the database's time decides, so no steal.
    b = BusLease(db, "role", "b", 30, clock=lambda: time.time() + 3600)
    assert a.take() and a.epoch == 1
    assert a.take() and a.epoch == 1  # a renewal keeps the epoch
    assert not b.take()
    with db.write() as s:
        a.fence(s)  # still a's


def test_steal_only_after_expiry_then_the_old_holder_is_fenced(db):
    a, b = BusLease(db, "role", "a", 30), BusLease(db, "role", "b", 30)
    assert a.take()
    expire(db)
    with db.write() as s, pytest.raises(LeaseLost):
        a.fence(s)  # lapsed: a applies nothing even before b takes it
    assert b.take() and b.epoch == 2
    assert not a.take()
    with db.write() as s, pytest.raises(LeaseLost):
        a.fence(s)


def test_release_hands_over_at_once(db):
    a, b = BusLease(db, "role", "a", 30), BusLease(db, "role", "b", 30)
    assert a.take()
    assert not b.take()
    a.release()
    assert b.take() and b.epoch == 2
