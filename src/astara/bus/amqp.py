"""The AMQP transport: notifications on RabbitMQ through oslo.messaging.

Publishing is the relay's (``relay.py``: committed outbox rows go out in order,
each confirmed by the broker; its ``exchange_for`` says where a message goes, as the
services we imitate publish: the network and load-balancer services' on exchange
``neutron`` (as neutron-server and neutron-lbaas did), the compute service's
``compute.*`` on ``nova``; routing key ``notifications.info``, the oslo ``2.0``
envelope). ``OsloSender`` sends one message and raises unless the broker confirmed
it. ``AmqpConsumer`` is an oslo.messaging notification listener (pool
``astara.notifications.<host>``: every host gets every message) feeding the same
handler the outbox consumer feeds, one message at a time, in delivery order;
a message whose ``message_id`` it handled recently is dropped (a relay that
re-sent after a crash, a broker that re-delivered an unacknowledged message).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import oslo_messaging
from oslo_config import cfg

from astara.bus.base import Message
from astara.bus.relay import NEUTRON, NOVA, exchange_for

__all__ = ["NEUTRON", "NOVA", "AmqpConsumer", "OsloSender", "exchange_for", "transport"]

LOG = logging.getLogger(__name__)
TOPIC = "notifications"  # oslo's topic; its priority makes the key notifications.info
RECENT_IDS = 10000  # message ids remembered to drop a re-delivery
REQUEUE_BACKOFF = 1.0  # seconds before a message whose handling failed is given back
MAX_ATTEMPTS = 5  # then it is dropped with an error (the periodic resync covers it)


def transport(conf: cfg.ConfigOpts) -> oslo_messaging.Transport:
    """The notification transport of ``[DEFAULT] transport_url`` (oslo.messaging's
    options, registered on ``conf`` by oslo.messaging itself)."""
    return oslo_messaging.get_notification_transport(conf)


class RecentIds:
    """The last ``size`` message ids handled (oldest forgotten first)."""

    def __init__(self, size: int = RECENT_IDS):
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def add(self, message_id: str) -> None:
        self._ids[message_id] = None
        self._ids.move_to_end(message_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


def body_of(ctxt: dict | None, publisher_id: str, event_type: str, payload: Any,
            metadata: dict | None, priority: str = "INFO") -> dict[str, Any]:
    """The oslo notification dict the listener took apart (what intake reads)."""
    body: dict[str, Any] = {
        "message_id": (metadata or {}).get("message_id", ""),
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority,
        "payload": payload,
        "timestamp": (metadata or {}).get("timestamp", ""),
    }
    for key, value in (ctxt or {}).items():
        body[f"_context_{key}"] = value
    return body


class OsloSender:
    """Sends one notification and returns once the broker confirmed it.

    oslo's ``Notifier`` logs a failed send and carries on; the relay must know, so
    this calls the transport's send (the one the notifier drivers call), which
    raises. The rabbit driver publishes with confirms: a return is the broker's ack.
    """

    def __init__(self, transport: oslo_messaging.Transport, retry: int = 0):
        self._transport = transport
        self._retry = retry  # 0: fail at once; the relay backs off and tries again

    def send(self, exchange: str, body: dict[str, Any], topic: str = f"{TOPIC}.info") -> None:
        target = oslo_messaging.Target(exchange=exchange, topic=topic)
        message = dict(body)
        if not message.get("priority"):
            # A listener drops a message of no priority unseen: sent on the .info key,
            # it is an INFO one (so that a consumer sees, and dead-letters, a bad one).
            message["priority"] = "INFO"
        self._transport._send_notification(  # noqa: SLF001 (see the class doc)
            target, {}, message, version=2.0, retry=self._retry)


class _Endpoint:
    def __init__(self, deliver: Callable[[dict[str, Any]], bool]):
        self._deliver = deliver

    def _take(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        body = body_of(ctxt, publisher_id, event_type, payload, metadata, priority)
        if self._deliver(body):
            return oslo_messaging.NotificationResult.HANDLED
        return oslo_messaging.NotificationResult.REQUEUE

    # oslo picks the method by the message's priority: a failed appliance boot
    # (compute.instance.create.error) is an ERROR one, and intake wants it too.
    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._take("INFO", ctxt, publisher_id, event_type, payload, metadata)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._take("WARN", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._take("ERROR", ctxt, publisher_id, event_type, payload, metadata)


class AmqpConsumer:
    """Delivers the notifications of ``exchanges`` to a handler, like the outbox's
    ``run``: at least once, one at a time, a failed one given back to the broker
    (after ``REQUEUE_BACKOFF`` s) and delivered again."""

    def __init__(self, transport: oslo_messaging.Transport, host: str,
                 exchanges: Sequence[str] = (NEUTRON,), recent: int = RECENT_IDS,
                 *, topic: str = TOPIC, pool: str | None = None):
        """``pool`` names the queue (default ``astara.notifications.<host>``): consumers
        with one pool share its queue, each message going to one of them."""
        self.name = pool or f"astara.notifications.{host}"
        self.topic = topic
        self._transport = transport
        self._exchanges = list(exchanges)
        self._recent = RecentIds(recent)
        self._stopped = threading.Event()
        self.listening = threading.Event()  # set once its queue exists and it consumes
        self.handled = 0  # messages handed to the handler (tests and logs read it)
        self.duplicates = 0

    def run(self, handler: Callable[[Message], None], stop: Callable[[], bool],
            batch_done: Callable[[], None] | None = None,
            give_up: Callable[[Message, Exception], None] | None = None) -> None:
        """``give_up`` is called with a message whose handling failed ``MAX_ATTEMPTS``
        times, before it is dropped (the dispatcher dead-letters it)."""
        failed: dict[str, int] = {}  # attempts of the messages whose handling failed

        def deliver(body: dict[str, Any]) -> bool:
            message_id = body.get("message_id")
            if message_id and message_id in self._recent:
                self.duplicates += 1
                LOG.debug("amqp: %s %s delivered again; dropped", body["event_type"],
                          message_id)
                return True
            message = Message(0, f"{self.topic}.info", body)
            try:
                handler(message)
            except Exception as exc:
                key = message_id or repr(sorted(body.items()))[:200]
                failed[key] = failed.get(key, 0) + 1
                if failed[key] >= MAX_ATTEMPTS:  # a poison message: never a loop
                    failed.pop(key)
                    LOG.exception("amqp: handling %s %s failed %d times; dropped",
                                  body.get("event_type"), message_id, MAX_ATTEMPTS)
                    if give_up is not None:
                        try:
                            give_up(message, exc)
                        except Exception:
                            LOG.exception("amqp: could not record the dropped message")
                            return False  # not recorded: the broker delivers it again
                    return True
                LOG.exception("amqp: handling %s failed; the broker delivers it again",
                              body.get("event_type"))
                self._stopped.wait(REQUEUE_BACKOFF)
                return False
            finally:
                if batch_done is not None:
                    batch_done()  # each message is its own batch
            failed.pop(message_id, None)
            if message_id:
                self._recent.add(message_id)
            self.handled += 1
            return True

        targets = [oslo_messaging.Target(exchange=e, topic=self.topic)
                   for e in self._exchanges]
        listener = oslo_messaging.get_notification_listener(
            self._transport, targets, [_Endpoint(deliver)], executor="threading",
            allow_requeue=True, pool=self.name)
        # One handler thread: messages are handled in the order they arrive.
        listener.start(override_pool_size=1)  # waits (and logs) while RabbitMQ is down
        self.listening.set()
        LOG.info("amqp: listening on %s, topic %s, pool %s",
                 ", ".join(self._exchanges), self.topic, self.name)
        try:
            while not stop() and not self._stopped.wait(0.2):
                pass
        finally:
            with contextlib.suppress(Exception):
                listener.stop()
                listener.wait()

    def close(self) -> None:
        self._stopped.set()
