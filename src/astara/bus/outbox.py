"""The embedded transport: a transactional outbox in the services' database.

``OutboxPublisher.publish`` inserts a row in ``bus_outbox`` in the caller's session,
so the notification commits with the change that caused it. Positions grow in
commit order (SQLite serializes writers; on PostgreSQL a transaction-scoped
advisory lock is taken before the insert), so a consumer that reads "everything
after my cursor" never skips a row that commits late. ``OutboxConsumer`` keeps
its cursor in ``bus_cursors`` and advances it only after its handler succeeded.
Rows every cursor has passed, and older than the retention, are pruned in bounded
batches (``prune``; a consumer given a retention calls it every ``prune_every`` s).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from astara.bus.base import Message
from astara.bus.wakeup import WakeupDir
from astara.db.base import Base
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
_PG_OUTBOX_LOCK = 0x61737461  # "asta": serializes outbox inserts until commit
PRUNE_EVERY = 60.0  # seconds between two prunes by one consumer
PRUNE_BATCH = 1000  # rows per delete transaction: writers never wait long


class OutboxRow(Base):
    __tablename__ = "bus_outbox"
    # Never reuse a position, even after old rows are pruned.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(String(255), index=True)
    event_type: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class CursorRow(Base):
    __tablename__ = "bus_cursors"

    consumer: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


def prune(db: Database, retention: float, batch: int = PRUNE_BATCH,
          now: datetime | None = None) -> int:
    """Delete the rows every consumer has passed and older than ``retention`` seconds.

    The age keeps rows for a consumer that has not started yet (its cursor does not
    exist). Each batch is its own short transaction. Returns the rows deleted.
    """
    cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(seconds=retention)
    with db.read() as s:
        slowest = s.scalar(select(func.min(CursorRow.position)))
        if not slowest:
            return 0
        # The newest row old enough; positions and ages grow together.
        floor = s.scalar(select(func.max(OutboxRow.id)).where(
            OutboxRow.id <= slowest, OutboxRow.created_at < cutoff))
        low = s.scalar(select(func.min(OutboxRow.id)))
    if floor is None or low is None:
        return 0
    deleted = 0
    while low <= floor:
        high = min(floor, low + batch - 1)
        with db.write() as s:
            deleted += s.execute(delete(OutboxRow).where(
                OutboxRow.id >= low, OutboxRow.id <= high)).rowcount
        low = high + 1
    return deleted


def drop_cursor(db: Database, consumer: str) -> bool:
    """Forget a consumer that no longer reads the outbox (its cursor would keep every
    row from being pruned). Returns whether it had one."""
    with db.write() as s:
        return bool(s.execute(delete(CursorRow).where(CursorRow.consumer == consumer)
                              ).rowcount)


class OutboxPublisher:
    def __init__(self, wakeup: WakeupDir | None = None):
        self._wakeup = wakeup

    def publish(self, unit: Session, topic: str, body: dict[str, Any]) -> None:
        self.publish_all(unit, topic, [body])

    def publish_all(self, unit: Session, topic: str, bodies: Sequence[dict[str, Any]]) -> None:
        """Insert the messages, in order, with one statement (an executemany)."""
        if not bodies:
            return
        if unit.bind.dialect.name == "postgresql":
            unit.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_OUTBOX_LOCK})
        now = datetime.now(UTC).replace(tzinfo=None)
        unit.execute(OutboxRow.__table__.insert(), [
            {"topic": topic, "event_type": body.get("event_type", ""),
             "body": json.dumps(body, separators=(",", ":")), "created_at": now}
            for body in bodies])

    def committed(self) -> None:
        if self._wakeup is not None:
            self._wakeup.notify()


class OutboxConsumer:
    def __init__(
        self,
        db: Database,
        name: str,
        topics: Sequence[str] | None = None,
        wakeup: WakeupDir | None = None,
        *,
        max_idle_wait: float,  # [bus] max_idle_wait: the option is its one default
        retention: float | None = None,
        prune_every: float = PRUNE_EVERY,
    ):
        self.name = name
        self._db = db
        self._topics = list(topics) if topics else None
        self._listener = wakeup.listen() if wakeup is not None else None
        self._max_idle_wait = max_idle_wait
        self._retention = retention  # None: this consumer does not prune
        self._prune_every = prune_every
        self._next_prune = 0.0

    def position(self) -> int:
        with self._db.read() as s:
            pos = s.scalar(select(CursorRow.position).where(CursorRow.consumer == self.name))
        return pos or 0

    def fetch(self, limit: int = 100) -> list[Message]:
        with self._db.read() as s:
            after = s.scalar(select(CursorRow.position).where(CursorRow.consumer == self.name))
            q = select(OutboxRow).where(OutboxRow.id > (after or 0))
            if self._topics:
                q = q.where(OutboxRow.topic.in_(self._topics))
            rows = s.scalars(q.order_by(OutboxRow.id).limit(limit)).all()
            return [Message(r.id, r.topic, json.loads(r.body)) for r in rows]

    def lag(self) -> tuple[int, datetime | None]:
        """How many rows of this consumer's topics wait after its cursor, and when the
        oldest of them was written (None: none waits)."""
        with self._db.read() as s:
            after = s.scalar(select(CursorRow.position).where(CursorRow.consumer == self.name))
            q = select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(
                OutboxRow.id > (after or 0))
            if self._topics:
                q = q.where(OutboxRow.topic.in_(self._topics))
            count, oldest = s.execute(q).one()
        return count, oldest

    def skip_to_tail(self) -> int:
        """Move the cursor past every row there is now (one query); return the position."""
        with self._db.read() as s:
            q = select(func.max(OutboxRow.id))
            if self._topics:
                q = q.where(OutboxRow.topic.in_(self._topics))
            tail = s.scalar(q)
        if tail:
            self.ack(tail)
        return tail or 0

    def maintain(self) -> None:
        """Prune the outbox if this consumer prunes and it is time (call it often)."""
        if self._retention is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self._prune_every
        try:
            n = prune(self._db, self._retention)
        except Exception:  # housekeeping: never the reason a consumer stops
            LOG.exception("outbox: prune failed; trying again in %.0f s", self._prune_every)
            return
        if n:
            LOG.info("outbox: pruned %d rows every consumer had read", n)

    def ack(self, position: int) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._db.write() as s:
            done = s.execute(
                update(CursorRow)
                .where(CursorRow.consumer == self.name, CursorRow.position < position)
                .values(position=position, updated_at=now)
            ).rowcount
            if not done and s.get(CursorRow, self.name) is None:
                s.add(CursorRow(consumer=self.name, position=position, updated_at=now))

    def wait(self, timeout: float) -> bool:
        if self._listener is None:
            return False
        return self._listener.wait(timeout)

    def run(self, handler: Callable[[Message], None], stop: Callable[[], bool],
            batch_done: Callable[[], None] | None = None) -> None:
        """Hand each message to ``handler`` in order. The cursor moves once per batch
        (one write, not one per message: under a storm of notifications the writes
        waited on the database's lock), past the messages handled: one whose handler
        raised, and those after it, are delivered again. ``batch_done`` is called
        after each batch, before the cursor moves."""
        while not stop():
            self.maintain()
            batch = self.fetch()
            handled = 0
            try:
                for msg in batch:
                    if stop():
                        break
                    handler(msg)
                    handled = msg.position
            finally:
                if batch_done is not None and batch:
                    batch_done()
                if handled:
                    self.ack(handled)
            if not batch:
                self.wait(self._max_idle_wait)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
