"""The dispatcher against a real database: apply under lock, drop stale, dead-letter."""

from __future__ import annotations

import json
import threading
import uuid

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from tests.support import wait_for

from astara.bus.outbox import OutboxConsumer, OutboxPublisher
from astara.compute_service import events, jobs
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage
from astara.compute_service.settings import default_retry_policy

IDLE = 5.0  # how long an idle consumer's wait() may sleep between looks


def add_instance(db, project="p1") -> str:
    iid = str(uuid.uuid4())
    stamp = jobs.now()
    with db.write() as s:
        s.add(QuotaUsage(project_id=project, instances=1))
        s.add(Instance(id=iid, project_id=project, name="vm", host="h1", flavor_id="1",
                       image_id="i", created_at=stamp, updated_at=stamp,
                       task_state="scheduling"))
    return iid


def publish(db, *bodies):
    pub = OutboxPublisher()
    with db.write() as s:
        for body in bodies:
            pub.publish(s, events.TOPIC, body)


def test_applies_in_sequence_drops_stale_and_dead_letters(db):
    iid = add_instance(db)
    inst = {"id": iid, "project_id": "p1"}
    publish(db,
            events.build("create.start", inst, 11, "h1"),
            {"event_type": "compute.instance.create.end", "payload": {"instance_id": iid}},
            events.build("create.end", inst, 12, "h1", {"console": "booted"}),
            events.build("create.start", inst, 11, "h1"),   # duplicate from a re-run job
            {"event_type": "compute.instance.create.end", "payload": "x"})
    d = dispatcher.make(db, None, 0.05, default_retry_policy())
    try:
        assert d.drain() == 5
    finally:
        d.consumer.close()
    with db.read() as s:
        row = s.get(Instance, iid)
        assert (row.vm_state, row.task_state, row.power_state, row.seq) == \
            ("active", None, 1, 12)
        assert row.console == "booted" and row.launched_at is not None
        dead = s.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        assert [d.error for d in dead] == ["bad sequence None", "payload is not an object"]


def test_delete_end_releases_quota_once(db):
    iid = add_instance(db)
    inst = {"id": iid, "project_id": "p1"}
    publish(db, events.build("delete.end", inst, 21, "h1"),
            events.build("delete.end", inst, 21, "h1"))
    d = dispatcher.make(db, None, 0.05, default_retry_policy())
    try:
        d.drain()
    finally:
        d.consumer.close()
    with db.read() as s:
        assert s.get(Instance, iid).deleted is True
        assert s.get(QuotaUsage, "p1").instances == 0


def test_queue_inspect_and_retry(db):
    from astara.bus.outbox import OutboxRow
    from astara.cli import compute_manage as manage

    iid = add_instance(db)
    good = events.build("create.end", {"id": iid, "project_id": "p1"}, 12, "h1")
    stale = events.build("create.start", {"id": iid, "project_id": "p1"}, 5, "h1")
    with db.write() as s:
        for pos, body, error in ((1, json.dumps(good), "was broken"),
                                 (2, '{"event_type": "x"}', "bad"),
                                 (3, "not json {", "hand-edited"),
                                 (4, json.dumps(stale), "late")):
            s.add(DeadLetter(position=pos, topic=events.TOPIC, body=body, error=error,
                             created_at=jobs.now()))
    listed = manage.queue_inspect(db)
    ids = [d["id"] for d in listed]
    assert [d["error"] for d in listed] == ["was broken", "bad", "hand-edited", "late"]
    result = manage.queue_retry(db)
    assert result == {"applied": [ids[0]], "dropped": [ids[3]],
                      "still_unparsable": [ids[1], ids[2]], "still_failing": []}
    with db.read() as s:
        assert s.get(Instance, iid).vm_state == "active"
        told = [json.loads(r.body) for r in s.scalars(
            select(OutboxRow).where(OutboxRow.topic == events.NOTIFY_TOPIC))]
    # announced as the dispatcher does: once, for the applied one only
    assert [(t["event_type"], t["payload"]["instance_id"]) for t in told] == \
        [("compute.instance.create.end", iid)]
    left = manage.queue_inspect(db)
    assert [d["id"] for d in left] == ids[1:]
    assert left[1]["error"] == "body is not JSON"
    assert left[2]["error"].startswith("retry dropped it: ")


class Flaky:
    """Apply that fails: always for the poison instance, the first ``db_errors`` times for
    any other (as a database that went away would)."""

    def __init__(self, poison: str, db_errors: int = 0):
        self.poison, self.db_errors, self.calls = poison, db_errors, []

    def __call__(self, session, event):
        self.calls.append(event.instance_id)
        if event.instance_id == self.poison:
            raise ValueError("poison")
        if self.db_errors:
            self.db_errors -= 1
            raise OperationalError("UPDATE compute_instances", {}, Exception("disk I/O error"))
        return dispatcher.apply_event(session, event)


def run_in_thread(d):
    stop = threading.Event()
    t = threading.Thread(target=d.run, args=(stop.is_set,), daemon=True)
    t.start()
    return stop, t


def test_poison_message_is_dead_lettered_after_n_tries_and_the_rest_applied(db):
    poison, good = add_instance(db), add_instance(db, project="p2")
    publish(db, events.build("create.end", {"id": poison, "project_id": "p1"}, 12, "h1"),
            events.build("create.end", {"id": good, "project_id": "p2"}, 12, "h1"))
    flaky = Flaky(poison, db_errors=2)
    policy = dispatcher.RetryPolicy(max_attempts=3, delay=0.01, max_delay=0.05)
    d = dispatcher.make(db, None, 0.05, policy, apply=flaky)
    stop, t = run_in_thread(d)
    try:
        wait_for(lambda: vm_state(db, good) == "active", timeout=10, what="good applied")
    finally:
        stop.set()
        t.join(5)
        d.consumer.close()
    assert flaky.calls.count(poison) == 3  # max_attempts, then dead-lettered
    assert flaky.calls.count(good) == 3  # two database errors, then applied
    with db.read() as s:
        [dead] = s.scalars(select(DeadLetter)).all()
        assert json.loads(dead.body)["payload"]["instance_id"] == poison
        assert dead.error == "failed 3 times: ValueError: poison"
        dead_id = dead.id
    assert vm_state(db, poison) != "active"
    # The operator can look and retry it once the cause is gone.
    from astara.cli import compute_manage as manage
    assert manage.queue_retry(db)["applied"] == [dead_id]
    assert vm_state(db, poison) == "active"


class BrokenAtFirst:
    """An outbox consumer whose database fails its first ``times`` reads."""

    def __init__(self, consumer: OutboxConsumer, times: int):
        self.consumer, self.times = consumer, times

    def fetch(self, limit: int = 100):
        if self.times:
            self.times -= 1
            raise OperationalError("SELECT bus_outbox", {}, Exception("database is locked"))
        return self.consumer.fetch(limit)

    def __getattr__(self, name):
        return getattr(self.consumer, name)


def test_dispatcher_survives_a_database_error_outside_any_message(db, caplog):
    iid = add_instance(db)
    policy = dispatcher.RetryPolicy(max_attempts=3, delay=0.01, max_delay=0.05)
    consumer = BrokenAtFirst(OutboxConsumer(db, dispatcher.CONSUMER, [events.TOPIC],
                                            max_idle_wait=IDLE), 2)
    d = dispatcher.Dispatcher(db, consumer, policy, max_idle_wait=0.05)
    stop, t = run_in_thread(d)
    try:
        wait_for(lambda: d.restarts == 2, timeout=10, what="two restarts")
        publish(db, events.build("create.end", {"id": iid, "project_id": "p1"}, 12, "h1"))
        wait_for(lambda: vm_state(db, iid) == "active", timeout=10, what="applied")
        assert t.is_alive()
    finally:
        stop.set()
        t.join(5)
        d.consumer.close()
    assert not t.is_alive()
    assert "compute dispatcher failed (OperationalError" in caplog.text
    assert "restarting in" in caplog.text


def vm_state(db, iid):
    with db.read() as s:
        return s.get(Instance, iid).vm_state


def test_an_applied_event_is_announced_on_notifications_info_and_wakes_consumers(db, tmp_path):
    # The orchestrator learns that its appliance is ACTIVE from this announcement (it
    # consumes notifications.info), woken at once, instead of polling the compute API.
    from astara.bus.wakeup import WakeupDir

    iid = add_instance(db)
    with db.write() as s:
        s.get(Instance, iid).metadata_ = {"k": "v"}
    inst = {"id": iid, "project_id": "p1"}  # what the agent's job spec carries
    publish(db, events.build("create.end", inst, 12, "h1"),
            events.build("create.end", inst, 12, "h1"))  # a duplicate: dropped, not announced
    wake = WakeupDir(tmp_path / "wake")
    listener = OutboxConsumer(db, "orchestrator-like", ["notifications.info"], wake,
                              max_idle_wait=IDLE)
    d = dispatcher.make(db, wake, 0.05, default_retry_policy())
    try:
        assert d.drain() == 2
        assert listener.wait(0) is True  # woken after the commit, without waiting
        announced = listener.fetch()
    finally:
        d.consumer.close()
        listener.close()
    assert [m.event_type for m in announced] == ["compute.instance.create.end"]
    payload = announced[0].body["payload"]
    # Completed from the instance's record, as Nova's payload (the agent's spec has no
    # metadata): what the orchestrator tells its appliances by.
    assert (payload["instance_id"], payload["state"], payload["metadata"],
            payload["display_name"], payload["tenant_id"]) == (iid, "active", {"k": "v"},
                                                               "vm", "p1")
    with db.read() as s:
        assert s.get(Instance, iid).vm_state == "active"  # committed with the announcement
