"""Load balancers: the row for a VIP already allocated, updates, and (cascade) deletes."""

from __future__ import annotations

from sqlalchemy import delete, select

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources.base import (
    Op,
    apply_update,
    check_quota,
    now,
)
from astara.loadbalancer_service.vip import Vip

UPDATABLE = ("name", "description", "admin_state_up", "tags")


def create(op: Op, lb_id: str, project_id: str, data: dict, vip: Vip,
           provider: str) -> m.LoadBalancer:
    check_quota(op, project_id, "loadbalancer")
    row = m.LoadBalancer(
        id=lb_id, project_id=project_id, name=data.get("name") or "",
        description=data.get("description") or "",
        admin_state_up=data.get("admin_state_up", True), tags=data.get("tags") or [],
        provisioning_status="PENDING_CREATE", operating_status="OFFLINE",
        created_at=now(), updated_at=None, provider=provider, vip_address=vip.address,
        vip_port_id=vip.port_id, vip_subnet_id=vip.subnet_id, vip_network_id=vip.network_id,
        vip_port_owned=vip.owned, revision=1)
    op.session.add(row)
    op.session.flush()
    return row


def update(op: Op, row: m.LoadBalancer, data: dict) -> m.LoadBalancer:
    clean = {k: v for k, v in data.items() if k != "admin_state_up" or v is not None}
    return apply_update(op, row, row, clean, UPDATABLE,
                        (("name", ""), ("description", ""), ("tags", [])))


def has_children(op: Op, row: m.LoadBalancer) -> bool:
    s = op.session
    return any(s.scalar(select(model.id).where(model.loadbalancer_id == row.id).limit(1))
               for model in (m.Listener, m.Pool))


def delete_(op: Op, row: m.LoadBalancer, cascade: bool) -> None:
    s = op.session
    if not cascade and has_children(op, row):
        raise errors.validation(f"Cannot delete Load Balancer {row.id} - it has children")
    pools = select(m.Pool.id).where(m.Pool.loadbalancer_id == row.id)
    listeners = select(m.Listener.id).where(m.Listener.loadbalancer_id == row.id)
    policies = select(m.L7Policy.id).where(m.L7Policy.listener_id.in_(listeners))
    s.execute(delete(m.L7Rule).where(m.L7Rule.l7policy_id.in_(policies)))
    s.execute(delete(m.L7Policy).where(m.L7Policy.listener_id.in_(listeners)))
    s.execute(delete(m.HealthMonitor).where(m.HealthMonitor.pool_id.in_(pools)))
    s.execute(delete(m.Member).where(m.Member.pool_id.in_(pools)))
    s.execute(delete(m.Listener).where(m.Listener.loadbalancer_id == row.id))
    s.execute(delete(m.Pool).where(m.Pool.loadbalancer_id == row.id))
    s.delete(row)
    s.flush()
