"""Notifications in neutron-server's format, queued on the bus inside a write's
transaction (the network and load-balancer services' writes).

A ``Notifier`` is bound to one unit of work (a DB session) and one request context;
``emit`` builds the message exactly as neutron-server's oslo notifier would
(``message_id``, ``publisher_id``, ``event_type``, ``priority``, ``payload``,
``timestamp``, ``_unique_id``, ``_context_*``); ``flush``, just before commit, hands
them to the publisher, which stores them with the change (late, so a PostgreSQL outbox
lock is held only for the end of the transaction).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from astara.bus.base import Publisher

TOPIC = "notifications.info"


class Caller(Protocol):
    def notification_keys(self) -> dict[str, Any]:
        """The ``_context_*`` keys of the request's identity."""


def build(event_type: str, payload: dict, ctx: Caller, host: str) -> dict[str, Any]:
    msg = {
        "message_id": str(uuid.uuid4()),
        "publisher_id": f"network.{host}",
        "event_type": event_type,
        "priority": "INFO",
        "payload": payload,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "_unique_id": uuid.uuid4().hex,
    }
    msg.update(ctx.notification_keys())
    return msg


class Notifier:
    def __init__(self, publisher: Publisher, unit: Any, ctx: Caller, host: str):
        self._publisher = publisher
        self._unit = unit
        self._ctx = ctx
        self._host = host
        self._queued: list[dict[str, Any]] = []

    def emit(self, event_type: str, payload: dict) -> None:
        self._queued.append(build(event_type, payload, self._ctx, self._host))

    @property
    def queued(self) -> list[dict[str, Any]]:
        return list(self._queued)

    def flush(self) -> None:
        if self._queued:
            self._publisher.publish_all(self._unit, TOPIC, self._queued)
        self._queued = []
