"""Writing the orchestrator's status report of one load balancer (the LB row locked).

Only the status columns change: no revision bump, no ``updated_at``, no notification
(statuses are observations, not intent). An id not under the load balancer (another
one's, or deleted meanwhile) matches no row and is ignored. Objects with the same new
statuses are written in one statement.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.statuses import StatusReport, writes

CHUNK = 500  # ids in one IN list


def apply(s: Session, lb: m.LoadBalancer, report: StatusReport) -> None:
    current = report.revision == lb.revision
    if report.loadbalancer is not None:
        _write(s, m.LoadBalancer, m.LoadBalancer.id == lb.id, [lb.id],
               writes(report.loadbalancer, current))
    pool_ids = select(m.Pool.id).where(m.Pool.loadbalancer_id == lb.id)
    listener_ids = select(m.Listener.id).where(m.Listener.loadbalancer_id == lb.id)
    policy_ids = select(m.L7Policy.id).where(m.L7Policy.listener_id.in_(listener_ids))
    scope = {"listeners": (m.Listener, m.Listener.loadbalancer_id == lb.id),
             "pools": (m.Pool, m.Pool.loadbalancer_id == lb.id),
             "members": (m.Member, m.Member.pool_id.in_(pool_ids)),
             "healthmonitors": (m.HealthMonitor, m.HealthMonitor.pool_id.in_(pool_ids)),
             "l7policies": (m.L7Policy, m.L7Policy.listener_id.in_(listener_ids)),
             "l7rules": (m.L7Rule, m.L7Rule.l7policy_id.in_(policy_ids))}
    for plural, reports in report.children.items():
        model, under = scope[plural]
        groups: dict[tuple, list[str]] = {}
        for item in reports:
            values = writes(item, current)
            if values:
                groups.setdefault(tuple(sorted(values.items())), []).append(item.id)
        for values, ids in groups.items():
            _write(s, model, under, ids, dict(values))


def _write(s: Session, model, under, ids: list[str], values: dict[str, str]) -> None:
    if not values:
        return
    for start in range(0, len(ids), CHUNK):
        s.execute(update(model).where(model.id.in_(ids[start:start + CHUNK]), under)
                  .values(**values).execution_options(synchronize_session=False))
