"""Listener statistics: the counters a status report carries, kept; Octavia's stats reads.

``record`` runs inside the status report's transaction (the load balancer's row
locked, so two reports of one load balancer take turns): for each listener reported
with ``stats`` that is still under that load balancer it keeps what
``counters.accumulate`` says. Like the statuses it writes no notification, bumps no
revision and touches no ``updated_at``. ``listener`` and ``loadbalancer`` answer
``GET .../listeners/{id}/stats`` and ``GET .../loadbalancers/{id}/stats`` (a load
balancer's: the sum of its listeners'; a listener never reported: zeros).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.loadbalancer_service import counters as c
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.statuses import StatusReport


def _kept(row: m.ListenerStats) -> c.Kept:
    last = c.Counters(**{n: getattr(row, n) for n in c.NAMES})
    base = c.Counters(**{n: getattr(row, f"base_{n}") for n in c.TOTALS})
    return c.Kept(row.epoch, last, base)


def _store(row: m.ListenerStats, kept: c.Kept) -> None:
    row.epoch = kept.epoch
    for name in c.NAMES:
        setattr(row, name, getattr(kept.last, name))
    for name in c.TOTALS:
        setattr(row, f"base_{name}", getattr(kept.base, name))


def record(s: Session, lb: m.LoadBalancer, report: StatusReport) -> None:
    reported = {r.id: r.stats for r in report.children.get("listeners", ())
                if r.stats is not None}
    if not reported:
        return
    ids = list(reported)
    under = set(s.scalars(select(m.Listener.id).where(
        m.Listener.loadbalancer_id == lb.id, m.Listener.id.in_(ids))))
    rows = {r.listener_id: r for r in s.scalars(
        select(m.ListenerStats).where(m.ListenerStats.listener_id.in_(under)))}
    for listener_id in sorted(under):
        row = rows.get(listener_id)
        kept = c.accumulate(_kept(row) if row is not None else None, report.stats_epoch,
                            reported[listener_id])
        if row is None:
            row = m.ListenerStats(listener_id=listener_id, loadbalancer_id=lb.id)
            s.add(row)
        _store(row, kept)
    s.flush()


def listener(s: Session, listener_id: str) -> dict:
    row = s.get(m.ListenerStats, listener_id)
    shown = _kept(row).shown() if row is not None else c.Counters()
    return {"stats": shown.view()}


def loadbalancer(s: Session, lb_id: str) -> dict:
    rows = s.scalars(select(m.ListenerStats).where(m.ListenerStats.loadbalancer_id == lb_id))
    return {"stats": c.total([_kept(r).shown() for r in rows]).view()}
