"""Placement over several hosts: one project's instances spread over two live agents
(booted through openstacksdk), and a drained, silent or full host never gets one."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy import delete, event, inspect, select
from tests.integration.conftest import fresh_database

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import catalog, jobs
from astara.compute_service.agent.backend import FakeBackend
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api import placement
from astara.compute_service.api.service import PLACE_RACES
from astara.compute_service.models import LIVE_USAGE_INDEX, Host, Instance
from astara.db import migrate
from astara.db.engine import Database


def test_one_projects_instances_spread_over_two_hosts(compute, user, network_settings):
    # Not "-2": the server-group tests leave a drained host row of that name.
    second = f"{compute.settings.host}-spread"
    backend = FakeBackend()
    wakeup = network_settings.bus.wakeup_dir
    agent = Agent(compute.db, backend, second, OutboxPublisher(WakeupDir(wakeup)),
                  WakeupDir(jobs.wakeup_dir(wakeup)), idle_wait=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop.is_set,), daemon=True)
    agent.register()
    thread.start()
    servers = []
    try:
        net = user.sdk.network.create_network(name="spread")
        user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.61.0.0/24")
        for n in range(compute.settings.quota_instances):
            servers.append(user.sdk.compute.create_server(
                name=f"s{n}", image_id=catalog.TENANT_IMAGE, flavor_id="1",
                networks=[{"uuid": net.id}]))
        for server in servers:
            user.wait_status(server.id, "ACTIVE")
        with compute.db.read() as s:
            placed = dict(s.execute(select(Instance.id, Instance.host).where(
                Instance.project_id == user.project, Instance.deleted.is_(False))).all())
        assert Counter(placed.values()) == {compute.settings.host: 2, second: 2}
        # each booted by its own host's agent
        assert set(backend.instances) == {i for i, h in placed.items() if h == second}
    finally:
        for server in servers:
            user.sdk.compute.delete_server(server.id)
        for server in servers:
            user.sdk.compute.wait_for_delete(server, wait=10, interval=0.05)
        stop.set()
        thread.join(10)
        with compute.db.write() as s:  # the session's other tests see one host again
            s.execute(delete(Host).where(Host.name == second))
    assert not backend.instances


def test_never_a_drained_silent_or_full_host(db):
    now = jobs.now()
    with db.write() as s:
        s.add_all([Host(name="drained", capacity=50, drained=True, updated_at=now),
                   Host(name="silent", capacity=50, drained=False,
                        updated_at=now - timedelta(seconds=120)),
                   Host(name="full", capacity=1, drained=False, updated_at=now),
                   Host(name="small", capacity=3, drained=False, updated_at=now)])
        s.add(Instance(id=str(uuid.uuid4()), project_id="p", name="x", host="full",
                       flavor_id="1", image_id="astara-tenant", created_at=now,
                       updated_at=now))
    with db.read() as s:
        assert placement.pick_host(s, 60.0, project_id="p") == "small"
    with db.write() as s:
        s.get(Host, "small").drained = True
    with db.read() as s:
        assert placement.pick_host(s, 60.0, project_id="p") is None


def _create_all(db: Database, n: int) -> list[str | None]:
    """``n`` creates at once in one project, each as the API's: placed from a read,
    re-checked in the insert's transaction under the project's and the host's locks
    (``still_fits``), placed again when raced: the host each got (None: none)."""
    start = threading.Barrier(n)
    got: list[str | None] = [None] * n

    def one(i: int) -> None:
        start.wait()
        for _ in range(PLACE_RACES):
            with db.read() as s:
                host = placement.pick_host(s, 60.0, project_id="p")
            if host is None:
                return
            with db.write() as s:
                placement.usage_row(s, "p")
                if not placement.still_fits(s, host, "p", spread=True):
                    continue
                now = jobs.now()
                s.add(Instance(id=str(uuid.uuid4()), project_id="p", name=f"c{i}",
                               host=host, flavor_id="1", image_id=catalog.TENANT_IMAGE,
                               created_at=now, updated_at=now))
            got[i] = host
            return

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return got


def test_concurrent_creates_spread_and_never_overfill(tmp_path):
    db = Database(fresh_database(tmp_path))
    migrate.upgrade(db.engine)
    try:
        now = jobs.now()
        with db.write() as s:
            s.add_all([Host(name="a", capacity=20, drained=False, updated_at=now),
                       Host(name="b", capacity=20, drained=False, updated_at=now)])
        got = _create_all(db, 6)
        # Room for all: none may fail, not even the project's first creates, which
        # race to make its usage row.
        assert None not in got, got
        counts = Counter(got)
        assert abs(counts["a"] - counts["b"]) <= 1, counts  # not all on the first read's
        with db.write() as s:
            s.get(Host, "a").capacity = counts["a"] + 1
            s.get(Host, "b").capacity = counts["b"] + 1
        more = Counter(h for h in _create_all(db, 6) if h)
        assert more["a"] <= 1 and more["b"] <= 1, more  # one place left on each
    finally:
        db.dispose()


def test_placing_reads_the_live_instances_once_per_transaction(db):
    """pick_host and still_fits each count every host's live instances and the project's
    among them in one pass (the instances grow with the cloud: each pass costs)."""
    now = jobs.now()
    hosts = [f"once-{x}" for x in "ab"]
    with db.write() as s:
        s.add_all([Host(name=h, capacity=10_000, drained=False, updated_at=now)
                   for h in hosts])
        s.add_all([Instance(id=str(uuid.uuid4()), project_id=project, name="x", host=host,
                            flavor_id="1", image_id=catalog.TENANT_IMAGE, created_at=now,
                            updated_at=now)
                   for project, host, n in (("once-p", hosts[0], 1), ("once-q", hosts[1], 5))
                   for _ in range(n)])
    passes = []

    def seen(conn, cursor, statement, *_):
        if "FROM compute_instances" in statement:
            passes.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.read() as s:
            picked = placement.pick_host(s, 60.0, project_id="once-p")
        assert len(passes) == 1
        with db.write() as s:
            # the project's fewest is on the fuller host; another project's do not count
            assert not placement.still_fits(s, hosts[0], "once-p", spread=True)
            assert placement.still_fits(s, hosts[1], "once-p", spread=True)
        assert len(passes) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        with db.write() as s:
            s.execute(delete(Instance).where(Instance.host.in_(hosts)))
            s.execute(delete(Host).where(Host.name.in_(hosts)))
    assert picked == hosts[1]  # once-p has one on the other, none here


def test_placement_counts_the_live_instances_from_their_index_alone(compute):
    """The count each create makes twice reads the index on (deleted, host, project_id),
    not every live row: it holds all the count reads (SQLite says so in its plan; on
    PostgreSQL the same index allows an index-only scan)."""
    indexes = {ix["name"]: ix["column_names"]
               for ix in inspect(compute.db.engine).get_indexes("compute_instances")}
    assert indexes.get(LIVE_USAGE_INDEX) == ["deleted", "host", "project_id"]
    if compute.db.engine.dialect.name != "sqlite":
        return
    stmt = placement.usage_query("a-project").compile(
        compute.db.engine, compile_kwargs={"literal_binds": True})
    with compute.db.engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {stmt}"))
    assert f"USING COVERING INDEX {LIVE_USAGE_INDEX}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # grouped in the index's order
