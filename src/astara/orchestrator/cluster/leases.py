"""Ownership leases in our database (``orch_leases``): the fence between members.

A member acts on a resource only while it holds the resource's lease row: owner =
its token (new at each start), ``expires_at`` in the future. Taking is one
conditional UPDATE (``owner = me OR expired``), atomic on PostgreSQL (the row lock,
then the condition re-read) and on SQLite (one writer); a missing row is inserted,
and an insert that loses a race is simply not taken. ``epoch`` grows each time the
row changes hands, so every act can be traced to one tenure.

Why rows and not tooz locks: a lease here is read in the same database the
orchestrator already writes, by any worker process, in one query before each step that
acts; tooz locks would be one etcd key (and one lease refresh) per resource, 1,000 of
them per member, and a worker could not ask whether its parent still holds one.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from astara.bus.outbox import drop_cursor
from astara.db.engine import Database
from astara.orchestrator.models import LeaseRow, MemberRow
from astara.wire.tenure import Tenure, jump_refused

LOG = logging.getLogger(__name__)

CHUNK = 500  # ids per IN list
ROW_EPOCH_MAX = 2**31 - 1  # orch_leases.epoch is an Integer (int4 on PostgreSQL)


@dataclass(frozen=True)
class Lease:
    owner: str
    epoch: int
    expires_at: float


def verdict(lease: Lease | None, me: str, now: float, margin: float) -> str | None:
    """Why ``me`` may not act on a resource now (None: it may). Pure."""
    if lease is None:
        return "no lease"
    if lease.owner != me:
        return f"lease held by {lease.owner} (epoch {lease.epoch})"
    left = lease.expires_at - now
    if left <= margin:
        return f"lease (epoch {lease.epoch}) ends in {max(left, 0.0):.1f} s"
    return None


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


class Leases:
    def __init__(self, db: Database, owner: str, lease: float, margin: float,
                 clock: Callable[[], float] = time.time):
        self.db, self.owner, self.lease, self.margin, self.clock = (
            db, owner, lease, margin, clock)

    def take(self, ids: Iterable[str]) -> dict[str, int]:
        """Take or extend the leases of ``ids``: those now held, with their epoch. Held
        by another member and not expired: not taken (try again later). A row changing
        hands at the column's limit is not taken either (logged): one such row must not
        fail the whole transaction, and with it every lease of this member."""
        held: dict[str, int] = {}
        now = self.clock()
        until = now + self.lease
        me = self.owner
        with self.db.write() as s:
            for chunk in _chunks(ids):
                s.execute(
                    update(LeaseRow)
                    .where(LeaseRow.resource_id.in_(chunk),
                           (LeaseRow.owner == me) | (LeaseRow.expires_at <= now),
                           (LeaseRow.epoch < ROW_EPOCH_MAX)
                           | ((LeaseRow.owner == me) & (LeaseRow.expires_at > now)))
                    .values(epoch=case(((LeaseRow.owner == me) & (LeaseRow.expires_at > now),
                                        LeaseRow.epoch), else_=LeaseRow.epoch + 1),
                            owner=me, expires_at=until)
                    .execution_options(synchronize_session=False))
                rows = s.execute(select(LeaseRow.resource_id, LeaseRow.owner, LeaseRow.epoch,
                                        LeaseRow.expires_at)
                                 .where(LeaseRow.resource_id.in_(chunk))).all()
                seen = set()
                for rid, owner, epoch, expires_at in rows:
                    seen.add(rid)
                    if owner == me:
                        held[rid] = epoch
                    elif epoch >= ROW_EPOCH_MAX and expires_at <= now:
                        LOG.error("lease of %s is at epoch %d, the column's limit: not "
                                  "taken (reset its orch_leases row and the appliance's "
                                  "tenure.json by hand)", rid, epoch)
                for rid in chunk:
                    if rid in seen:
                        continue
                    try:
                        with s.begin_nested():
                            s.add(LeaseRow(resource_id=rid, owner=me, epoch=1,
                                           expires_at=until))
                        held[rid] = 1
                    except IntegrityError:
                        pass  # another member inserted it first: its lease
        return held

    def release(self, ids: Iterable[str]) -> None:
        """Give up ``ids``: each keeps ``margin`` seconds at most, so that a step this
        member checked just before cannot overlap the next owner's first."""
        cut = self.clock() + self.margin
        with self.db.write() as s:
            for chunk in _chunks(ids):
                s.execute(update(LeaseRow)
                          .where(LeaseRow.resource_id.in_(chunk), LeaseRow.owner == self.owner,
                                 LeaseRow.expires_at > cut)
                          .values(expires_at=cut)
                          .execution_options(synchronize_session=False))

    def advance(self, resource_id: str, pushed: Tenure, accepted: int) -> Tenure | None:
        """Raise this member's lease on ``resource_id`` from ``pushed``'s epoch to
        ``accepted`` + 1, if the row still names it at that epoch, live past the margin:
        the appliance holds an epoch the database no longer knows (it went backwards).
        A compare-and-set: a newer owner changed owner or epoch, so it matches nothing
        and None is answered (stay fenced)."""
        if jump_refused(pushed.epoch, accepted) is not None:
            return None  # too far (the executor logs why): stay fenced
        now = self.clock()
        try:
            with self.db.write() as s:
                done = s.execute(
                    update(LeaseRow)
                    .where(LeaseRow.resource_id == resource_id, LeaseRow.owner == self.owner,
                           LeaseRow.epoch == pushed.epoch,
                           LeaseRow.expires_at > now + self.margin)
                    .values(epoch=accepted + 1)
                    .execution_options(synchronize_session=False)).rowcount
        except SQLAlchemyError as exc:  # stay fenced; the next pass asks again
            LOG.error("lease of %s not raised to epoch %d: database error: %s",
                      resource_id, accepted + 1, str(exc).splitlines()[0][:200])
            return None
        return Tenure(accepted + 1, self.owner) if done == 1 else None

    def get(self, resource_id: str) -> Lease | None:
        with self.db.read() as s:
            row = s.get(LeaseRow, resource_id)
            return None if row is None else Lease(row.owner, row.epoch, row.expires_at)

    def check(self, resource_id: str) -> str | None:
        """Why this member may not act on ``resource_id`` now (None: it may)."""
        return verdict(self.get(resource_id), self.owner, self.clock(), self.margin)

    def tenure(self, resource_id: str) -> str | Tenure:
        """Why this member may not act on ``resource_id`` now, or the tenure it acts
        under (its lease's epoch, carried to the appliance)."""
        lease = self.get(resource_id)
        why = verdict(lease, self.owner, self.clock(), self.margin)
        if why is not None:
            return why
        assert lease is not None
        return Tenure(lease.epoch, self.owner)

    def live_counts(self) -> Counter[str]:
        """Leases not expired, by owner token."""
        now = self.clock()
        with self.db.read() as s:
            return Counter(owner for (owner,) in s.execute(
                select(LeaseRow.owner).where(LeaseRow.expires_at > now)))


class MemberBoard:
    """Each member's row: written by itself once per heartbeat, read by ``cluster``."""

    def __init__(self, db: Database):
        self.db = db

    def write(self, name: str, owner: str, rpc_url: str, at: float, coordination: str
              ) -> None:
        with self.db.write() as s:
            row = s.get(MemberRow, name)
            if row is None:
                s.add(MemberRow(name=name, owner=owner, rpc_url=rpc_url, heartbeat_at=at,
                                coordination=coordination[:255]))
            else:
                row.owner, row.rpc_url, row.heartbeat_at, row.coordination = (
                    owner, rpc_url, at, coordination[:255])

    def forget(self, name: str, cursor: str) -> dict[str, bool]:
        """Drop a member removed for good: its row and its outbox ``cursor`` (which holds
        back the pruning). Its lease rows stay: their epochs must keep growing for the
        appliances' fence (``wire.tenure``); the others take them as they expire."""
        with self.db.write() as s:
            row = bool(s.execute(delete(MemberRow).where(MemberRow.name == name)).rowcount)
        return {"member_row": row, "cursor": drop_cursor(self.db, cursor)}

    def read(self) -> list[dict]:
        with self.db.read() as s:
            return [{"name": r.name, "owner": r.owner, "rpc_url": r.rpc_url,
                     "heartbeat_at": r.heartbeat_at, "coordination": r.coordination}
                    for r in s.scalars(select(MemberRow).order_by(MemberRow.name))]
