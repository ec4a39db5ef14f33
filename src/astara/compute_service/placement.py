"""Host pinning and per-project quota, inside the create transaction.

``reserve_quota`` locks the project's usage row (``SELECT ... FOR UPDATE``; SQLite
serializes writers anyway), refuses with Nova's 403 when the limit would be passed,
and counts the new instance; the dispatcher gives it back on ``delete.end``.
``pick_host`` chooses, among the hosts whose agent beat within ``down_after``
seconds and are not drained, the one with the most free capacity.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from astara.compute_service import errors, jobs
from astara.compute_service.models import Host, Instance, QuotaUsage


def reserve_quota(session: Session, project_id: str, limit: int) -> None:
    usage = session.scalar(
        select(QuotaUsage).where(QuotaUsage.project_id == project_id).with_for_update())
    if usage is None:
        usage = QuotaUsage(project_id=project_id, instances=0)
        session.add(usage)
        session.flush()
    if 0 <= limit < usage.instances + 1:  # a negative limit means unlimited
        raise errors.Forbidden(f"Quota exceeded for instances: Requested 1, but already used "
                               f"{usage.instances} of {limit} instances")
    usage.instances += 1


def pick_host(session: Session, down_after: float = 60.0) -> str | None:
    used = (select(Instance.host, func.count().label("n"))
            .where(Instance.deleted.is_(False)).group_by(Instance.host).subquery())
    rows = session.execute(
        select(Host.name, Host.capacity, func.coalesce(used.c.n, 0))
        .outerjoin(used, used.c.host == Host.name)
        .where(Host.drained.is_(False),
               Host.updated_at >= jobs.now() - timedelta(seconds=down_after))).all()
    free = [(cap - n, name) for name, cap, n in rows if cap - n > 0]
    return max(free)[1] if free else None
