"""The dispatcher's Prometheus collectors: messages handled by result, and its outbox
lag. Registered on the compute API's ``/metrics`` when the dispatcher runs in that
process, else on ``astara-compute-dispatcher``'s own listener."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from astara.bus.outbox_lag import OutboxLag
from astara.common import metrics
from astara.compute_service.dispatcher.consumer import Dispatcher


def register(registry: CollectorRegistry, disp: Dispatcher) -> None:
    registry.register(metrics.Counts(
        "astara_compute_dispatcher_messages", "Agent events handled, by result (applied, "
        "dropped as not newer, dead_lettered).", ["result"],
        lambda: {(k,): n for k, n in dict(disp.handled).items()}))
    registry.register(OutboxLag(disp.consumer))
