"""Outbox lag as its consumer's gauges: rows of its topics after its cursor, and the
age of the oldest (other topics do not count: its cursor never passes them)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.integration.conftest import fresh_database
from tests.scrape import value

from astara.bus.outbox import OutboxConsumer, OutboxPublisher
from astara.bus.outbox_lag import OutboxLag, age_seconds
from astara.bus.wakeup import WakeupDir
from astara.common import metrics
from astara.db import migrate
from astara.db.engine import Database

IDLE = 5.0


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def wakeup(tmp_path):
    return WakeupDir(tmp_path / "bus")


def publish(db, wakeup, topic: str, n: int) -> None:
    pub = OutboxPublisher(wakeup)
    with db.write() as s:
        for i in range(n):
            pub.publish(s, topic, {"event_type": f"e{i}"})
    pub.committed()


def scrape(consumer, now) -> str:
    regs = metrics.registries()
    regs.exposed.register(OutboxLag(consumer, now=now))
    return metrics.render(regs.exposed).decode()


def test_lag_counts_the_consumers_topics_after_its_cursor(db, wakeup):
    consumer = OutboxConsumer(db, "lagging", topics=["notifications.info"], wakeup=wakeup,
                              max_idle_wait=IDLE)
    assert consumer.lag() == (0, None)
    publish(db, wakeup, "notifications.info", 3)
    publish(db, wakeup, "compute.events", 4)  # not this consumer's
    count, oldest = consumer.lag()
    assert count == 3 and oldest is not None
    text = scrape(consumer, lambda: oldest + timedelta(seconds=42))
    assert value(text, "astara_outbox_unconsumed_messages", consumer="lagging") == 3
    assert value(text, "astara_outbox_oldest_unconsumed_age_seconds",
                 consumer="lagging") == 42
    consumer.ack(consumer.fetch()[-1].position)
    assert consumer.lag() == (0, None)
    text = scrape(consumer, lambda: oldest)
    assert value(text, "astara_outbox_unconsumed_messages", consumer="lagging") == 0
    assert value(text, "astara_outbox_oldest_unconsumed_age_seconds", consumer="lagging") == 0
    consumer.close()


def test_age_is_never_negative():
    now = datetime(2026, 1, 1)
    assert age_seconds(None, now) == 0
    assert age_seconds(now + timedelta(seconds=5), now) == 0  # another host's clock ahead
    assert age_seconds(now - timedelta(seconds=5), now) == 5
