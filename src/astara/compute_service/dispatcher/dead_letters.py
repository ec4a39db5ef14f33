"""The dispatcher's dead letters: read them, and feed them to the dispatcher again.

One place for the two faces that reach them: ``astara-compute-manage queue-inspect`` /
``queue-retry`` (on the host, the database directly) and the compute API's admin-only
``os-astara-dead-letters`` extension (which the dashboard's dead-letters page calls).
A retry parses the stored body again and applies it with the dispatcher's own
``apply_and_announce`` (same row lock; an applied event announced on
``notifications.info`` in the same transaction); one that now applies is removed
(``applied``); one that the transitions drop (unknown instance, not newer than the
stored sequence, already deleted) stays with why (``dropped``); one that still fails
or still cannot be parsed (not JSON, say) stays with its new error.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.bus.base import Publisher
from astara.bus.outbox import OutboxPublisher
from astara.compute_service import events, transitions
from astara.compute_service.dispatcher.consumer import apply_and_announce
from astara.compute_service.models import DeadLetter
from astara.db.engine import Database

OUTCOMES = ("applied", "dropped", "still_unparsable", "still_failing")


def view(dead: DeadLetter) -> dict[str, Any]:
    try:
        body = json.loads(dead.body)
    except ValueError:  # stored by json.dumps: only a hand-edited row gets here
        body = dead.body
    return {"id": dead.id, "position": dead.position, "topic": dead.topic,
            "error": dead.error, "created_at": dead.created_at.isoformat(), "body": body}


def listing(db: Database, limit: int | None = None, marker: int | None = None
            ) -> list[dict[str, Any]]:
    """Oldest first; ``marker``: only those after that id; ``limit``: at most that many."""
    stmt = select(DeadLetter).order_by(DeadLetter.id)
    if marker is not None:
        stmt = stmt.where(DeadLetter.id > marker)
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.read() as s:
        return [view(d) for d in s.scalars(stmt)]


def one(db: Database, dead_id: int) -> dict[str, Any] | None:
    with db.read() as s:
        dead = s.get(DeadLetter, dead_id)
        return None if dead is None else view(dead)


def _retry_one(s: Session, dead: DeadLetter, publisher: Publisher) -> tuple[str, bool]:
    """The letter's outcome and whether an applied event was announced."""
    try:
        body = json.loads(dead.body)
    except ValueError:  # a hand-edited row: said so, and the others go on
        dead.error = "body is not JSON"
        return "still_unparsable", False
    try:
        event = events.parse(body)
    except events.Unparsable as exc:
        dead.error = str(exc)
        return "still_unparsable", False
    try:
        with s.begin_nested():  # one that still fails leaves the others applied
            outcome, announced = apply_and_announce(s, body, event, publisher)
    except Exception as exc:  # what the dispatcher dead-lettered after N tries
        dead.error = f"retry failed: {type(exc).__name__}: {exc}"
        return "still_failing", False
    if isinstance(outcome, transitions.Dropped):
        # Nothing changed (unknown instance, not newer, already deleted): the letter
        # stays, with why, as the evidence of a change that was never applied.
        dead.error = f"retry dropped it: {outcome.reason}"
        return "dropped", False
    s.delete(dead)
    return "applied", announced


def retry(db: Database, ids: list[int] | None = None,
          publisher: Publisher | None = None) -> dict[str, list[int]]:
    """Retry the dead letters ``ids`` (all when none is named), each by itself; an
    applied one is announced on ``notifications.info`` as the dispatcher does
    (``publisher``: the outbox, with no wake-up unless given one: consumers see it at
    their next poll)."""
    publisher = publisher or OutboxPublisher()
    out: dict[str, list[int]] = {k: [] for k in OUTCOMES}
    announced = False
    with db.write() as s:
        stmt = select(DeadLetter).order_by(DeadLetter.id)
        if ids:
            stmt = stmt.where(DeadLetter.id.in_(ids))
        for dead in s.scalars(stmt.with_for_update()).all():
            dead_id = dead.id
            result, told = _retry_one(s, dead, publisher)
            out[result].append(dead_id)
            announced = announced or told
    if announced:
        publisher.committed()
    return out
