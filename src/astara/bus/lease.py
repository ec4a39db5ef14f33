"""One holder at a time for a bus role (``bus_leases``): the compute dispatcher, the relay.

A process holds the role while its row names it (``owner``: a token new at each start)
and ``expires_at`` is in the future; it renews the row well before that. Taking is one
conditional UPDATE (``owner = me OR expired``), atomic on PostgreSQL (the row lock, then
the condition re-read) and on SQLite (one writer); a missing row is inserted, and an
insert that loses a race is simply not taken. ``epoch`` grows at each change of hands.

``fence`` is the check inside the holder's own write transaction: it locks the row
(``FOR UPDATE`` on PostgreSQL; SQLite has one writer) and raises ``LeaseLost`` unless
it is still the holder's, so a holder that stalled past its lease (paused, cut off)
cannot apply anything once another took over: the taker's UPDATE waits for the lock,
and what the old holder applies commits before the new one takes the row.

Expiry is the database's clock, read in each statement (``db_now``): hosts whose clocks
differ, or step, agree on when a lease lapsed, and a taker whose UPDATE waited on a
lock reads the time after the wait. The local monotonic clock only schedules renewals.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from sqlalchemy import Float, Integer, String, case, cast, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from astara.db.base import Base
from astara.db.engine import Database


class LeaseRow(Base):
    __tablename__ = "bus_leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch (UTC)


class LeaseLost(RuntimeError):
    """The holder's lease is gone: another process may act now."""


def db_now(dialect: str):
    """The database's current time in seconds since the epoch, as a SQL expression
    (PostgreSQL: the statement's own clock, not the transaction's start)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)


def owner_token(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


class BusLease:
    """The lease ``name`` as ``owner`` sees it. ``ttl``: how long a take lasts;
    ``renew_every`` (a third of it by default): how often ``keep`` extends it."""

    def __init__(self, db: Database, name: str, owner: str, ttl: float,
                 clock: Callable[[], float] = time.monotonic):
        """``clock``: schedules renewals only; expiry is the database's time."""
        self.db, self.name, self.owner, self.ttl, self.clock = db, name, owner, ttl, clock
        self.renew_every = ttl / 3
        self.epoch = 0  # the epoch of the last take (0: never held)
        self._next_renew = 0.0
        self._held = False
        self._now = db_now(db.engine.dialect.name)

    def take(self) -> bool:
        """Take or extend the lease; whether this owner holds it now."""
        now = self._now
        me = self.owner
        with self.db.write() as s:
            s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name,
                       (LeaseRow.owner == me) | (LeaseRow.expires_at <= now))
                .values(epoch=case(((LeaseRow.owner == me) & (LeaseRow.expires_at > now),
                                    LeaseRow.epoch), else_=LeaseRow.epoch + 1),
                        owner=me, expires_at=now + self.ttl)
                .execution_options(synchronize_session=False))
            row = s.execute(select(LeaseRow.owner, LeaseRow.epoch)
                            .where(LeaseRow.name == self.name)).first()
            if row is None:
                try:
                    with s.begin_nested():
                        s.add(LeaseRow(name=self.name, owner=me, epoch=1,
                                       expires_at=now + self.ttl))
                    row = (me, 1)
                except IntegrityError:
                    row = None  # another inserted it first: its lease
        self._held = row is not None and row[0] == me
        if self._held:
            self.epoch = row[1]
            self._next_renew = self.clock() + self.renew_every
        return self._held

    def keep(self) -> bool:
        """Whether this owner still holds the lease, renewing it when due (call often)."""
        if not self._held or self.clock() >= self._next_renew:
            return self.take()
        return True

    def fence(self, session: Session) -> None:
        """Raise ``LeaseLost`` unless this owner holds the lease; in the caller's write
        transaction, whose commit the row's lock then orders before any takeover."""
        row = session.execute(
            select(LeaseRow.owner, LeaseRow.expires_at > self._now)
            .where(LeaseRow.name == self.name).with_for_update()).first()
        if row is None or row[0] != self.owner or not row[1]:
            self._held = False
            raise LeaseLost(f"lease {self.name} is no longer held by {self.owner}")

    def release(self) -> None:
        """Give the lease up now (a clean stop: a standby takes over at once)."""
        if not self._held:
            return
        self._held = False
        with self.db.write() as s:
            s.execute(update(LeaseRow)
                      .where(LeaseRow.name == self.name, LeaseRow.owner == self.owner)
                      .values(expires_at=0.0)
                      .execution_options(synchronize_session=False))
