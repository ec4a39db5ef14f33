"""``reconcile-servers``: compare this host's instances in the database with the backend.

``decide`` is pure: from the stored rows, what the backend observes and the
instances that have a job in flight, it lists the ``Repair``s, one per drifted
instance, in six kinds (after Synnefo's ``snf-manage reconcile-servers``):

- ``stale``: stored, not on the host, no job: deleting -> ``delete.end``, else ERROR;
- ``orphan``: on the host under our prefixes, not stored (or deleted): removed; one
  stored live for another host is that host's (two agents on one machine: the
  all-in-one's ``--compute-hosts``), never an orphan;
- ``unsynced``: stored and on the host, running or not against the stored power
  state: the database follows the host (``update`` event);
- ``pending``: a task is set but no job will ever finish it: the task is cleared
  with the observed state (or ``delete.end``/ERROR when the namespace is gone);
- ``ports``: stored and on the host, but a stored port is not plugged (its MAC is
  missing), is plugged without the anti-spoofing filter its port security asks
  for, or is an appliance's management port whose neighbour entries are not pinned
  (``neighbours``): re-plugged through the backend's idempotent ``attach`` (which
  reloads the filter and the pins); interfaces the database does not know are
  reported, never removed;
- ``processes``: running, but one of its profile's processes died (a DHCP client):
  started again through the backend's idempotent ``start``.

``apply`` repairs the database by replaying a simulated event through the
dispatcher's own ``apply_event`` (sequence = stored + 1, in one locked transaction)
and orphans and ports through the backend. Instances with a job in flight are left
alone; pinned neighbours naming no plugged interface, and VXLAN flood entries that
differ from the hosts with ports on each network, go with the ``ports`` repairs, as
do the vxlan devices of tunnelled networks with ports here (``ensure_tunnels``: a
bridge made before the tunnel address was set has none).
``run`` is one whole pass: the ``reconcile-servers`` command and the agent's
periodic light reconcile both call it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from astara.common.progress import SILENT, Progress
from astara.compute_service import catalog, events, jobs, transitions
from astara.compute_service.agent import antispoof, neighbours
from astara.compute_service.agent.backend import Backend, BackendError, InstanceSpec, Observed
from astara.compute_service.dispatcher.consumer import apply_event
from astara.compute_service.models import Instance, Job
from astara.compute_service.transitions import NOSTATE, RUNNING, SHUTDOWN
from astara.db.engine import Database

LOG = logging.getLogger(__name__)
KINDS = ("stale", "orphans", "unsynced", "pending", "ports", "processes")
# Seconds a finished job still counts as in flight (its events may be on their way).
GRACE = 10.0
# Seconds the end event of an instance's last job is waited for before a repair takes
# the next sequence number anyway (taken for lost: a dispatcher's failover, with its
# 10 s lease, delays it less).
END_WAIT = 60.0


@dataclass(frozen=True)
class Stored:
    id: str
    vm_state: str
    task_state: str | None
    power_state: int
    deleted: bool = False
    profile: str = "tenant"
    ports: tuple[dict, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Repair:
    kind: str  # one of KINDS
    instance_id: str
    action: str | None  # the simulated event, or None for an orphan (backend delete)
    payload: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    teardown: bool = False  # remove it from the host first (orphans, unfinished deletes)
    replug: tuple[dict, ...] = ()  # stored ports to plug again (kind "ports")
    restart: bool = False  # start what is missing (kind "processes")


def _observed_update(seen: Observed) -> tuple[str, dict]:
    running = seen.running
    return "update", {"state": "active" if running else "stopped",
                      "power_state": RUNNING if running else SHUTDOWN, "new_task_state": None}


ERROR = ("update", {"state": "error", "power_state": NOSTATE, "new_task_state": None})


def _mac(value: str) -> str:
    return value.lower()


def _port_drift(inst: Stored, seen: Observed) -> Repair | None:
    plugged = {_mac(m) for m in seen.ports}
    missing = tuple(p for p in inst.ports if _mac(p.get("mac_address", "")) not in plugged)
    stored = {_mac(p.get("mac_address", "")) for p in inst.ports}
    unknown = sorted(m for m in plugged if m not in stored)
    unfiltered: tuple[dict, ...] = ()
    if seen.filtered is not None:
        guarded = {_mac(m) for m in seen.filtered}
        unfiltered = tuple(p for p in inst.ports if p not in missing
                           and antispoof.wanted(p, inst.profile)
                           and _mac(p.get("mac_address", "")) not in guarded)
    unpinned: tuple[dict, ...] = ()
    # a stopped instance's links are down, so its pins are always missing: not drift
    if seen.pinned is not None and seen.running:
        pinned = set(seen.pinned)
        unpinned = tuple(p for p in inst.ports if p not in missing
                         and not neighbours.wanted(p, inst.profile) <= pinned)
    if not missing and not unknown and not unfiltered and not unpinned:
        return None
    parts = []
    if missing:
        parts.append("not plugged: " + ", ".join(p["port_id"] for p in missing))
    if unfiltered:
        parts.append("no anti-spoofing filter: " + ", ".join(p["port_id"] for p in unfiltered))
    if unpinned:
        parts.append("management neighbours not pinned: "
                     + ", ".join(p["port_id"] for p in unpinned))
    if unknown:
        parts.append("interfaces the database does not know: " + ", ".join(unknown))
    replug = missing + unfiltered + tuple(p for p in unpinned if p not in unfiltered)
    return Repair("ports", inst.id, None, {}, "; ".join(parts), replug=replug)


def decide(stored: list[Stored], observed: dict[str, Observed], busy: set[str],
           elsewhere: frozenset[str] = frozenset()) -> list[Repair]:
    """The repairs (a port the compute API marked as an appliance's management port gets
    pinned neighbours); ``elsewhere``: instances stored live for other hosts (seen here,
    but not ours)."""
    out: list[Repair] = []
    live = {s.id: s for s in stored if not s.deleted}
    for inst in sorted(live.values(), key=lambda s: s.id):
        if inst.id in busy or inst.vm_state == "error" and inst.task_state is None \
                and inst.id not in observed:
            continue
        seen = observed.get(inst.id)
        if inst.task_state is not None:
            if seen is None:
                action, payload = ("delete.end", {}) if inst.task_state == "deleting" \
                    else ERROR
            elif inst.task_state == "deleting":
                action, payload = "delete.end", {}
            else:
                action, payload = _observed_update(seen)
            out.append(Repair("pending", inst.id, action, payload,
                              f"task {inst.task_state} with no job",
                              teardown=seen is not None and action == "delete.end"))
        elif seen is None:
            if inst.vm_state in ("active", "stopped", "building"):
                out.append(Repair("stale", inst.id, *ERROR,
                                  detail=f"{inst.vm_state} but not on this host"))
        elif seen.running != (inst.power_state == RUNNING) and \
                inst.vm_state in ("active", "stopped"):
            action, payload = _observed_update(seen)
            out.append(Repair("unsynced", inst.id, action, payload,
                              f"stored power {inst.power_state}, host running={seen.running}"))
        elif inst.vm_state in ("active", "stopped") and \
                (drift := _port_drift(inst, seen)):
            out.append(drift)
        elif inst.vm_state == "active" and seen.running and seen.missing:
            out.append(Repair("processes", inst.id, None, {},
                              "not running: " + ", ".join(seen.missing), restart=True))
    for iid in sorted(set(observed) - set(live) - busy - elsewhere):
        out.append(Repair("orphans", iid, None, {}, "on this host, not in the database",
                          teardown=True))
    return out


def load(db: Database, host: str, grace: float = GRACE) -> tuple[list[Stored], set[str]]:
    """This host's rows (deleted ones too: their ports name an orphan's links) and busy ids
    (``elsewhere`` says what other hosts hold).

    A job finished less than ``grace`` seconds ago still counts as in flight: its
    event may not have reached the dispatcher yet.
    """
    recent = jobs.now() - timedelta(seconds=grace)
    with db.read() as s:
        rows = s.scalars(select(Instance).where(Instance.host == host)).all()
        stored = [Stored(r.id, r.vm_state, r.task_state, r.power_state, r.deleted,
                         _profile(r.image_id), tuple(r.ports or ()), r.name) for r in rows]
        busy = set(s.scalars(select(Job.instance_id).where(
            Job.host == host, or_(Job.status.in_((jobs.PENDING, jobs.RUNNING)),
                                  Job.updated_at >= recent))))
    return stored, busy


def elsewhere(db: Database, host: str, ids: set[str]) -> frozenset[str]:
    """Of ``ids`` (namespaces this agent sees), those stored live for another host."""
    if not ids:
        return frozenset()
    with db.read() as s:
        return frozenset(s.scalars(select(Instance.id).where(
            Instance.id.in_(sorted(ids)), Instance.host != host,
            Instance.deleted.is_(False))))


def _profile(image_id: str) -> str:
    image = catalog.IMAGES.get(image_id)
    return image.profile if image else "tenant"


def changed(s: Session, rep: Repair, known: Stored | None, grace: float = GRACE,
            lock: bool = False) -> str | None:
    """Why ``rep``, decided from what ``load`` read, no longer holds (read in session
    ``s``), or None. A pass reads the database, then the host, then repairs one instance
    after another: meanwhile the compute API may have asked a delete (its job then runs
    here) or made an instance, whose namespace the look at the host saw."""
    query = select(Instance).where(Instance.id == rep.instance_id)
    row = s.scalar(query.with_for_update() if lock else query)
    if rep.kind == "orphans":
        if row is not None and not row.deleted:
            return "it is stored now"
    elif row is None or known is None:
        return "its row is gone"
    elif (row.vm_state, row.task_state, row.deleted) != \
            (known.vm_state, known.task_state, known.deleted):
        return f"it is {row.vm_state} ({row.task_state or 'no task'}) now"
    recent = jobs.now() - timedelta(seconds=grace)
    if s.scalar(select(Job.id).where(
            Job.instance_id == rep.instance_id,
            or_(Job.status.in_((jobs.PENDING, jobs.RUNNING)), Job.updated_at >= recent))
            .limit(1)) is not None:
        return "a job of it is in flight"
    if row is not None and not row.deleted:
        # A replayed event takes the next sequence number: the one the last job's end
        # carries if that end is still on its way (a dispatcher's failover delays it).
        last = s.execute(select(Job.id, Job.updated_at).where(
            Job.instance_id == rep.instance_id, Job.op != jobs.VIF_PLUGGED)
            .order_by(Job.id.desc()).limit(1)).first()
        if last is not None and row.seq < jobs.seq(last.id, 2) \
                and last.updated_at >= jobs.now() - timedelta(seconds=END_WAIT):
            return "the end of its last job is not applied yet"
    return None


def replay(db: Database, rep: Repair, known: Stored | None, host: str,
           grace: float = GRACE) -> bool | None:
    """Apply ``rep``'s simulated event through the dispatcher's function, in one
    transaction with the check that the instance is still as it was read (its row
    locked: a delete asked meanwhile waits for it or is seen): True if applied, False
    if the dispatcher dropped it, None if it was left to the next pass (logged)."""
    assert rep.action is not None
    with db.write() as s:
        why = changed(s, rep, known, grace, lock=True)
        if why is not None:
            _left(rep, why)
            return None
        row = s.get(Instance, rep.instance_id)
        assert row is not None  # changed() said so
        body = events.build(rep.action, {"id": rep.instance_id, "project_id": row.project_id},
                            row.seq + 1, host, rep.payload)
        return isinstance(apply_event(s, events.parse(body)), transitions.Applied)


def _left(rep: Repair, why: str) -> None:
    LOG.info("reconcile: %s of %s left to the next pass: %s", rep.kind, rep.instance_id, why)


def _still(db: Database | None, rep: Repair, known: Stored | None, grace: float) -> bool:
    """Before a repair on the host (a teardown, a replug, a restart): does it still hold?"""
    if db is None:  # the backend alone (a lab): nothing to look at again
        return True
    with db.read() as s:
        why = changed(s, rep, known, grace)
    if why is not None:
        _left(rep, why)
    return why is None


def apply(db: Database | None, backend: Backend, host: str, repairs: list[Repair],
          stored: list[Stored], observed: dict[str, Observed], fix: set[str],
          progress: Progress = SILENT, grace: float = GRACE,
          later: list[str] | None = None) -> list[str]:
    """Carry out the repairs whose kind is in ``fix``; return the ids repaired. Those
    that no longer held when their turn came are appended to ``later``."""
    by_id = {s.id: s for s in stored}
    done: list[str] = []
    later = [] if later is None else later
    wanted = [rep for rep in repairs if rep.kind in fix]
    progress.phase("repairing", len(wanted))
    for rep in wanted:
        progress.now(f"{rep.kind} {rep.instance_id}")
        _repair(db, backend, host, rep, by_id, observed, done, later, grace)
        progress.advance()
    return done


def _repair(db: Database | None, backend: Backend, host: str, rep: Repair,
            by_id: dict[str, Stored], observed: dict[str, Observed], done: list[str],
            later: list[str], grace: float) -> None:
    """One repair; its instance id appended to ``done`` when it is repaired, to
    ``later`` when it no longer held."""
    on_host = rep.replug or rep.restart or rep.teardown
    if on_host and not _still(db, rep, by_id.get(rep.instance_id), grace):
        later.append(rep.instance_id)
        return
    if rep.replug or rep.restart:
        known = by_id[rep.instance_id]
        spec = InstanceSpec(rep.instance_id, known.name, known.profile, known.ports)
        try:
            for port in rep.replug:
                backend.attach(spec, port)
            if rep.restart:
                backend.start(spec)
        except BackendError as exc:  # one instance's failure does not stop the pass
            LOG.warning("reconcile: %s of %s failed: %s", rep.kind, rep.instance_id, exc)
            return
    if rep.teardown:
        known = by_id.get(rep.instance_id)
        seen = observed.get(rep.instance_id)
        backend.delete(InstanceSpec(rep.instance_id, "",
                                    seen.profile if seen else "tenant",
                                    known.ports if known else ()))
    if rep.action is None:
        done.append(rep.instance_id)
        return
    assert db is not None  # an event is replayed only with a database
    applied = replay(db, rep, by_id.get(rep.instance_id), host, grace)
    if applied:
        done.append(rep.instance_id)
    elif applied is None:
        later.append(rep.instance_id)


def run(db: Database, backend: Backend, host: str, fix: set[str],
        grace: float = GRACE, progress: Progress = SILENT) -> dict:
    """One reconcile pass over this host: the report by kind, the ids repaired
    (``fixed``) and those left to the next pass because they changed meanwhile
    (``later``); ``progress`` told the phases and each repair."""
    progress.phase("reading the database and this host's instances")
    stored, busy = load(db, host, grace)
    observed = backend.observe()
    others = elsewhere(db, host, set(observed) - {s.id for s in stored if not s.deleted})
    repairs = decide(stored, observed, busy, others)
    out: dict = {kind: [{"id": r.instance_id, "detail": r.detail, "event": r.action}
                        for r in repairs if r.kind == kind] for kind in KINDS}
    out["looked_at"] = {"stored": sum(1 for s in stored if not s.deleted),
                        "on_host": len(observed)}
    out["later"] = []
    out["fixed"] = apply(db, backend, host, repairs, stored, observed, fix, progress, grace,
                         out["later"])
    if "orphans" in fix and hasattr(backend, "sweep_bridges"):
        out["bridges_removed"] = backend.sweep_bridges()
    if "orphans" in fix and hasattr(backend, "sweep_filters"):
        out["filters_removed"] = backend.sweep_filters()
    if "ports" in fix and hasattr(backend, "sweep_pins"):
        out["pins_removed"] = backend.sweep_pins(observed)
    if "ports" in fix and hasattr(backend, "ensure_tunnels"):
        out["tunnel_devices"] = backend.ensure_tunnels(
            [p for s in stored if not s.deleted for p in s.ports if isinstance(p, dict)])
    if "ports" in fix and hasattr(backend, "sync_tunnels"):
        try:
            out["flood_entries"] = backend.sync_tunnels()
        except BackendError as exc:  # the repairs above are reported all the same
            LOG.warning("reconcile: %s", exc)
            out["flood_entries_error"] = str(exc)
    return out
