"""Two compute dispatchers at once, on the outbox and over a real RabbitMQ: a burst of
interleaved agent events for many instances, some published twice, two malformed;
the dispatcher holding the lease is stopped mid-burst and the other takes over. Every
instance ends at its last event's state with every port its attach events added,
every event is applied exactly once (an event applied out of order would have been
dropped as not newer: fewer applies), announced once, and each malformed message is
dead-lettered once."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select
from tests.integration.conftest import fresh_database
from tests.support import wait_for

from astara.bus.outbox import OutboxPublisher, OutboxRow
from astara.bus.wakeup import WakeupDir
from astara.compute_service import events, jobs
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage
from astara.compute_service.settings import default_retry_policy
from astara.db import migrate
from astara.db.engine import Database

pytestmark = pytest.mark.integration
INSTANCES = 30
# Per instance, in sequence: its boot, two ports attached (changes, not states: one
# applied out of order would be lost), a stop. The last event decides the state.
STEPS = [("create.start", {}), ("create.end", {}),
         ("interface_attach.end", {"port": {"port_id": "a"}}),
         ("interface_attach.end", {"port": {"port_id": "b"}}),
         ("power_off.start", {}), ("power_off.end", {})]


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def add_instances(db, n: int) -> list[dict]:
    out = []
    stamp = jobs.now()
    with db.write() as s:
        s.add(QuotaUsage(project_id="p1", instances=n))
        for _ in range(n):
            iid = str(uuid.uuid4())
            s.add(Instance(id=iid, project_id="p1", name="vm", host="h1", flavor_id="1",
                           image_id="i", created_at=stamp, updated_at=stamp,
                           task_state="scheduling"))
            out.append({"id": iid, "project_id": "p1"})
    return out


def burst(instances: list[dict], steps) -> list[dict]:
    """The events of ``steps`` for every instance, interleaved (step 1 of each, then
    step 2 of each, ...), as the agents of many instances write them."""
    return [events.build(action, inst, seq, "h1", extra)
            for seq, (action, extra) in steps for inst in instances]


class Running:
    """A dispatcher made as the services make it, running in a thread."""

    def __init__(self, db_url: str, wake: WakeupDir, transport):
        self.db = Database(db_url)
        self.disp = dispatcher.make(self.db, wake, 0.5, default_retry_policy(),
                                    transport=transport, lease_ttl=2.0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.disp.run, args=(self.stop.is_set,),
                                       daemon=True)

    def dispatching(self) -> bool:
        if self.disp.standby is not False:
            return False
        side = self.disp.amqp
        return side is None or (side.listener is not None and side.listener.listening.is_set())

    def handled(self) -> int:
        return sum(self.disp.handled.values())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.disp.consumer.close()
        self.db.dispose()


@pytest.mark.parametrize("bus", ["outbox", "amqp"])
def test_two_dispatchers_apply_each_event_once_in_order(bus, db, tmp_path, request):
    transport = None
    if bus == "amqp":
        from astara.bus import amqp

        transport = amqp.transport(request.getfixturevalue("rabbitmq").conf(tmp_path))
    wake = WakeupDir(tmp_path / "bus")
    instances = add_instances(db, INSTANCES)
    first = [(i + 1, step) for i, step in enumerate(STEPS[:3])]
    second = [(i + 4, step) for i, step in enumerate(STEPS[3:])]
    early, late = burst(instances, first), burst(instances, second)
    malformed = [{"event_type": "compute.instance.create.end", "payload": "x"},
                 {"event_type": "compute.instance.create.end",
                  "payload": {"instance_id": instances[0]["id"]}}]
    pub = OutboxPublisher(wake)

    def publish(bodies):
        with db.write() as s:
            pub.publish_all(s, events.TOPIC, bodies)
        pub.committed()

    a = Running(str(db.engine.url), wake, transport)
    b = Running(str(db.engine.url), wake, transport)
    running = [a, b]
    try:
        a.thread.start()
        b.thread.start()
        wait_for(lambda: (a.dispatching() or b.dispatching())
                 and None not in (a.disp.standby, b.disp.standby),
                 what="one dispatcher leading, both having looked at the lease")
        holder, standby = (a, b) if a.dispatching() else (b, a)
        assert standby.disp.standby is True  # one at a time
        # The first part, with a duplicate of 20 of its events (a re-run job re-writes
        # the same messages) and the malformed ones among them.
        publish(early[:40] + malformed + early[:20] + early[40:])
        wait_for(lambda: holder.handled() >= 40, what="the holder to be under way")
        holder.close()  # mid-burst: its lease released, its unacked messages requeued
        running.remove(holder)
        wait_for(standby.dispatching, what="the standby to take over")
        publish(late + late[:15])
        last = {"vm_state": "stopped", "task_state": None, "power_state": 4,
                "seq": len(STEPS)}

        def settled() -> bool:
            with db.read() as s:
                return s.scalar(select(func.count(Instance.id)).where(
                    Instance.seq == len(STEPS))) == INSTANCES
        wait_for(settled, timeout=60, what="every instance at its last event")
        with db.read() as s:
            rows = s.scalars(select(Instance)).all()
            for row in rows:
                assert {k: getattr(row, k) for k in last} == last
                assert sorted(p["port_id"] for p in row.ports) == ["a", "b"]
            dead = s.scalars(select(DeadLetter.error).order_by(DeadLetter.id)).all()
            announced = s.scalar(select(func.count(OutboxRow.id)).where(
                OutboxRow.topic == events.NOTIFY_TOPIC))
        applied = holder.disp.handled["applied"] + standby.disp.handled["applied"]
        assert applied == INSTANCES * len(STEPS)  # each once: none twice, none dropped
        assert announced == applied
        assert dead == ["payload is not an object", "bad sequence None"]
    finally:
        for r in running:
            r.close()
        if transport is not None:
            transport.cleanup()
