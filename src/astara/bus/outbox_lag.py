"""Outbox lag as Prometheus gauges, read from the database at each scrape.

Served by the consumer's own process (the orchestrator's intake, the compute
dispatcher): only it knows which topics it reads, and its cursor stays behind the
rows of other topics. ``astara_outbox_unconsumed_messages{consumer}`` and
``astara_outbox_oldest_unconsumed_age_seconds{consumer}`` (0 when none waits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from astara.bus.outbox import OutboxConsumer

LOG = logging.getLogger(__name__)


def age_seconds(oldest: datetime | None, now: datetime) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the outbox stores naive UTC


class OutboxLag(Collector):
    def __init__(self, consumer: OutboxConsumer,
                 now: Callable[[], datetime] = _utcnow) -> None:
        self.consumer, self.now = consumer, now

    def describe(self) -> list:
        return []  # read at scrape time: registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count = GaugeMetricFamily("astara_outbox_unconsumed_messages",
                                  "Outbox rows of the consumer's topics after its cursor.",
                                  labels=["consumer"])
        age = GaugeMetricFamily("astara_outbox_oldest_unconsumed_age_seconds",
                                "Age of the oldest outbox row the consumer has not "
                                "consumed (0: none).", labels=["consumer"])
        try:
            n, oldest = self.consumer.lag()
        except Exception:  # a scrape must not fail on a busy database: leave them out
            LOG.warning("metrics: outbox lag of %s unreadable", self.consumer.name,
                        exc_info=True)
            return
        count.add_metric([self.consumer.name], n)
        age.add_metric([self.consumer.name], age_seconds(oldest, self.now()))
        yield count
        yield age
