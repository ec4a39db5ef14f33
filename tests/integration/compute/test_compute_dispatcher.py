"""The dispatcher against a real database: apply under lock, drop stale, dead-letter."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from astara.bus.outbox import OutboxPublisher
from astara.compute_service import dispatcher, events, jobs
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage


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
    d = dispatcher.make(db)
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
    d = dispatcher.make(db)
    try:
        d.drain()
    finally:
        d.consumer.close()
    with db.read() as s:
        assert s.get(Instance, iid).deleted is True
        assert s.get(QuotaUsage, "p1").instances == 0


def test_queue_inspect_and_retry(db):
    from astara.compute_service.cli import manage

    iid = add_instance(db)
    good = events.build("create.end", {"id": iid, "project_id": "p1"}, 12, "h1")
    with db.write() as s:
        s.add(DeadLetter(position=1, topic=events.TOPIC, body=json.dumps(good),
                         error="was broken", created_at=jobs.now()))
        s.add(DeadLetter(position=2, topic=events.TOPIC, body='{"event_type": "x"}',
                         error="bad", created_at=jobs.now()))
    listed = manage.queue_inspect(db)
    assert [d["error"] for d in listed] == ["was broken", "bad"]
    result = manage.queue_retry(db)
    assert result == {"applied": [listed[0]["id"]], "still_unparsable": [listed[1]["id"]]}
    with db.read() as s:
        assert s.get(Instance, iid).vm_state == "active"
    assert [d["id"] for d in manage.queue_inspect(db)] == [listed[1]["id"]]
