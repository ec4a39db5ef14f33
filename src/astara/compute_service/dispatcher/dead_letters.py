"""The dispatcher's dead letters: read them, and feed them to the dispatcher again.

One place for the two faces that reach them: ``astara-compute-manage queue-inspect`` /
``queue-retry`` (on the host, the database directly) and the compute API's admin-only
``os-astara-dead-letters`` extension (which the dashboard's dead-letters page calls).
A retry parses the stored body again and applies it with ``apply_event`` under the
same row lock as the dispatcher; one that now applies is removed, one that still fails
stays with its new error.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.bus.base import Message
from astara.compute_service import events
from astara.compute_service.dispatcher.consumer import apply_event
from astara.compute_service.models import DeadLetter
from astara.db.engine import Database

OUTCOMES = ("applied", "still_unparsable", "still_failing")


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


def _retry_one(s: Session, dead: DeadLetter) -> str:
    msg = Message(dead.position, dead.topic, json.loads(dead.body))
    try:
        event = events.parse(msg.body)
    except events.Unparsable as exc:
        dead.error = str(exc)
        return "still_unparsable"
    try:
        with s.begin_nested():  # one that still fails leaves the others applied
            apply_event(s, event)
    except Exception as exc:  # what the dispatcher dead-lettered after N tries
        dead.error = f"retry failed: {type(exc).__name__}: {exc}"
        return "still_failing"
    s.delete(dead)
    return "applied"


def retry(db: Database, ids: list[int] | None = None) -> dict[str, list[int]]:
    """Retry the dead letters ``ids`` (all when none is named), each by itself."""
    out: dict[str, list[int]] = {k: [] for k in OUTCOMES}
    with db.write() as s:
        stmt = select(DeadLetter).order_by(DeadLetter.id)
        if ids:
            stmt = stmt.where(DeadLetter.id.in_(ids))
        for dead in s.scalars(stmt.with_for_update()).all():
            dead_id = dead.id
            out[_retry_one(s, dead)].append(dead_id)
    return out
