"""neutron-lbaas-format notifications, queued on the bus inside the write's transaction.

As neutron-server's LBaaS v2 plugin sent them: ``<resource>.<action>.end`` with the
resource's view as ``{"<resource>": {...}}`` (``{"<resource>_id": id}`` on delete).
A child's payload also names its ``loadbalancer_id`` beside the view, so a consumer
finds the load balancer to reconcile without a lookup. ``flush`` hands the queued
messages to the publisher just before commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from astara.bus.base import Publisher
from astara.loadbalancer_service.context import RequestContext

TOPIC = "notifications.info"


def build(event_type: str, payload: dict, ctx: RequestContext, host: str) -> dict[str, Any]:
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
    def __init__(self, publisher: Publisher, unit: Any, ctx: RequestContext, host: str):
        self._publisher = publisher
        self._unit = unit
        self._ctx = ctx
        self._host = host
        self._queued: list[dict[str, Any]] = []

    def emit(self, kind: str, action: str, view: dict | None, id_: str,
             loadbalancer_id: str) -> None:
        if action == "delete":
            payload: dict[str, Any] = {f"{kind}_id": id_}
        else:
            payload = {kind: view}
        if kind != "loadbalancer":
            payload["loadbalancer_id"] = loadbalancer_id
        self._queued.append(build(f"{kind}.{action}.end", payload, self._ctx, self._host))

    @property
    def queued(self) -> list[dict[str, Any]]:
        return list(self._queued)

    def flush(self) -> None:
        if self._queued:
            self._publisher.publish_all(self._unit, TOPIC, self._queued)
        self._queued = []
