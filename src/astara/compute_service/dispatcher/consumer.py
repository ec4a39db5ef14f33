"""The dispatcher: the only writer of instance state, fed by agent events.

It consumes ``compute.events`` from the outbox with a durable cursor. Each message
is parsed (``events.parse``); one that cannot be parsed goes to
``compute_dead_letters``. A parsed event is applied under a row lock on its
instance with the pure ``transitions.apply`` (which drops anything not newer than
the stored sequence); a delete's end also releases the project's quota, in the
same transaction, and an event that changed the instance is announced on
``notifications.info`` in that transaction too (``events.notification``: the
orchestrator wakes on an appliance's create.end instead of polling it). A message
whose handling fails is tried again with back-off and dead-lettered after
``RetryPolicy.max_attempts``; a failure outside a message (the database went away)
restarts the loop after a back-off. ``reconcile`` repairs drift through
``apply_event`` too.

One dispatcher dispatches at a time: each holds the lease ``compute-dispatcher``
(``bus.lease``) while it consumes, others stand by and take over once it lapses
(``LEASE_TTL``). Every apply and dead letter is fenced by that lease in its own
transaction, so a holder that stalled past its lease applies nothing after the
takeover. Why one at a time: events carry changes as well as states (an interface
attach adds a port), so two consumers applying one instance's events out of order
would lose a change even though the sequence check keeps its state from going back.

``[bus] transport = amqp``: the lease holder also relays ``compute.events`` rows from
the outbox to RabbitMQ (exchange ``astara``, routing key ``compute.events.info``) and
consumes them from the shared durable queue ``astara.compute.dispatcher``
(``AmqpTransport``); otherwise it reads the outbox after its cursor.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from astara.bus.base import Message, Publisher
from astara.bus.lease import BusLease, LeaseLost, owner_token
from astara.bus.outbox import CursorRow, OutboxConsumer, OutboxPublisher, drop_cursor
from astara.bus.relay import POSITION_KEY
from astara.compute_service import events, transitions
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
CONSUMER = "compute-dispatcher"
LEASE = "compute-dispatcher"  # the bus_leases row: one dispatcher dispatches at a time
LEASE_TTL = 10.0  # seconds a standby waits at most after a holder died (not an option)


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
        # A delete's end dropped while the row is not deleted leaves a server that never
        # goes: worth a line (a redelivered one, the row deleted already, is not).
        level = logging.WARNING if event.action == "delete.end" and state is not None \
            and not state.deleted else logging.DEBUG
        LOG.log(level, "dropped %s seq %s for %s: %s", event.event_type, event.seq,
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


def apply_and_announce(session: Session, body: dict[str, Any], event: events.Event,
                       publisher: Publisher | None,
                       apply: Callable[[Session, events.Event], object] = apply_event
                       ) -> tuple[object, bool]:
    """Apply ``event`` (parsed from ``body``) and, when it changed its instance, announce
    it on ``notifications.info`` in the same transaction: the dispatcher and a dead
    letter's retry both. Returns the outcome and whether it was announced (the caller
    then calls ``publisher.committed()`` once the transaction is committed)."""
    outcome = apply(session, event)
    row = session.get(Instance, event.instance_id) \
        if isinstance(outcome, transitions.Applied) else None
    if publisher is None or row is None:
        return outcome, False
    publisher.publish(session, events.NOTIFY_TOPIC, events.notification(
        body, {"tenant_id": row.project_id, "display_name": row.name,
               "metadata": dict(row.metadata_ or {}), "state": row.vm_state}))
    return outcome, True


def advance(session: Session, cursor: str, position: int) -> None:
    """Move the outbox cursor ``cursor`` to ``position`` in ``session``'s transaction."""
    done = session.execute(
        update(CursorRow)
        .where(CursorRow.consumer == cursor, CursorRow.position < position)
        .values(position=position, updated_at=_now())
        .execution_options(synchronize_session=False)).rowcount
    if not done and session.get(CursorRow, cursor) is None:
        session.add(CursorRow(consumer=cursor, position=position, updated_at=_now()))


def dead_letter(session: Session, message: Message, error: str) -> None:
    session.add(DeadLetter(position=message.position, topic=message.topic,
                           body=json.dumps(message.body), error=error, created_at=_now()))


MAX_RETRY_DELAY = 30.0  # the cap on the doubling delay (not an option)


@dataclass(frozen=True)
class RetryPolicy:
    """A message that fails is tried ``max_attempts`` times, then dead-lettered. Built
    from the options by ``compute_service.settings.retry_policy`` (no defaults here)."""

    max_attempts: int
    delay: float  # doubles after each failure
    max_delay: float

    def backoff(self, failures: int) -> float:
        return min(self.max_delay, self.delay * 2 ** max(0, failures - 1))


class Dispatcher:
    def __init__(self, db: Database, consumer: OutboxConsumer, policy: RetryPolicy,
                 max_idle_wait: float,
                 apply: Callable[[Session, events.Event], object] = apply_event,
                 publisher: Publisher | None = None, lease: BusLease | None = None,
                 amqp: AmqpTransport | None = None,
                 applied: OutboxConsumer | None = None):
        """``lease``: dispatch only while holding it (None: always, a lone dispatcher);
        ``amqp``: consume from RabbitMQ (``consumer`` is then only read for its lag)."""
        self.db = db
        self.lease = lease
        self.amqp = amqp
        self.applied = applied  # amqp: the outbox cursor of what was applied (CONSUMER)
        self.standby: bool | None = None  # with a lease: whether another holds it
        self.consumer = consumer
        self.policy = policy
        self.max_idle_wait = max_idle_wait
        self._apply = apply
        self.publisher = publisher  # None: applied events are not announced
        self._failures: dict[int, int] = {}  # position -> failed attempts (this process)
        self.restarts = 0
        # messages handled by result (applied, dropped, dead_lettered): its metrics
        # Every key there from the start: a scrape copying it while a first
        # "dead_lettered" is added would see the dict change size mid-copy.
        self.handled: collections.Counter[str] = collections.Counter(
            {"applied": 0, "dropped": 0, "dead_lettered": 0})

    def handle(self, message: Message, cursor: str | None = None) -> None:
        """Apply ``message``; ``cursor``: the outbox cursor moved to its position in
        the same fenced transaction (the amqp path's applied cursor)."""
        try:
            event = events.parse(message.body)
        except events.Unparsable as exc:
            LOG.warning("dead-lettering message %s: %s", message.position, exc)
            with self.db.write() as s:
                self._fence(s)
                dead_letter(s, message, str(exc))
                if cursor is not None:
                    advance(s, cursor, message.position)
            self.handled["dead_lettered"] += 1
            return
        with self.db.write() as s:
            self._fence(s)
            if cursor is not None:
                advance(s, cursor, message.position)
            outcome, announced = apply_and_announce(s, message.body, event,
                                                    self.publisher, self._apply)
        if announced:
            self.publisher.committed()  # type: ignore[union-attr]
        self.handled["applied" if isinstance(outcome, transitions.Applied) else "dropped"] += 1

    def _fence(self, session: Session) -> None:
        if self.lease is not None:
            self.lease.fence(session)

    def holding(self) -> bool:
        """Whether this dispatcher may dispatch now (its lease taken or renewed when
        due); logs each change between dispatching and standing by."""
        if self.lease is None:
            return True
        held = self.lease.keep()
        if self.standby is None or held == self.standby:
            LOG.info("compute dispatcher: %s", f"dispatching (lease epoch {self.lease.epoch})"
                     if held else "standing by (another dispatcher holds the lease)")
        self.standby = not held
        return held

    def idle_wait(self) -> float:
        """How long an idle loop waits: ``max_idle_wait``, but woken in time to renew
        the lease (a longer wait let it lapse on an idle system: the two flapped)."""
        if self.lease is None:
            return self.max_idle_wait
        return min(self.max_idle_wait, self.lease.renew_every)

    def drain(self) -> int:
        """Handle everything pending now; return how many messages were handled."""
        done = 0
        while self.holding() and (batch := self.consumer.fetch()):
            for msg in batch:
                self.handle(msg)
                self.consumer.ack(msg.position)
                done += 1
        return done

    def run(self, stop: Callable[[], bool]) -> None:
        """Dispatch until ``stop()``; a failure (say, the database went away) restarts
        the loop after a back-off, with a log line saying why: it never dies silently."""
        failures = 0
        try:
            while not stop():
                started = time.monotonic()
                try:
                    if not self.holding():
                        _pause(min(1.0, self.lease.renew_every), stop)  # type: ignore[union-attr]
                        continue

                    def done() -> bool:  # stop, or the lease lost (checked between messages)
                        return stop() or not self.holding()

                    if self.amqp is not None:
                        self.amqp.run(self, done)
                    else:
                        self._loop(done)
                except Exception as exc:
                    # A loop that ran a while before failing starts its back-off afresh.
                    failures = 1 if time.monotonic() - started > 60 else failures + 1
                    self.restarts += 1
                    delay = self.policy.backoff(failures)
                    LOG.exception("compute dispatcher failed (%s: %s); restarting in %.1f s",
                                  type(exc).__name__, exc, delay)
                    _pause(delay, stop)
        finally:
            if self.lease is not None:
                try:
                    self.lease.release()  # a clean stop: a standby takes over at once
                except Exception:
                    LOG.exception("compute dispatcher: could not release its lease")

    def _loop(self, stop: Callable[[], bool]) -> None:
        while not stop():
            self.consumer.maintain()
            batch = self.consumer.fetch()
            for msg in batch:
                if stop() or not self._handle_one(msg, stop):
                    break  # back off done: fetch again from the cursor, msg first
            if not batch:
                self.consumer.wait(self.idle_wait())

    def _handle_one(self, msg: Message, stop: Callable[[], bool]) -> bool:
        """Handle and ack ``msg``; False when it failed and must be tried again."""
        try:
            self.handle(msg)
        except LeaseLost:
            LOG.warning("compute dispatcher: lease lost; message %s left to the next holder",
                        msg.position)
            return False
        except Exception as exc:
            n = self._failures[msg.position] = self._failures.get(msg.position, 0) + 1
            if n < self.policy.max_attempts:
                delay = self.policy.backoff(n)
                LOG.warning("message %s failed (attempt %d of %d: %s: %s); again in %.1f s",
                            msg.position, n, self.policy.max_attempts, type(exc).__name__,
                            exc, delay)
                _pause(delay, stop)
                return False
            LOG.error("dead-lettering message %s after %d failed attempts: %s: %s",
                      msg.position, n, type(exc).__name__, exc)
            self.give_up(msg, exc, n)
        self._failures.pop(msg.position, None)
        self.consumer.ack(msg.position)
        return True


    def give_up(self, msg: Message, exc: Exception, attempts: int,
                cursor: str | None = None) -> None:
        """Dead-letter ``msg`` after ``attempts`` failed tries."""
        LOG.error("dead-lettering message %s after %d failed attempts: %s: %s",
                  msg.position, attempts, type(exc).__name__, exc)
        with self.db.write() as s:
            self._fence(s)
            dead_letter(s, msg, f"failed {attempts} times: {type(exc).__name__}: {exc}")
            if cursor is not None:
                advance(s, cursor, msg.position)
        self.handled["dead_lettered"] += 1

    def handle_relayed(self, message: Message, stop: Callable[[], bool]) -> None:
        """The amqp path: a relayed message says its outbox position; the outbox rows
        after the applied cursor up to it are applied in order (the outbox is the
        source of truth), each moving the cursor in its own fenced transaction. So a
        message at or before the cursor (a redelivery, a stale relay's copy) is
        skipped, and one the broker delivers early first applies those it skipped:
        the broker's order, requeues and losses do not matter. A row that fails is
        tried again in place with the policy's back-off, then dead-lettered."""
        upto = message.body.get(POSITION_KEY)
        if not isinstance(upto, int) or self.applied is None:
            self.handle(message)  # not from our relay: as it comes
            return
        while (batch := [m for m in self.applied.fetch() if m.position <= upto]):
            for row in batch:
                self._apply_in_place(row, stop)

    def _apply_in_place(self, row: Message, stop: Callable[[], bool]) -> None:
        failures = 0
        while True:
            try:
                self.handle(row, cursor=CONSUMER)
                return
            except LeaseLost:
                raise
            except Exception as exc:
                failures += 1
                if failures >= self.policy.max_attempts:
                    self.give_up(row, exc, failures, cursor=CONSUMER)
                    return
                delay = self.policy.backoff(failures)
                LOG.warning("message %s failed (attempt %d of %d: %s: %s); again in %.1f s",
                            row.position, failures, self.policy.max_attempts,
                            type(exc).__name__, exc, delay)
                _pause(delay, stop)
                if stop():
                    raise


class AmqpTransport:
    """The dispatcher's side of ``[bus] transport = amqp``: while its lease is held, a
    relay sends the outbox's ``compute.events`` rows to RabbitMQ and a listener on the
    shared queue ``POOL`` hands them to ``Dispatcher.handle``. The relay starts once
    the listener's queue exists (a first start would route them only to oslo's
    unread default queue ``compute.events.info``).
    Both are built afresh at each tenure (``make_relay``, ``make_listener``)."""

    def __init__(self, make_relay: Callable[[], Any], make_listener: Callable[[], Any]):
        self.make_relay = make_relay  # -> bus.relay.Relay over the CONSUMER_RELAY cursor
        self.make_listener = make_listener  # -> bus.amqp.AmqpConsumer on POOL
        self.listener: Any = None  # this tenure's (tests wait on its ``listening``)
        self.relay: Any = None

    def run(self, disp: Dispatcher, stop: Callable[[], bool]) -> None:
        """One tenure. Only this thread renews the lease (``stop`` does, between
        messages): an error there ends the tenure with it (``Dispatcher.run`` logs,
        backs off and tries again), never the relay thread alone. The relay thread
        stops when the tenure ends; if it ends first, so does the tenure."""
        listener = self.listener = self.make_listener()
        relay = self.relay = self.make_relay()
        over = threading.Event()

        def relaying() -> None:
            while not listener.listening.wait(0.5):
                if over.is_set():
                    return
            relay.run(over.is_set)

        thread = threading.Thread(target=relaying, name="compute-events-relay",
                                  daemon=True)

        def done() -> bool:
            if over.is_set():
                return True
            if stop():  # may raise (the database went away): the tenure ends
                over.set()
                return True
            if not thread.is_alive():
                raise RuntimeError("the compute events relay ended; restarting")
            return False

        thread.start()
        try:
            listener.run(lambda msg: disp.handle_relayed(msg, done), done,
                         give_up=lambda msg, exc: disp.give_up(msg, exc, MAX_AMQP_TRIES))
        finally:
            over.set()
            relay.close()
            thread.join(30)


MAX_AMQP_TRIES = 5  # bus.amqp.MAX_ATTEMPTS: a failing message is delivered that often
EXCHANGE = "astara"  # where compute.events go on RabbitMQ (the asterias queue node's)
POOL = "astara.compute.dispatcher"  # one queue shared by every dispatcher
CONSUMER_RELAY = "amqp-relay-compute"  # the relay's outbox cursor


def _pause(seconds: float, stop: Callable[[], bool]) -> None:
    """Wait ``seconds`` unless asked to stop first."""
    deadline = time.monotonic() + seconds
    while not stop() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


def make(db: Database, wakeup, max_idle_wait: float, policy: RetryPolicy,
         apply: Callable[[Session, events.Event], object] = apply_event,
         retention: float | None = None, transport: Any = None,
         lease_ttl: float = LEASE_TTL) -> Dispatcher:
    """``max_idle_wait`` from ``[bus]``, ``policy`` from ``settings.retry_policy``;
    ``transport``: the oslo.messaging transport when ``[bus] transport = amqp``."""
    def cursor(name: str) -> OutboxConsumer:
        return OutboxConsumer(db, name, [events.TOPIC], wakeup,
                              max_idle_wait=max_idle_wait, retention=retention)

    consumer = cursor(CONSUMER)
    lease = BusLease(db, LEASE, owner_token(CONSUMER), lease_ttl)
    side, applied = None, None
    if transport is not None:
        from astara.bus import amqp, relay  # oslo.messaging: only when used

        shown = cursor(CONSUMER_RELAY)
        # A switch from the outbox: relay from where the outbox consumer stopped.
        if shown.position() == 0 and (pos := consumer.position()):
            shown.ack(pos)
        # CONSUMER stays: it is the applied cursor here (the gap fill reads after it;
        # a switch back to the outbox goes on from it).
        applied, consumer = consumer, shown  # its lag on /metrics: the relay's backlog
        side = AmqpTransport(
            lambda: relay.Relay(cursor(CONSUMER_RELAY), amqp.OsloSender(transport),
                                route=lambda _body: EXCHANGE,
                                routing_key=f"{events.TOPIC}.info",
                                max_idle_wait=max_idle_wait, stamp=True),
            lambda: amqp.AmqpConsumer(transport, "", (EXCHANGE,), topic=events.TOPIC,
                                      pool=POOL))
    else:
        # A switch from amqp: CONSUMER was its applied cursor; on from there.
        applied = None
        if drop_cursor(db, CONSUMER_RELAY):
            LOG.info("bus: transport outbox; the relay's cursor %s is dropped",
                     CONSUMER_RELAY)
    return Dispatcher(db, consumer, policy, max_idle_wait, apply, OutboxPublisher(wakeup),
                      lease=lease, amqp=side, applied=applied)
