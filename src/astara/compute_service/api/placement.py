"""Host pinning and per-project quota, inside the create transaction.

``reserve_quota`` locks the project's usage row (``SELECT ... FOR UPDATE``; SQLite
serializes writers anyway), refuses with Nova's 403 when the limit would be passed,
and counts the new instance; the dispatcher gives it back on ``delete.end``.
``pick_host`` chooses, among the hosts whose agent beat within ``down_after``
seconds and are not drained, with room (``choose``: away from the hosts of
``different_host``'s servers when one of the others can take it, else on them: a
preference, where Nova's filter refuses; within a server group's hard policy, ordered by
its soft one; then the host with the fewest live instances of the caller's project,
then the most free capacity, then by name); ``host_list`` and
``set_drained`` serve the operator's ``astara-compute-manage host-*`` commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from astara.compute_service import jobs
from astara.compute_service.api import errors
from astara.compute_service.models import (
    Host,
    Instance,
    QuotaUsage,
    ServerGroup,
    ServerGroupMember,
)


def usage_row(session: Session, project_id: str) -> QuotaUsage:
    """The project's usage row, locked: its creates (instances, server groups) one at a
    time."""
    locked = select(QuotaUsage).where(QuotaUsage.project_id == project_id).with_for_update()
    usage = session.scalar(locked)
    if usage is None:
        # A project's first creates race to make its row: on PostgreSQL the second insert
        # waits for the first's commit, then fails on the key. The loser reads the
        # winner's row (locked, as above) instead of failing the create.
        try:
            with session.begin_nested():
                session.add(QuotaUsage(project_id=project_id, instances=0))
        except IntegrityError:
            pass
        usage = session.scalar(locked)
    return usage


def reserve_quota(session: Session, project_id: str, limit: int) -> None:
    usage = usage_row(session, project_id)
    if 0 <= limit < usage.instances + 1:  # a negative limit means unlimited
        raise errors.Forbidden(f"Quota exceeded for instances: Requested 1, but already used "
                               f"{usage.instances} of {limit} instances")
    usage.instances += 1


def usage_query(project_id: str):
    """Each host's live instances and how many are ``project_id``'s: one pass over the
    index ``models.LIVE_USAGE_INDEX`` (it holds every column read here)."""
    mine = func.sum(case((Instance.project_id == project_id, 1), else_=0))
    return (select(Instance.host, func.count(), mine).where(Instance.deleted.is_(False))
            .group_by(Instance.host))


def _usage(session: Session, project_id: str) -> dict[str, tuple[int, int]]:
    """Host -> (its live instances, how many of them are ``project_id``'s), from one pass
    over the live instances (placing a create needs both; they grow with the cloud)."""
    return {host: (n, int(m or 0)) for host, n, m in
            session.execute(usage_query(project_id)).all()}


def _hosts_with_usage(session: Session):
    used = (select(Instance.host, func.count().label("n"))
            .where(Instance.deleted.is_(False)).group_by(Instance.host).subquery())
    return (select(Host, func.coalesce(used.c.n, 0))
            .outerjoin(used, used.c.host == Host.name).order_by(Host.name))


def _alive_since(down_after: float):
    return jobs.now() - timedelta(seconds=down_after)


@dataclass(frozen=True)
class Group:
    """A server group's policy and where its live members run (host -> how many)."""

    policy: str
    members: Mapping[str, int] = field(default_factory=dict)
    max_server_per_host: int = 1


def choose(free: list[tuple[int, str]], avoid: frozenset[str] = frozenset(),
           group: Group | None = None, mine: Mapping[str, int] | None = None) -> str | None:
    """Pure: among (free capacity, host) with room, those not in ``avoid`` if any (else
    those in it: an HA pair on a one-host cloud still boots, its orchestrator sees the two
    on one host and says so). A ``group``'s hard policy leaves out the hosts it forbids
    (None when none is left: Nova's "No valid host"). The hosts left are ordered by a soft
    policy's members there (fewest for soft-anti-affinity, most for soft-affinity), then
    by the project's live instances there (``mine``: host -> count, fewest first, so that
    one project's instances spread and one host's loss takes the fewest of them), then
    the roomiest, then the first name (the same inputs, the same host)."""
    room = [(n, name) for n, name in free if n > 0]
    members = group.members if group is not None else {}
    policy = group.policy if group is not None else None
    if policy == "affinity" and members:
        room = [x for x in room if x[1] in members]
    elif policy == "anti-affinity":
        assert group is not None
        room = [x for x in room if members.get(x[1], 0) < group.max_server_per_host]
    pool = [x for x in room if x[1] not in avoid] or room
    if not pool:
        return None
    sign = {"soft-anti-affinity": 1, "soft-affinity": -1}.get(policy or "", 0)
    mine = mine or {}
    return min(pool, key=lambda x: (sign * members.get(x[1], 0), mine.get(x[1], 0),
                                    -x[0], x[1]))[1]


def group_of(session: Session, group_id: str, lock: bool = False) -> Group | None:
    """The group's policy and its live members' hosts (the row locked when ``lock``:
    two boots into one group are placed one after the other)."""
    stmt = select(ServerGroup).where(ServerGroup.id == group_id)
    row = session.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        return None
    hosts = session.execute(
        select(Instance.host, func.count()).join(
            ServerGroupMember, ServerGroupMember.instance_id == Instance.id)
        .where(ServerGroupMember.group_id == group_id, Instance.deleted.is_(False),
               Instance.host != "")
        .group_by(Instance.host)).all()
    return Group(row.policy, {h: n for h, n in hosts}, row.max_server_per_host or 1)


def _live_hosts(session: Session, down_after: float) -> list[Host]:
    return list(session.scalars(select(Host).where(
        Host.drained.is_(False), Host.updated_at >= _alive_since(down_after))
        .order_by(Host.name)))


def pick_host(session: Session, down_after: float = 60.0,
              different_host: tuple[str, ...] = (), group: Group | None = None,
              project_id: str = "") -> str | None:
    hosts = _live_hosts(session, down_after)
    if not hosts:
        return None
    avoid = frozenset(session.scalars(select(Instance.host).where(
        Instance.id.in_(different_host), Instance.deleted.is_(False)))) \
        if different_host else frozenset()
    used = _usage(session, project_id)
    mine = {host: m for host, (_, m) in used.items() if m} if project_id else {}
    return choose([(h.capacity - used.get(h.name, (0, 0))[0], h.name) for h in hosts],
                  avoid, group, mine)


def still_fits(session: Session, host: str, project_id: str, spread: bool,
               down_after: float = 60.0) -> bool:
    """In the insert's transaction, after ``usage_row`` (the project's creates one at a
    time): whether ``host``, chosen from an earlier read, still has room (its row
    locked: creates of any project onto it one at a time) and, with ``spread``, holds no
    more of the project's live instances than the least loaded other live host with
    room. False: a concurrent create changed it (``Raced``: place again)."""
    row = session.get(Host, host, with_for_update=True)
    if row is None:
        return False
    used = _usage(session, project_id)
    total, mine = used.get(host, (0, 0))
    if total >= row.capacity:
        return False
    if not spread:
        return True
    fewest = min((used.get(h.name, (0, 0))[1] for h in _live_hosts(session, down_after)
                  if h.capacity > used.get(h.name, (0, 0))[0]), default=0)
    return mine <= fewest


def _row(host: Host, instances: int, since) -> dict:
    return {"name": host.name, "availability_zone": host.availability_zone,
            "capacity": host.capacity, "instances": instances, "drained": host.drained,
            "last_heartbeat": host.updated_at.isoformat() + "Z",
            "agent_alive": host.updated_at >= since}


def host_list(session: Session, down_after: float = 60.0) -> list[dict]:
    """Every registered host as an operator sees it (``astara-compute-manage host-list``)."""
    since = _alive_since(down_after)
    return [_row(host, n, since)
            for host, n in session.execute(_hosts_with_usage(session)).all()]


def set_drained(session: Session, name: str, drained: bool,
                down_after: float = 60.0) -> dict | None:
    """Drain (no new instance is placed there) or undrain a host: its ``host_list`` row
    as this transaction leaves it, None if unknown."""
    host = session.get(Host, name, with_for_update=True)
    if host is None:
        return None
    host.drained = drained
    session.flush()
    _, n = session.execute(_hosts_with_usage(session).where(Host.name == name)).one()
    return _row(host, n, _alive_since(down_after))
