"""Shared helpers of the resource modules: the operation, clock, ids, lookups, statuses.

Lookups answer as Octavia's policy does: an id that does not exist is a 404 in
Octavia's words, another project's object a 403. ``intent_changed`` is the one rule
of provisioning status here: the API records intent (``PENDING_CREATE`` until the
orchestrator first builds an object, ``PENDING_UPDATE`` after a change) and never
refuses a change because an object is pending.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, inspect, select, text
from sqlalchemy.orm import Session

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.notifier import LoadBalancerNotifier
from astara.loadbalancer_service.settings import LoadBalancerSettings

PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"


@dataclass
class Op:
    session: Session
    ctx: RequestContext
    notifier: LoadBalancerNotifier
    settings: LoadBalancerSettings


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


def new_row(model, project_id: str, operating_status: str = "OFFLINE", **values):
    return model(id=new_id(), project_id=project_id, provisioning_status=PENDING_CREATE,
                 operating_status=operating_status, created_at=now(), updated_at=None,
                 **values)


def next_status(current: str) -> str:
    """What a change makes of a provisioning status: an object not yet built stays
    PENDING_CREATE (the orchestrator builds the latest intent), any other is
    PENDING_UPDATE."""
    return PENDING_CREATE if current == PENDING_CREATE else PENDING_UPDATE


def intent_changed(row) -> None:
    """A stored row's next status is decided in SQL, on the row as the UPDATE finds it:
    a child is read before its load balancer is locked, so a status report committed
    in between (PostgreSQL) would otherwise be overwritten from a stale value, or kept
    when the stale value equalled the next one (the ORM writes no unchanged column)."""
    if inspect(row).persistent:
        column = type(row).provisioning_status
        row.provisioning_status = case((column == PENDING_CREATE, PENDING_CREATE),
                                       else_=PENDING_UPDATE)
    else:
        row.provisioning_status = next_status(row.provisioning_status)
    row.updated_at = now()


def set_values(row, data: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in data:
            setattr(row, key, data[key])


def get(s: Session, ctx: RequestContext, kind: str, model, id_: str, lock: bool = False):
    """The row, or 404 if there is none, or 403 if it is another project's."""
    stmt = select(model).where(model.id == id_)
    if lock:
        stmt = stmt.with_for_update()
    row = s.scalar(stmt)
    if row is None:
        raise errors.not_found(kind, id_)
    ctx.require_owner(row.project_id, kind, id_)
    return row


def parent(s: Session, model, id_: str, lock: bool = True):
    """The row ``id_`` a child names, locked (the write's order: parent first); gone
    meanwhile (a concurrent delete) is a conflict to retry, never a 500."""
    row = s.get(model, id_, with_for_update=lock or None)
    if row is None:
        raise errors.Conflict("The object was changed by a concurrent request; retry it.")
    return row


def loadbalancer_of(s: Session, row) -> m.LoadBalancer:
    if isinstance(row, m.LoadBalancer):
        return row
    if isinstance(row, m.Listener | m.Pool):
        return parent(s, m.LoadBalancer, row.loadbalancer_id)
    pool = parent(s, m.Pool, row.pool_id, lock=False)
    return parent(s, m.LoadBalancer, pool.loadbalancer_id)


def touch_loadbalancer(op: Op, lb: m.LoadBalancer) -> None:
    """The load balancer or a child changed: new intent to converge to, a new revision
    (incremented in SQL, so two writers never both write the same next number)."""
    intent_changed(lb)
    lb.revision = m.LoadBalancer.revision + 1


def with_defaults(data: dict, defaults: tuple[tuple[str, object], ...]) -> dict:
    """``data`` with an explicit null replaced by the attribute's default (Octavia's
    "unset")."""
    clean = dict(data)
    for key, default in defaults:
        if key in clean and clean[key] is None:
            clean[key] = default
    return clean


def apply_update(op: Op, row, lb: m.LoadBalancer, data: dict, keys: tuple[str, ...],
                 defaults: tuple[tuple[str, object], ...] = ()) -> m.LoadBalancer:
    """The tail of every update: set the ``keys`` given (null: the default), record the
    new intent of the object and its load balancer."""
    set_values(row, with_defaults(data, defaults), keys)
    intent_changed(row)
    touch_loadbalancer(op, lb)
    op.session.flush()
    return lb


def remove(op: Op, row, lb: m.LoadBalancer) -> m.LoadBalancer:
    """The tail of every child's delete: the row goes, its load balancer has new intent."""
    op.session.delete(row)
    touch_loadbalancer(op, lb)
    op.session.flush()
    return lb


QUOTA_COLUMNS = {"loadbalancer": m.LoadBalancer, "listener": m.Listener, "pool": m.Pool,
                 "member": m.Member, "healthmonitor": m.HealthMonitor, "l7policy": m.L7Policy,
                 "l7rule": m.L7Rule}


def quota_limit(s: Session, settings: LoadBalancerSettings, project_id: str, kind: str) -> int:
    row = s.get(m.Quota, project_id)
    value = getattr(row, kind) if row is not None else None
    return settings.quota(kind) if value is None else value


def _serialize_project(s: Session, project_id: str, kind: str) -> None:
    """On PostgreSQL two writers of one project could both count below the limit: they
    take turns on a transaction-scoped advisory lock (SQLite writers already do)."""
    if s.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(f"lb-quota:{kind}:{project_id}".encode()) - 2**31
    s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def check_quota(op: Op, project_id: str, kind: str, adding: int = 1) -> None:
    """403 when ``adding`` more would pass the project's limit (-1: none)."""
    if adding <= 0:
        return
    limit = quota_limit(op.session, op.settings, project_id, kind)
    if limit < 0:
        return
    _serialize_project(op.session, project_id, kind)
    model = QUOTA_COLUMNS[kind]
    used = op.session.scalar(select(func.count()).select_from(model)
                             .where(model.project_id == project_id))
    if used + adding > limit:
        raise errors.quota_met(kind)
