"""The dispatcher: the only writer of instance state, fed by agent events.

It consumes ``compute.events`` from the outbox with a durable cursor. Each message
is parsed (``events.parse``); one that cannot be parsed goes to
``compute_dead_letters``. A parsed event is applied under a row lock on its
instance with the pure ``transitions.apply`` (which drops anything not newer than
the stored sequence); a delete's end also releases the project's quota, in the
same transaction. ``reconcile`` repairs drift through ``apply_event`` too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from astara.bus.base import Message
from astara.bus.outbox import OutboxConsumer
from astara.compute_service import events, transitions
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
CONSUMER = "compute-dispatcher"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _when(stamp) -> datetime:
    if isinstance(stamp, str) and stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "")).replace(tzinfo=None)
        except ValueError:
            pass
    return _now()


def apply_event(session: Session, event: events.Event) -> transitions.Applied | \
        transitions.Dropped:
    """Apply ``event`` to its instance row, locked for the rest of the transaction."""
    row = session.scalar(
        select(Instance).where(Instance.id == event.instance_id).with_for_update())
    state = None if row is None else transitions.State(
        row.vm_state, row.task_state, row.power_state, row.seq, row.deleted,
        tuple(row.ports or ()))
    outcome = transitions.apply(state, event)
    if isinstance(outcome, transitions.Dropped):
        LOG.debug("dropped %s seq %s for %s: %s", event.event_type, event.seq,
                  event.instance_id, outcome.reason)
        return outcome
    for key, value in outcome.changes.items():
        if key in ("launched_at", "terminated_at"):
            value = _when(value)
        setattr(row, key, value)
    row.updated_at = _now()
    if outcome.changes.get("deleted"):
        session.execute(
            update(QuotaUsage)
            .where(QuotaUsage.project_id == row.project_id, QuotaUsage.instances > 0)
            .values(instances=QuotaUsage.instances - 1))
    return outcome


def dead_letter(session: Session, message: Message, error: str) -> None:
    session.add(DeadLetter(position=message.position, topic=message.topic,
                           body=json.dumps(message.body), error=error, created_at=_now()))


class Dispatcher:
    def __init__(self, db: Database, consumer: OutboxConsumer):
        self.db = db
        self.consumer = consumer

    def handle(self, message: Message) -> None:
        try:
            event = events.parse(message.body)
        except events.Unparsable as exc:
            LOG.warning("dead-lettering message %s: %s", message.position, exc)
            with self.db.write() as s:
                dead_letter(s, message, str(exc))
            return
        with self.db.write() as s:
            apply_event(s, event)

    def drain(self) -> int:
        """Handle everything pending now; return how many messages were handled."""
        done = 0
        while batch := self.consumer.fetch():
            for msg in batch:
                self.handle(msg)
                self.consumer.ack(msg.position)
                done += 1
        return done

    def run(self, stop: Callable[[], bool]) -> None:
        self.consumer.run(self.handle, stop)


def make(db: Database, wakeup=None, max_idle_wait: float = 5.0) -> Dispatcher:
    consumer = OutboxConsumer(db, CONSUMER, [events.TOPIC], wakeup, max_idle_wait)
    return Dispatcher(db, consumer)
