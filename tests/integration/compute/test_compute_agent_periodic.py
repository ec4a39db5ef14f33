"""The agent's own periodic work: heartbeats that placement trusts, and the light
reconcile that repairs drift by itself (and only reports orphans)."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

from tests.support import wait_for

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import jobs
from astara.compute_service.agent.backend import FakeBackend, InstanceSpec
from astara.compute_service.agent.worker import Agent
from astara.compute_service.api import placement
from astara.compute_service.models import Host, Instance


def add(db, host="h1", vm="active", power=1) -> str:
    iid = str(uuid.uuid4())
    stamp = jobs.now()
    with db.write() as s:
        s.add(Instance(id=iid, project_id="p", name="vm", host=host, flavor_id="1",
                       image_id="i", created_at=stamp, updated_at=stamp, ports=[],
                       metadata_={}, vm_state=vm, task_state=None, power_state=power, seq=12))
    return iid


def agent_for(db, tmp_path, backend, **kw) -> Agent:
    wake = WakeupDir(tmp_path / "bus")
    return Agent(db, backend, "h1", OutboxPublisher(wake), WakeupDir(tmp_path / "jobs"),
                 idle_wait=0.2, **kw)


def running_agent(agent):
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop.is_set,), daemon=True)
    thread.start()
    return stop, thread


def beat_of(db, host="h1"):
    with db.read() as s:
        return s.get(Host, host).updated_at


def test_placement_skips_a_host_whose_agent_stopped_beating(db, tmp_path):
    for name in ("h1", "h2"):
        agent = agent_for(db, tmp_path, FakeBackend())
        agent.host = name
        agent.register()
    with db.write() as s:
        s.get(Host, "h2").capacity = 500  # h2 would be preferred...
        s.get(Host, "h2").updated_at = jobs.now() - timedelta(seconds=120)  # ...but is dead
    with db.read() as s:
        assert placement.pick_host(s, down_after=60) == "h1"
        assert placement.pick_host(s, down_after=300) == "h2"
    with db.write() as s:
        s.get(Host, "h1").updated_at = jobs.now() - timedelta(seconds=120)
    with db.read() as s:
        assert placement.pick_host(s, down_after=60) is None


def test_a_running_agent_beats(db, tmp_path):
    agent = agent_for(db, tmp_path, FakeBackend(), heartbeat_interval=0.2)
    agent.register()
    with db.write() as s:
        s.get(Host, "h1").updated_at = jobs.now() - timedelta(seconds=120)
    old = beat_of(db)
    stop, thread = running_agent(agent)
    try:
        wait_for(lambda: beat_of(db) > old + timedelta(seconds=100))
        with db.read() as s:
            assert placement.pick_host(s, down_after=60) == "h1"
    finally:
        stop.set()
        thread.join(10)


def test_periodic_reconcile_repairs_drift_and_leaves_orphans(db, tmp_path):
    backend = FakeBackend()
    stopped_behind_our_back = add(db)
    gone = add(db)
    backend.create(InstanceSpec(stopped_behind_our_back, "vm", "tenant"))
    backend.stop(InstanceSpec(stopped_behind_our_back, "vm", "tenant"))
    backend.create(InstanceSpec("orphan-1", "x", "tenant"))
    agent = agent_for(db, tmp_path, backend, reconcile_interval=0.2)

    def states():
        with db.read() as s:
            return (s.get(Instance, stopped_behind_our_back).vm_state,
                    s.get(Instance, gone).vm_state)

    stop, thread = running_agent(agent)
    try:
        wait_for(lambda: states() == ("stopped", "error"))
    finally:
        stop.set()
        thread.join(10)
    assert "orphan-1" in backend.instances  # reported, never removed by the light pass
    assert ("delete", "orphan-1") not in backend.actions


def test_each_periodic_pass_says_what_it_looked_at_and_how_long_it_took(db, tmp_path, caplog):
    backend = FakeBackend()
    add(db)  # stale: nothing on the host
    backend.create(InstanceSpec("orphan-1", "x", "tenant"))
    agent = agent_for(db, tmp_path, backend)
    with caplog.at_level("INFO", logger="astara.compute_service.agent.worker"):
        report = agent.reconcile_pass()
    assert report["looked_at"] == {"stored": 1, "on_host": 1}
    [line] = [r.getMessage() for r in caplog.records if "reconcile pass" in r.getMessage()]
    assert re.fullmatch(r"reconcile pass of h1: 1 instances stored, 1 on the host, "
                        r"1 repaired, in \d+\.\d\d s", line), line


def test_periodic_reconcile_is_off_by_default_and_a_failing_pass_is_survived(db, tmp_path):
    backend = FakeBackend()
    iid = add(db)  # stale: nothing on the host
    agent = agent_for(db, tmp_path, backend)
    assert agent.reconcile_interval == 0

    class Broken(FakeBackend):
        def observe(self):
            raise RuntimeError("observe failed")

    broken = agent_for(db, tmp_path, Broken())
    assert broken.reconcile_pass() == {}  # logged, not raised
    with db.read() as s:
        assert s.get(Instance, iid).vm_state == "active"


def test_a_long_reconcile_pass_holds_up_neither_heartbeats_nor_jobs(db, tmp_path):
    release, entered = threading.Event(), threading.Event()

    class Slow(FakeBackend):
        def observe(self):  # a reconcile over thousands of instances
            entered.set()
            release.wait(30)
            return super().observe()

    agent = agent_for(db, tmp_path, Slow(), heartbeat_interval=0.2, reconcile_interval=0.2)
    stop, thread = running_agent(agent)
    try:
        assert entered.wait(10), "no reconcile pass started"
        during = beat_of(db)
        wait_for(lambda: beat_of(db) > during, 10,
                 "a heartbeat while the reconcile pass is still running")
        assert not release.is_set()
    finally:
        release.set()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
