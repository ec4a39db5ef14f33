"""The SQL outbox transport: same-transaction publish, ordered at-least-once delivery,
durable cursors that survive a crash, and prompt wake-ups."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
from tests.integration.conftest import fresh_database
from tests.support import wait_for

from astara.bus.outbox import OutboxConsumer, OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.db import migrate
from astara.db.engine import Database

IDLE = 5.0  # how long an idle consumer's wait() may sleep between looks


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def wakeup(tmp_path):
    return WakeupDir(tmp_path / "bus")


def publish(db, wakeup, *bodies):
    pub = OutboxPublisher(wakeup)
    with db.write() as s:
        for body in bodies:
            pub.publish(s, "notifications.info", body)
    pub.committed()


def test_ordered_delivery_and_independent_cursors(db, wakeup):
    a = OutboxConsumer(db, "a", wakeup=wakeup, max_idle_wait=IDLE)
    b = OutboxConsumer(db, "b", wakeup=wakeup, max_idle_wait=IDLE)
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(5)])
    got = a.fetch(3)
    assert [m.event_type for m in got] == ["e0", "e1", "e2"]
    a.ack(got[-1].position)
    assert [m.event_type for m in a.fetch()] == ["e3", "e4"]
    assert [m.event_type for m in b.fetch()] == ["e0", "e1", "e2", "e3", "e4"]
    a.close()
    b.close()


def test_cursor_never_moves_back(db, wakeup):
    c = OutboxConsumer(db, "c", wakeup=wakeup, max_idle_wait=IDLE)
    publish(db, wakeup, {"event_type": "x"}, {"event_type": "y"})
    msgs = c.fetch()
    c.ack(msgs[1].position)
    c.ack(msgs[0].position)
    assert c.position() == msgs[1].position
    c.close()


def test_rolled_back_write_publishes_nothing(db, wakeup):
    pub = OutboxPublisher(wakeup)
    with pytest.raises(RuntimeError), db.write() as s:
        pub.publish(s, "notifications.info", {"event_type": "lost"})
        raise RuntimeError("the change failed")
    c = OutboxConsumer(db, "c", wakeup=wakeup, max_idle_wait=IDLE)
    assert c.fetch() == []
    c.close()


def test_failed_handler_gets_the_message_again_after_restart(db, wakeup):
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(4)])
    seen = []

    def handler(msg):
        if msg.event_type == "e2" and "crashed" not in seen:
            seen.append("crashed")
            raise RuntimeError("worker died")
        seen.append(msg.event_type)

    first = OutboxConsumer(db, "worker", wakeup=wakeup, max_idle_wait=IDLE)
    with pytest.raises(RuntimeError):
        first.run(handler, stop=lambda: False)
    first.close()
    second = OutboxConsumer(db, "worker", wakeup=wakeup, max_idle_wait=IDLE)
    second.run(handler, stop=lambda: len(seen) >= 5)
    second.close()
    assert seen == ["e0", "e1", "crashed", "e2", "e3"]


def test_the_cursor_moves_once_per_batch_past_what_was_handled(db, wakeup):
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(5)])
    c = OutboxConsumer(db, "batch", wakeup=wakeup, max_idle_wait=IDLE)
    start, during, ends = c.position(), [], []

    def handler(msg):
        during.append(c.position())
        if msg.event_type == "e3" and len(ends) == 0:
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        c.run(handler, stop=lambda: False, batch_done=lambda: ends.append(c.position()))
    assert during == [start] * 4  # no write while the batch is handled
    assert ends == [start]  # called before the cursor moves
    redelivered = c.fetch()
    assert [m.event_type for m in redelivered] == ["e3", "e4"]  # e0..e2 acknowledged
    c.run(handler, stop=lambda: c.position() == redelivered[-1].position,
          batch_done=lambda: ends.append(c.position()))
    assert c.fetch() == []
    c.close()


def test_publisher_killed_before_commit_leaves_nothing_and_after_commit_loses_nothing(
        db, wakeup, tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from astara.bus.outbox import OutboxPublisher
        from astara.db.engine import Database
        db = Database(sys.argv[1])
        pub = OutboxPublisher(None)
        if sys.argv[2] == "before-commit":
            with db.write() as s:
                pub.publish(s, "notifications.info", {"event_type": "never"})
                s.flush()
                os._exit(9)
        with db.write() as s:
            pub.publish(s, "notifications.info", {"event_type": "kept"})
        os._exit(9)  # dies before waking anyone
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for mode in ("before-commit", "after-commit"):
        r = subprocess.run([sys.executable, "-c", script, db.url, mode], env=env, timeout=60)
        assert r.returncode == 9
    c = OutboxConsumer(db, "c", wakeup=wakeup, max_idle_wait=IDLE)
    assert [m.event_type for m in c.fetch()] == ["kept"]
    c.close()


def test_waiting_consumer_is_woken_by_a_publisher_in_another_process(db, wakeup):
    c = OutboxConsumer(db, "waiter", wakeup=wakeup, max_idle_wait=IDLE)
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from astara.bus.outbox import OutboxPublisher
        from astara.bus.wakeup import WakeupDir
        from astara.db.engine import Database
        db = Database(sys.argv[1])
        pub = OutboxPublisher(WakeupDir(Path(sys.argv[2])))
        with db.write() as s:
            pub.publish(s, "notifications.info", {"event_type": "hello"})
        pub.committed()
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    woke = []
    t = threading.Thread(target=lambda: woke.append(c.wait(60)))
    t.start()
    subprocess.run([sys.executable, "-c", script, db.url, str(wakeup.directory)], env=env,
                   check=True, timeout=60)
    t.join(60)
    assert woke == [True]
    assert [m.event_type for m in c.fetch()] == ["hello"]
    c.close()


def test_stale_wakeup_sockets_are_removed(wakeup):
    listener = wakeup.listen()
    path = listener.path
    listener._sock.close()  # the process died without unlinking its socket
    wakeup.notify()
    assert not path.exists()


def count_statements(db, like: str):
    """A list that collects the SQL statements matching ``like`` run on ``db``."""
    from sqlalchemy import event

    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        if like in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", before)


def test_skip_to_tail_is_one_query_whatever_the_backlog(db, wakeup):
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(3000)])
    c = OutboxConsumer(db, "late", wakeup=wakeup, topics=["notifications.info"], max_idle_wait=IDLE)
    reads, done = count_statements(db, "FROM bus_outbox")
    try:
        tail = c.skip_to_tail()
    finally:
        done()
    assert len(reads) == 1
    assert c.position() == tail and c.fetch() == []
    publish(db, wakeup, {"event_type": "after"})
    assert [m.event_type for m in c.fetch()] == ["after"]
    c.close()


def outbox_ids(db) -> list[int]:
    from sqlalchemy import select

    from astara.bus.outbox import OutboxRow
    with db.read() as s:
        return list(s.scalars(select(OutboxRow.id).order_by(OutboxRow.id)))


def test_prune_removes_only_what_every_consumer_has_read(db, wakeup):
    from astara.bus.outbox import prune

    fast = OutboxConsumer(db, "fast", max_idle_wait=IDLE)
    slow = OutboxConsumer(db, "slow", max_idle_wait=IDLE)
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(10)])
    ids = outbox_ids(db)
    fast.ack(ids[7])
    slow.ack(ids[3])
    deletes, done = count_statements(db, "DELETE FROM bus_outbox")
    try:
        assert prune(db, retention=0, batch=2) == 4
    finally:
        done()
    assert len(deletes) == 2  # bounded batches, one short transaction each
    assert outbox_ids(db) == ids[4:]
    assert [m.position for m in slow.fetch()] == ids[4:]
    slow.ack(ids[-1])
    assert prune(db, retention=0) == 4  # down to the slower cursor, now fast's
    assert outbox_ids(db) == ids[8:]
    fast.ack(ids[-1])
    prune(db, retention=0)
    assert outbox_ids(db) == []
    publish(db, wakeup, {"event_type": "next"})
    assert outbox_ids(db)[0] > ids[-1]  # a position is never reused
    assert [m.event_type for m in fast.fetch()] == ["next"]
    fast.close()
    slow.close()


def test_prune_keeps_rows_younger_than_the_retention(db, wakeup):
    from datetime import UTC, datetime, timedelta

    from astara.bus.outbox import prune

    c = OutboxConsumer(db, "c", max_idle_wait=IDLE)
    publish(db, wakeup, {"event_type": "a"}, {"event_type": "b"})
    c.ack(outbox_ids(db)[-1])
    assert prune(db, retention=3600) == 0
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=2)
    assert prune(db, retention=3600, now=later) == 2
    c.close()


def test_prune_waits_for_a_consumer_that_has_read_nothing(db, wakeup):
    from astara.bus.outbox import prune

    a, b = OutboxConsumer(db, "a", max_idle_wait=IDLE), OutboxConsumer(db, "b", max_idle_wait=IDLE)
    publish(db, wakeup, {"event_type": "a"})
    a.ack(outbox_ids(db)[-1])
    b.ack(0)
    assert prune(db, retention=0) == 0
    a.close()
    b.close()


def test_a_consumer_with_a_retention_prunes_as_it_runs(db, wakeup):
    c = OutboxConsumer(db, "runner", wakeup=wakeup, max_idle_wait=0.05, retention=0,
                       prune_every=0)
    publish(db, wakeup, *[{"event_type": f"e{i}"} for i in range(5)])
    got: list[str] = []
    stop = threading.Event()
    t = threading.Thread(target=c.run, args=(lambda m: got.append(m.event_type), stop.is_set))
    t.start()
    try:
        wait_for(lambda: len(got) == 5, timeout=10, what="all delivered")
        publish(db, wakeup, {"event_type": "wake"})
        wait_for(lambda: len(outbox_ids(db)) <= 1, timeout=10, what="pruned")
    finally:
        stop.set()
        t.join(5)
        c.close()
