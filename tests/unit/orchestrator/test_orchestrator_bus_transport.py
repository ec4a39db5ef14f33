"""``[bus] transport`` picks where the orchestrator's intake reads: the outbox, or
RabbitMQ with the relay that takes the outbox there."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from astara.bus.amqp import AmqpConsumer
from astara.bus.outbox import CursorRow, OutboxConsumer, OutboxPublisher
from astara.common.settings import defaults
from astara.db import migrate
from astara.orchestrator.opts import defaults as orch_defaults
from astara.orchestrator.service import Orchestrator


def cursors(db) -> dict[str, int]:
    with db.read() as s:
        return {r.consumer: r.position for r in s.scalars(select(CursorRow))}


def settings(tmp_path, transport: str):
    base = defaults(tmp_path)
    return replace(base, bus=replace(base.bus, transport=transport),
                   network=replace(base.network, host="orch-1"))


def test_amqp_listens_in_its_host_pool_and_relays_the_outbox(tmp_path):
    transport = object()
    orch = Orchestrator(settings(tmp_path, "amqp"), orch_defaults(), lambda: transport)
    migrate.upgrade(orch.db.engine)
    with orch.db.write() as s:  # history before the first start: the resync covers it
        OutboxPublisher().publish_all(s, "notifications.info", [{"event_type": "x"}] * 3)
    OutboxConsumer(orch.db, "astara-orchestrator", max_idle_wait=1).ack(1)  # ran on outbox
    consumer = orch._bus_consumer()
    assert cursors(orch.db) == {"amqp-relay": 3}  # the old one would stop the pruning
    assert isinstance(consumer, AmqpConsumer)
    assert consumer.name == "astara.notifications.orch-1"
    assert consumer._exchanges == ["neutron", "nova"]
    assert orch.relay is not None and orch.relay._sender._transport is transport
    assert orch.relay._consumer.position() == 3 and not orch.relay._consumer.fetch()
    orch.relay._consumer.close()
    orch.db.dispose()


def test_amqp_without_a_transport_says_so(tmp_path):
    orch = Orchestrator(settings(tmp_path, "amqp"), orch_defaults())
    with pytest.raises(RuntimeError, match="transport = amqp"):
        orch._bus_consumer()
    orch.db.dispose()


def test_outbox_reads_the_outbox_and_relays_nothing(tmp_path):
    orch = Orchestrator(settings(tmp_path, "outbox"), orch_defaults())
    migrate.upgrade(orch.db.engine)
    OutboxConsumer(orch.db, "amqp-relay", max_idle_wait=1).ack(7)  # it ran with amqp before
    consumer = orch._bus_consumer()
    assert isinstance(consumer, OutboxConsumer) and orch.relay is None
    assert "amqp-relay" not in cursors(orch.db)
    consumer.close()
    orch.db.dispose()
