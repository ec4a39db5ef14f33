"""The compute dispatcher over a real RabbitMQ applies by outbox position, not in the
broker's order: relayed messages arriving in reverse order, one handler failure, a
message lost on the way, and a switch to ``transport = outbox`` with relayed events
still unapplied: every instance ends at its last event's state with both ports."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select
from tests.integration.bus.test_two_dispatchers import STEPS, add_instances, burst, db  # noqa: F401
from tests.support import wait_for

from astara.bus import amqp
from astara.bus.outbox import OutboxPublisher, OutboxRow
from astara.bus.relay import POSITION_KEY
from astara.bus.wakeup import WakeupDir
from astara.compute_service import events
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.models import Instance
from astara.compute_service.settings import default_retry_policy

pytestmark = pytest.mark.integration
INSTANCES = 5


class NoRelay:
    """The test sends the messages itself, in the order it chooses."""

    def run(self, stop) -> None:
        while not stop():
            threading.Event().wait(0.05)

    def close(self) -> None:
        pass


def test_amqp_applies_by_position_then_switch_to_outbox(db, tmp_path, rabbitmq):  # noqa: F811
    transport = amqp.transport(rabbitmq.conf(tmp_path))
    wake = WakeupDir(tmp_path / "bus")
    instances = add_instances(db, INSTANCES)
    early = burst(instances, [(i + 1, step) for i, step in enumerate(STEPS[:4])])
    late = burst(instances, [(i + 5, step) for i, step in enumerate(STEPS[4:])])
    pub = OutboxPublisher(wake)
    with db.write() as s:
        pub.publish_all(s, events.TOPIC, early)
    failed: list[str] = []

    def flaky(session, event):
        if event.event_type.endswith("interface_attach.end") and not failed:
            failed.append(event.instance_id)
            raise RuntimeError("a deadlock, once")
        return dispatcher.apply_event(session, event)

    disp = dispatcher.make(db, wake, 0.5, default_retry_policy(), apply=flaky,
                           transport=transport, lease_ttl=2.0)
    disp.amqp.make_relay = NoRelay
    stop = threading.Event()
    thread = threading.Thread(target=disp.run, args=(stop.is_set,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: disp.amqp.listener is not None
                 and disp.amqp.listener.listening.is_set(), what="the listener")
        with db.read() as s:
            rows = s.execute(select(OutboxRow.id, OutboxRow.body).where(
                OutboxRow.topic == events.TOPIC).order_by(OutboxRow.id)).all()
        sender = amqp.OsloSender(transport)
        # Newest first, and every third message lost on the way.
        for position, body in reversed(rows):
            if position % 3:
                sender.send(dispatcher.EXCHANGE, {**json.loads(body), POSITION_KEY: position},
                            f"{events.TOPIC}.info")

        def at(seq: int) -> bool:
            with db.read() as s:
                return s.scalar(select(func.count(Instance.id)).where(
                    Instance.seq == seq)) == INSTANCES
        wait_for(lambda: at(4), timeout=30, what="every instance at its 4th event")
        assert failed
        # Relayed but not applied when the transport changes: the outbox goes on.
        with db.write() as s:
            pub.publish_all(s, events.TOPIC, late)
    finally:
        stop.set()
        thread.join(30)
        disp.applied.close()
        disp.consumer.close()
        transport.cleanup()
    assert not thread.is_alive()
    outbox = dispatcher.make(db, wake, 0.5, default_retry_policy(), lease_ttl=2.0)
    stop2 = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(stop2.is_set,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: at(len(STEPS)), timeout=30, what="every instance at its last")
    finally:
        stop2.set()
        thread.join(30)
        outbox.consumer.close()
    with db.read() as s:
        for row in s.scalars(select(Instance)):
            assert (row.vm_state, row.power_state) == ("stopped", 4)
            assert sorted(p["port_id"] for p in row.ports) == ["a", "b"]
    assert outbox.handled["applied"] == INSTANCES * len(STEPS[4:])
