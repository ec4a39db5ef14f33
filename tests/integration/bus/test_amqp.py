"""The AMQP transport against a real RabbitMQ: real Neutron messages reach intake;
the relay publishes the outbox in order, a crash between publish and cursor save
gives a duplicate (dropped by the consumer), never a loss; RabbitMQ killed while
events flow and restarted: nothing lost, nothing handled twice."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import kombu
import pytest
from tests.integration.conftest import fresh_database
from tests.support import wait_for

from astara.bus import amqp
from astara.bus.outbox import OutboxConsumer, OutboxPublisher
from astara.bus.relay import CONSUMER, TOPIC, Relay
from astara.bus.wakeup import WakeupDir
from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator import intake

pytestmark = pytest.mark.integration
CAPTURES = Path(__file__).parents[2] / "data" / "neutron" / "notifications"


@pytest.fixture
def transport(rabbitmq, tmp_path):
    t = amqp.transport(rabbitmq.conf(tmp_path))
    yield t
    t.cleanup()


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


class Listening:
    """An ``AmqpConsumer`` running in a thread, recording what its handler got."""

    def __init__(self, transport, rabbitmq):
        self.consumer = amqp.AmqpConsumer(transport, f"test-{uuid.uuid4().hex[:8]}")
        self.bodies: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.consumer.run, args=(self.bodies_append, self._stop.is_set),
            daemon=True)
        self._rabbitmq = rabbitmq

    def bodies_append(self, msg) -> None:
        self.bodies.append(msg.body)

    def ids(self) -> list[str]:
        return [b["message_id"] for b in self.bodies]

    def __enter__(self):
        self._thread.start()
        # Its queue exists once it listens: only then is a message routed to it. The
        # queue is bound once per priority (info, warn, error), in an order of oslo's:
        # ``listening`` is set once every binding is made.
        wait_for(lambda: queue_exists(self._rabbitmq.url, self.consumer.name),
                 what="the listener's queue")
        wait_for(self.consumer.listening.is_set, what="every binding of the queue")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def kombu_url(url: str) -> str:
    return url.replace("rabbit://", "amqp://", 1)  # oslo's scheme, kombu's name


def queue_exists(url: str, name: str) -> bool:
    with kombu.Connection(kombu_url(url)) as conn:
        try:
            conn.default_channel.queue_declare(name, passive=True)
            return True
        except Exception:  # NOT_FOUND closes the channel: the next try opens another
            return False


def outbox_bodies(n: int, router_id: str) -> list[dict]:
    return [{"message_id": str(uuid.uuid4()), "publisher_id": "network.test",
             "event_type": "router.update.end", "priority": "INFO",
             "payload": {"router": {"id": router_id, "name": f"r{i}"}},
             "timestamp": "2026-12-02 00:00:00.000000", "_context_project_id": "p1"}
            for i in range(n)]


def commit(db: Database, bodies: list[dict]) -> None:
    with db.write() as s:
        OutboxPublisher().publish_all(s, TOPIC, bodies)


def relay_consumer(db: Database, tmp_path: Path) -> OutboxConsumer:
    return OutboxConsumer(db, CONSUMER, topics=[TOPIC], wakeup=WakeupDir(tmp_path / "bus"),
                          max_idle_wait=5.0)


def test_real_neutron_messages_reach_intake(rabbitmq, transport):
    captures = [json.loads(p.read_text()) for p in sorted(CAPTURES.glob("[0-9]*.json"))]
    assert len(captures) > 40
    with Listening(transport, rabbitmq) as listening, \
            kombu.Connection(kombu_url(rabbitmq.url)) as conn:
        exchange = kombu.Exchange("neutron", type="topic", durable=True)
        producer = conn.Producer()
        for junk in ("not json", {"oslo.version": "2.0", "oslo.message": "{broken"},
                     {"oslo.version": "2.0", "oslo.message": "[1, 2]"}):
            # Malformed: logged and dropped, the listener goes on.
            producer.publish(junk, exchange=exchange, declare=[exchange],
                             routing_key="notifications.info", serializer="json")
        for capture in captures:  # the bytes neutron-server sent, as it sent them
            producer.publish(capture["envelope"], exchange=exchange, declare=[exchange],
                             routing_key="notifications.info", serializer="json")
        wait_for(lambda: len(listening.bodies) == len(captures), what="every capture")
    want = [intake.normalize(c["envelope"]) for c in captures]
    got = [intake.normalize(b) for b in listening.bodies]
    assert got == want
    keys = {e.target for events in got for e in events}
    router_id = captures[9]["message"]["payload"]["router"]["id"]
    assert captures[9]["message"]["event_type"] == "router.create.end"
    assert intake.ResourceRef("router", router_id, captures[9]["message"]["payload"]
                              ["router"]["project_id"]) in keys
    # The context came through as intake reads it (who did it, admin or not).
    assert listening.bodies[10]["_context_project_id"] == \
        captures[10]["message"]["_context_project_id"]
    assert listening.bodies[10]["_context_is_admin"] is False


def test_relay_in_order_and_a_crash_before_the_cursor_is_a_duplicate(
        rabbitmq, transport, db, tmp_path):
    bodies = outbox_bodies(30, str(uuid.uuid4()))
    commit(db, bodies)

    class NoAck(OutboxConsumer):
        def ack(self, position: int) -> None:  # the process died before saving it
            pass

    with Listening(transport, rabbitmq) as listening:
        crashed = Relay(NoAck(db, CONSUMER, topics=[TOPIC], max_idle_wait=5.0),
                        amqp.OsloSender(transport))
        crashed.pump(limit=10)
        assert crashed.sent == 10
        relay = Relay(relay_consumer(db, tmp_path), amqp.OsloSender(transport))
        while relay.pump():
            pass
        assert relay.sent == 30  # the ten again, then the rest
        wait_for(lambda: listening.consumer.duplicates == 10, what="the duplicates")
        assert listening.ids() == [b["message_id"] for b in bodies]
        assert listening.consumer.handled == 30
    assert relay_consumer(db, tmp_path).position() > 0
    assert not relay_consumer(db, tmp_path).fetch()  # everything relayed


def test_broker_killed_while_events_flow(rabbitmq, transport, db, tmp_path):
    bodies = outbox_bodies(60, str(uuid.uuid4()))
    wakeup = WakeupDir(tmp_path / "bus")
    relay = Relay(relay_consumer(db, tmp_path), amqp.OsloSender(transport),
                  max_idle_wait=0.5)
    relay_thread = threading.Thread(target=relay.run, daemon=True)
    with Listening(transport, rabbitmq) as listening:
        relay_thread.start()
        try:
            for body in bodies[:20]:
                commit(db, [body])
                wakeup.notify()
            wait_for(lambda: len(listening.bodies) >= 10, what="events flowing")
            rabbitmq.kill()
            for body in bodies[20:40]:  # committed while RabbitMQ is down
                commit(db, [body])
                wakeup.notify()
            rabbitmq.start()
            for body in bodies[40:]:
                commit(db, [body])
                wakeup.notify()
            wait_for(lambda: len(listening.bodies) >= 60, timeout=120,
                     what="every event after the restart")
        finally:
            relay.close()
            relay_thread.join(15)
        assert relay.failures > 0  # it did try while RabbitMQ was down
        ids = listening.ids()
        assert sorted(ids) == sorted(b["message_id"] for b in bodies)  # none lost
        assert len(ids) == len(set(ids)) == 60  # none handled twice
        assert listening.consumer.handled == 60


class Caller:
    def notification_keys(self) -> dict:
        return {"_context_project_id": "p1", "_context_user_id": "u1",
                "_context_is_admin": False}


def test_relayed_messages_look_on_the_wire_as_neutrons_and_novas(
        rabbitmq, transport, db, tmp_path):
    from astara.bus.notifier import build

    capture = json.loads((CAPTURES / "010_router.create.end.json").read_text())
    router = build("router.create.end", {"router": {"id": str(uuid.uuid4())}}, Caller(),
                   "h1")
    instance = {**build("compute.instance.create.end", {"instance_id": "i"}, Caller(),
                        "h1"), "publisher_id": "compute.h1"}
    commit(db, [router, instance])
    with kombu.Connection(kombu_url(rabbitmq.url)) as conn:
        queues = {}
        for exchange in ("neutron", "nova"):  # bound before anything is relayed
            q = kombu.Queue(f"wire-{exchange}-{uuid.uuid4().hex[:8]}",
                            kombu.Exchange(exchange, type="topic", durable=True),
                            routing_key="notifications.info", auto_delete=True)
            queues[exchange] = q(conn.default_channel)
            queues[exchange].declare()
        relay = Relay(relay_consumer(db, tmp_path), amqp.OsloSender(transport))
        assert relay.pump() == 2
        got = {e: wait_for(lambda q=q: q.get(no_ack=True), what=f"a message on {e}")
               for e, q in queues.items()}
    for exchange, original in (("neutron", router), ("nova", instance)):
        raw = got[exchange]
        assert raw.delivery_info["routing_key"] == "notifications.info"
        assert raw.properties["delivery_mode"] == capture["_capture"]["properties"][
            "delivery_mode"] == 2  # persistent, as neutron-server's
        assert raw.content_type == "application/json"
        envelope = json.loads(raw.body)
        assert set(envelope) == set(capture["envelope"]) == {"oslo.version", "oslo.message"}
        assert envelope["oslo.version"] == "2.0"
        message = json.loads(envelope["oslo.message"])
        assert {k for k in message if not k.startswith("_context_")} == \
            {k for k in capture["message"] if not k.startswith("_context_")}
        assert message["message_id"] == original["message_id"]  # what a consumer dedups by
        assert message["event_type"] == original["event_type"]
        assert message["_context_project_id"] == "p1"
