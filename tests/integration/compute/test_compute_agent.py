"""The agent over a real database with the fake backend: order, failures, restart."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import jobs
from astara.compute_service.agent.backend import FakeBackend
from astara.compute_service.agent.worker import Agent
from astara.compute_service.dispatcher import consumer as dispatcher
from astara.compute_service.models import Instance, Job
from astara.compute_service.settings import default_retry_policy


def make_agent(db, tmp_path, backend) -> Agent:
    return Agent(db, backend, "h1", OutboxPublisher(), WakeupDir(tmp_path / "jobs"))


def instance_with_jobs(db, *ops: str) -> str:
    iid = str(uuid.uuid4())
    stamp = jobs.now()
    with db.write() as s:
        row = Instance(id=iid, project_id="p", name="vm", host="h1", flavor_id="1",
                       image_id="i", created_at=stamp, updated_at=stamp, ports=[],
                       metadata_={}, task_state="scheduling")
        s.add(row)
        s.flush()
        for op in ops:
            jobs.queue(s, row, op)
    return iid


def state(db, iid):
    d = dispatcher.make(db, None, 0.05, default_retry_policy())
    try:
        d.drain()
    finally:
        d.consumer.close()
        if d.lease is not None:  # the next look's dispatcher takes it at once
            d.lease.release()
    with db.read() as s:
        row = s.get(Instance, iid)
        return row.vm_state, row.task_state, row.power_state, row.deleted


def test_jobs_of_one_instance_run_in_order(db, tmp_path):
    backend = FakeBackend()
    agent = make_agent(db, tmp_path, backend)
    iid = instance_with_jobs(db, "create", "stop", "start", "delete")
    assert [j.op for j in agent.claim(10)] == ["create"]  # one in flight per instance
    assert agent.claim(10) == []
    agent._busy.clear()
    with db.write() as s:
        s.get(Job, 1).status = jobs.PENDING
    assert agent.run_pending() == 4
    assert [op for op, _ in backend.actions] == ["create", "stop", "start", "delete"]
    assert state(db, iid) == ("deleted", None, 0, True)


def test_a_failed_job_records_a_fault(db, tmp_path):
    backend = FakeBackend(fail={"create"})
    agent = make_agent(db, tmp_path, backend)
    iid = instance_with_jobs(db, "create")
    agent.run_pending()
    assert state(db, iid)[:3] == ("error", None, 0)
    with db.read() as s:
        job = s.scalars(select(Job)).one()
        assert job.status == jobs.FAILED and "create failed" in job.log
        assert s.get(Instance, iid).fault["message"] == "create failed (fake)"


def test_restart_re_runs_interrupted_jobs_without_double_events(db, tmp_path):
    backend = FakeBackend()
    iid = instance_with_jobs(db, "create")
    first = make_agent(db, tmp_path, backend)
    first.claim(1)  # the agent dies after claiming (create.start published)
    assert state(db, iid)[:2] == ("building", "spawning")
    second = make_agent(db, tmp_path, backend)
    assert second.recover() == 1
    assert second.run_pending() == 1
    assert state(db, iid) == ("active", None, 1, False)


def test_a_vif_plugged_job_changes_no_instance_state_even_when_it_fails(db, tmp_path):
    backend = FakeBackend(fail={"link_up"})
    agent = make_agent(db, tmp_path, backend)
    iid = instance_with_jobs(db, "create", jobs.VIF_PLUGGED)
    assert agent.run_pending() == 2
    assert [op for op, _ in backend.actions] == ["create", "link_up"]
    assert state(db, iid) == ("active", None, 1, False)  # no error event published
    with db.read() as s:
        done = {j.op: (j.status, j.log) for j in s.scalars(select(Job))}
    assert done[jobs.VIF_PLUGGED][0] == jobs.FAILED
    assert "link_up failed" in done[jobs.VIF_PLUGGED][1]


def test_a_vif_plugged_job_for_an_instance_already_gone_is_done(db, tmp_path):
    backend = FakeBackend()
    agent = make_agent(db, tmp_path, backend)
    iid = instance_with_jobs(db, "create", "delete", jobs.VIF_PLUGGED)
    assert agent.run_pending() == 3
    assert state(db, iid) == ("deleted", None, 0, True)
    with db.read() as s:
        job = s.scalars(select(Job).where(Job.op == jobs.VIF_PLUGGED)).one()
        assert (job.status, job.log) == (jobs.DONE, "not on this host")
