"""The relay: committed outbox rows out to RabbitMQ, in order, none lost.

The outbox stays the source of truth (a change and its notification commit
together). The relay reads ``notifications.info`` rows after its durable cursor
(``bus_cursors``, consumer ``amqp-relay``), sends each through a ``Sender`` that
returns only once the broker confirmed it, and moves the cursor past what was
confirmed. A crash (or a broker gone) between a send and the cursor's move sends
those rows again: a duplicate, never a loss. A failed send is tried again, the
same row first (so order holds), with a doubling back-off up to ``MAX_BACKOFF``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from astara.bus.lease import BusLease
from astara.bus.outbox import OutboxConsumer

LOG = logging.getLogger(__name__)
CONSUMER = "amqp-relay"
TOPIC = "notifications.info"
MAX_BACKOFF = 10.0
LEASE_TTL = 10.0  # a standby relay takes over at most this long after the holder died
NEUTRON = "neutron"
NOVA = "nova"


def exchange_for(body: dict[str, Any]) -> str:
    """The exchange of a ``notifications.info`` row, as the service we imitate publishes
    it: Nova's for compute notifications, Neutron's for the network and load-balancer
    services' (neutron-lbaas published there)."""
    event_type = body.get("event_type")
    if isinstance(event_type, str) and event_type.startswith("compute."):
        return NOVA
    return NEUTRON


class Sender(Protocol):
    def send(self, exchange: str, body: dict[str, Any], topic: str = TOPIC) -> None:
        """Return once the broker has the message (routing key ``topic``); raise
        otherwise."""


# A ``_context_`` key: oslo carries it in the message's context and the listener's
# ``body_of`` puts it back under this name.
POSITION_KEY = "_context_outbox_position"


def next_backoff(current: float) -> float:
    return min(MAX_BACKOFF, max(0.1, current * 2))


class Relay:
    def __init__(self, consumer: OutboxConsumer, sender: Sender,
                 route: Callable[[dict[str, Any]], str] = exchange_for,
                 max_idle_wait: float = 5.0, routing_key: str = TOPIC,
                 lease: BusLease | None = None, stamp: bool = False):
        """``lease``: relay only while holding it (several relays on one database:
        one sends, the others stand by); None: always. ``stamp``: each message
        carries its outbox position (``POSITION_KEY``: the compute dispatcher
        applies by it, whatever order the broker delivers in)."""
        self._stamp = stamp
        self._consumer = consumer
        self._routing_key = routing_key
        self.lease = lease
        self._max_idle_wait = max_idle_wait
        self._sender = sender
        self._route = route
        self._stop = threading.Event()
        self.sent = 0  # messages the broker confirmed (tests and logs read it)
        self.failures = 0  # sends that failed (each retried)
        self.standby: bool | None = None  # with a lease: whether another holds it
        self.down_since: float | None = None  # when sends began to fail (time.time())
        self.running = False  # run started (before: waiting for the broker's queue)
        self.last_error = ""

    @property
    def outbox(self) -> OutboxConsumer:
        """The outbox cursor it reads (its lag is the relay's backlog)."""
        return self._consumer

    def pump(self, limit: int = 100) -> int:
        """Send one batch; move the cursor past what the broker confirmed. Returns the
        number sent; raises the send's error after saving the cursor for the rest."""
        done, count = 0, 0
        try:
            for msg in self._consumer.fetch(limit):
                body = {**msg.body, POSITION_KEY: msg.position} if self._stamp else msg.body
                self._sender.send(self._route(msg.body), body, self._routing_key)
                done, count = msg.position, count + 1
                self.sent += 1
        finally:
            if done:
                self._consumer.ack(done)
        return count

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        """Relay until ``stop()`` (or ``close``); wakes on the outbox's wake-ups."""
        backoff = 0.0

        def stopping() -> bool:
            return self._stop.is_set() or (stop is not None and stop())

        self.running = True
        try:
            while not stopping():
                if self.lease is not None and not self._hold():
                    self._stop.wait(min(1.0, self.lease.renew_every))
                    continue
                self._consumer.maintain()
                try:
                    sent = self.pump()
                except Exception as exc:
                    self.failures += 1
                    if self.down_since is None:
                        self.down_since = time.time()
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    backoff = next_backoff(backoff)
                    LOG.warning("amqp relay: send failed (%s); trying again in %.1f s",
                                exc, backoff)
                    self._stop.wait(backoff)
                    continue
                if backoff:
                    LOG.info("amqp relay: the broker takes messages again")
                    backoff = 0.0
                    self.down_since = None
                if not sent:  # woken in time to renew the lease, whatever max_idle_wait
                    self._consumer.wait(min(self._max_idle_wait, self.lease.renew_every)
                                        if self.lease is not None else self._max_idle_wait)
        finally:
            if self.lease is not None:
                try:
                    self.lease.release()
                except Exception:  # the database gone: the lease lapses by itself
                    LOG.exception("amqp relay: could not release its lease")
            self._consumer.close()

    def _hold(self) -> bool:
        """Whether this relay holds its lease now (renewed when due); logs changes."""
        was = self.standby is False
        try:
            held = self.lease.keep()  # type: ignore[union-attr]
        except Exception as exc:  # the database away: not ours until it answers
            LOG.warning("amqp relay: lease %s unreadable (%s)", CONSUMER, exc)
            held = False
        if held != was or self.standby is None:
            LOG.info("amqp relay: %s", "relaying (lease held)" if held
                     else "standing by (another relay holds the lease)")
        self.standby = not held
        if not held:  # a standby sends nothing: its last failure is no longer news
            self.down_since = None
        return held

    def status(self) -> dict[str, Any]:
        """What a health view shows: ``state`` (``starting``: not yet running, waiting
        for the broker; ``relaying``, ``standby``, ``down``), since when sends fail and
        why, and the rows confirmed so far."""
        state = "starting" if not self.running else "standby" if self.standby else "relaying"
        view: dict[str, Any] = {"state": state, "sent": self.sent, "failures": self.failures}
        if self.down_since is not None:
            view.update(state="down", down_since=time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.down_since)), error=self.last_error)
        return view

    def close(self) -> None:
        """Stop ``run`` (at its next look: within ``max_idle_wait``)."""
        self._stop.set()
