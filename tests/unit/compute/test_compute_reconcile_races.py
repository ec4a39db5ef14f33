"""A reconcile pass reads the database, then the host, then repairs one instance after
another: what the compute API did meanwhile wins (SQLite, a fake host)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service import events, jobs
from astara.compute_service.agent import reconcile
from astara.compute_service.agent.backend import FakeBackend, Observed
from astara.compute_service.dispatcher.consumer import apply_event
from astara.compute_service.models import Instance
from astara.db import migrate

IID = "5e1ed4fb-c14c-4b7b-8010-906c05b929a9"


@pytest.fixture
def db(tmp_path):
    database = migrate.open_database(DatabaseSettings(sqlite_url(tmp_path), auto_migrate=True))
    yield database
    database.dispose()


def add_active(db, iid: str = IID, host: str = "a") -> None:
    stamp = jobs.now()
    with db.write() as s:
        s.add(Instance(id=iid, project_id="p", name="ak-r", host=host, flavor_id="f",
                       image_id="i", created_at=stamp, updated_at=stamp, vm_state="active",
                       power_state=1, seq=20, ports=[]))


def ask_delete(db, iid: str = IID) -> None:
    """What the compute API's DELETE writes for a placed server."""
    with db.write() as s:
        row = s.get(Instance, iid)
        row.task_state = "deleting"
        jobs.queue(s, row, "delete")


@dataclass
class Meanwhile(FakeBackend):
    """A host whose look at its instances lets ``during`` happen first (the API's work
    while the pass reads the host)."""

    during: list = field(default_factory=list)

    def observe(self) -> dict[str, Observed]:
        for step in self.during:
            step()
        return super().observe()


def row(db, iid: str = IID) -> Instance:
    with db.read() as s:
        found = s.get(Instance, iid)
        s.expunge(found)
        return found


def test_a_delete_asked_while_the_pass_looks_is_not_overwritten_by_an_error(db, caplog):
    # The appliance's namespace is gone (its processes killed): the pass read the row as
    # active with no job, so it would mark it ERROR; meanwhile the orchestrator asked
    # the delete. The delete must stay pending (its job ends it), not turn into ERROR.
    add_active(db)
    caplog.set_level("INFO")
    out = reconcile.run(db, Meanwhile(during=[lambda: ask_delete(db)]), "a",
                        {"stale", "pending"})
    assert [r["id"] for r in out["stale"]] == [IID]  # decided from the first read
    assert out["fixed"] == [] and out["later"] == [IID]
    after = row(db)
    assert (after.vm_state, after.task_state, after.deleted) == ("active", "deleting", False)
    assert any(f"stale of {IID} left to the next pass: it is active (deleting) now"
               in r.getMessage() for r in caplog.records)


def test_with_nothing_asked_meanwhile_the_stale_instance_is_marked_error(db):
    add_active(db)
    out = reconcile.run(db, Meanwhile(), "a", {"stale"})
    assert out["fixed"] == [IID]
    assert (row(db).vm_state, row(db).task_state) == ("error", None)


def test_an_instance_made_while_the_pass_looks_is_not_torn_down_as_an_orphan(db):
    backend = Meanwhile()

    def made() -> None:  # the API's create and the agent's job, during the host's look
        add_active(db, host="a")
        backend.instances[IID] = Observed(IID, True)

    backend.during.append(made)
    out = reconcile.run(db, backend, "a", {"orphans"})
    assert [r["id"] for r in out["orphans"]] == [IID]
    assert out["fixed"] == [] and ("delete", IID) not in backend.actions
    assert IID in backend.instances


def test_an_orphan_still_unknown_is_torn_down(db):
    backend = FakeBackend(instances={IID: Observed(IID, True)})
    out = reconcile.run(db, backend, "a", {"orphans"})
    assert out["fixed"] == [IID] and ("delete", IID) in backend.actions


def test_a_job_asked_while_the_pass_looks_leaves_the_repair_to_the_next_pass(db):
    add_active(db)

    def start_asked() -> None:  # e.g. a start: the row unchanged until the job runs
        with db.write() as s:
            jobs.queue(s, s.get(Instance, IID), "start")

    out = reconcile.run(db, Meanwhile(during=[start_asked]), "a", {"stale"})
    assert out["fixed"] == [] and out["later"] == [IID]
    assert row(db).vm_state == "active"


@pytest.mark.parametrize("applied_to, repaired", [(1, False), (2, True)])
def test_a_repair_waits_for_the_end_of_the_last_job(db, applied_to, repaired):
    """The last job finished past the grace, but its end event is not applied yet (a
    dispatcher's failover delays it): the repair's event would take its number."""
    add_active(db)
    with db.write() as s:
        job = jobs.queue(s, s.get(Instance, IID), "stop", status=jobs.DONE)
        s.get(Instance, IID).seq = jobs.seq(job.id, applied_to)
    out = reconcile.run(db, Meanwhile(), "a", {"stale"}, grace=0.0)
    assert out["fixed"] == ([IID] if repaired else [])
    assert out["later"] == ([] if repaired else [IID])


def test_a_delete_end_dropped_on_a_live_instance_is_a_warning(db, caplog):
    add_active(db)  # seq 20
    late = events.parse(events.build("delete.end", {"id": IID, "project_id": "p"}, 19, "a",
                                     {}))
    with caplog.at_level("DEBUG", logger="astara.compute_service.dispatcher.consumer"):
        with db.write() as s:
            apply_event(s, late)
        with db.write() as s:  # deleted now: a redelivery is no news
            s.get(Instance, IID).deleted = True
        with db.write() as s:
            apply_event(s, late)
    levels = [(r.levelname, "delete.end seq 19" in r.getMessage()) for r in caplog.records
              if r.name == "astara.compute_service.dispatcher.consumer"]
    assert levels == [("WARNING", True), ("DEBUG", True)]
