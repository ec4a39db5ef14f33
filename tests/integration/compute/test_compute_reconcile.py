"""reconcile-servers over a real database with the fake backend: report, then repair."""

from __future__ import annotations

import uuid

from astara.cli.compute_manage import reconcile_servers
from astara.compute_service import jobs
from astara.compute_service.agent.backend import FakeBackend, InstanceSpec
from astara.compute_service.models import Instance, QuotaUsage


def add(db, vm="active", task=None, power=1, seq=12) -> str:
    iid = str(uuid.uuid4())
    stamp = jobs.now()
    with db.write() as s:
        s.add(Instance(id=iid, project_id="p", name="vm", host="h1", flavor_id="1",
                       image_id="i", created_at=stamp, updated_at=stamp, ports=[],
                       metadata_={}, vm_state=vm, task_state=task, power_state=power, seq=seq))
        usage = s.get(QuotaUsage, "p")
        if usage is None:
            s.add(QuotaUsage(project_id="p", instances=1))
        else:
            usage.instances += 1
    return iid


def state(db, iid):
    with db.read() as s:
        r = s.get(Instance, iid)
        return r.vm_state, r.task_state, r.power_state, r.deleted, r.seq


def test_report_then_repair_each_kind(db):
    backend = FakeBackend()
    ok = add(db)
    stale = add(db)
    unsynced = add(db)
    pending = add(db, task="deleting")
    for iid in (ok, unsynced):
        backend.create(InstanceSpec(iid, "vm", "tenant"))
    backend.stop(InstanceSpec(unsynced, "vm", "tenant"))
    backend.create(InstanceSpec("orphan-1", "x", "tenant"))
    backend.actions.clear()

    report = reconcile_servers(db, backend, "h1", set(), grace=0)
    assert [r["id"] for r in report["stale"]] == [stale]
    assert [r["id"] for r in report["unsynced"]] == [unsynced]
    assert [r["id"] for r in report["pending"]] == [pending]
    assert [r["id"] for r in report["orphans"]] == ["orphan-1"]
    assert report["fixed"] == [] and backend.actions == []  # dry run by default
    assert state(db, stale)[0] == "active"

    report = reconcile_servers(db, backend, "h1", {"stale", "unsynced"}, grace=0)
    assert sorted(report["fixed"]) == sorted([stale, unsynced])
    assert state(db, stale) == ("error", None, 0, False, 13)
    assert state(db, unsynced) == ("stopped", None, 4, False, 13)
    assert state(db, pending)[1] == "deleting"
    assert "orphan-1" in backend.instances

    report = reconcile_servers(db, backend, "h1", {"pending", "orphans"}, grace=0)
    assert sorted(report["fixed"]) == sorted([pending, "orphan-1"])
    assert state(db, pending)[3] is True  # delete.end: through apply_event, quota given back
    with db.read() as s:
        assert s.get(QuotaUsage, "p").instances == 3
    assert "orphan-1" not in backend.instances
    assert state(db, ok) == ("active", None, 1, False, 12)

    again = reconcile_servers(db, backend, "h1", {"stale", "orphans", "unsynced", "pending"},
                              grace=0)
    assert again["fixed"] == [] and not any(again[k] for k in ("stale", "orphans",
                                                               "unsynced", "pending"))


def test_instances_with_a_job_in_flight_are_left_alone(db):
    backend = FakeBackend()
    iid = add(db, task="powering-off")
    with db.write() as s:
        jobs.queue(s, s.get(Instance, iid), "stop")
    report = reconcile_servers(db, backend, "h1", {"stale", "pending"}, grace=0)
    assert report["pending"] == [] and report["stale"] == [] and report["fixed"] == []


def test_a_port_that_lost_its_interface_is_plugged_again(db):
    backend = FakeBackend()
    iid = add(db)
    ports = [{"port_id": "p1", "net_id": "n1", "mac_address": "fa:16:3e:00:00:01"},
             {"port_id": "p2", "net_id": "n1", "mac_address": "fa:16:3e:00:00:02"}]
    with db.write() as s:
        s.get(Instance, iid).ports = ports
    spec = InstanceSpec(iid, "vm", "tenant", tuple(ports))
    backend.create(spec)
    backend.detach(spec, ports[1])  # the interface vanished behind the agent's back
    backend.actions.clear()

    report = reconcile_servers(db, backend, "h1", set(), grace=0)
    assert report["ports"] == [{"id": iid, "detail": "not plugged: p2", "event": None}]
    assert backend.actions == []

    report = reconcile_servers(db, backend, "h1", {"ports"}, grace=0)
    assert report["fixed"] == [iid] and backend.actions == [("attach", iid)]
    assert backend.instances[iid].ports == ("fa:16:3e:00:00:01", "fa:16:3e:00:00:02")
    assert state(db, iid) == ("active", None, 1, False, 12)  # the database is not touched
    assert reconcile_servers(db, backend, "h1", {"ports"}, grace=0)["ports"] == []


def test_a_dead_process_of_a_running_instance_is_started_again(db):
    from astara.compute_service.agent.backend import Observed

    backend = FakeBackend()
    iid = add(db)
    backend.create(InstanceSpec(iid, "vm", "tenant"))
    backend.instances[iid] = Observed(iid, True, (), "tenant", ("dhclient-eth0",))
    backend.actions.clear()
    report = reconcile_servers(db, backend, "h1", {"processes"}, grace=0)
    assert report["processes"] == [{"id": iid, "detail": "not running: dhclient-eth0",
                                    "event": None}]
    assert report["fixed"] == [iid] and backend.actions == [("start", iid)]
    assert backend.instances[iid].missing == ()
    assert state(db, iid) == ("active", None, 1, False, 12)


def test_a_repair_that_fails_does_not_stop_the_others(db):
    from astara.compute_service.agent.backend import Observed

    backend = FakeBackend()
    broken, fine = add(db), add(db)
    for iid in (broken, fine):
        backend.create(InstanceSpec(iid, "vm", "tenant"))
        backend.instances[iid] = Observed(iid, True, (), "tenant", ("dhclient-eth0",))
    backend.fail = {"start"}
    report = reconcile_servers(db, backend, "h1", {"processes"}, grace=0)
    assert report["fixed"] == []  # both tried, both failed, the pass went through
    assert [a for a in backend.actions if a[0] == "start"] == \
        [("start", i) for i in sorted((broken, fine))]
    backend.fail = set()
    report = reconcile_servers(db, backend, "h1", {"processes"}, grace=0)
    assert sorted(report["fixed"]) == sorted((broken, fine))


def test_progress_names_the_phases_and_counts_the_repairs_asked_for(db):
    from astara.common.progress import Recorded

    backend = FakeBackend()
    stale = add(db)
    backend.create(InstanceSpec("orphan-2", "x", "tenant"))
    seen = Recorded()
    report = reconcile_servers(db, backend, "h1", {"stale"}, grace=0, shown=seen)
    assert report["fixed"] == [stale]
    assert seen.events == [("phase", "reading the database and this host's instances", None),
                           ("phase", "repairing", 1), ("now", f"stale {stale}"),
                           ("advance", 1)]  # the orphan is reported, not repaired
