"""Pools: a balancing algorithm and session persistence over members, on a load balancer
and optionally the default pool of a listener."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources import listeners
from astara.loadbalancer_service.resources.base import (
    Op,
    apply_update,
    check_quota,
    get,
    intent_changed,
    new_row,
    parent,
    remove,
    touch_loadbalancer,
)

SUPPORTED_PROTOCOLS = ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP")
SUPPORTED_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
UPDATABLE = ("name", "description", "admin_state_up", "tags", "lb_algorithm",
             "session_persistence")


def check_persistence(sp: dict | None) -> None:
    if not sp:
        return
    if sp["type"] == "APP_COOKIE" and not sp.get("cookie_name"):
        raise errors.validation('Field "cookie_name" must be specified when using the '
                                '"APP_COOKIE" session persistence type.')
    if sp["type"] != "APP_COOKIE" and sp.get("cookie_name"):
        raise errors.validation('Field "cookie_name" can only be specified with session '
                                'persistence of type "APP_COOKIE".')
    for key in ("persistence_timeout", "persistence_granularity"):
        if sp.get(key) is not None:
            raise errors.unsupported(f"session_persistence {key} (UDP pools: not yet)")


def check_choices(protocol: str | None, algorithm: str | None) -> None:
    if protocol is not None and protocol not in SUPPORTED_PROTOCOLS:
        raise errors.unsupported(f"pool protocol {protocol} (not yet)")
    if algorithm is not None and algorithm not in SUPPORTED_ALGORITHMS:
        raise errors.unsupported(f"lb_algorithm {algorithm}")


def create(op: Op, data: dict) -> tuple[m.Pool, m.LoadBalancer]:
    s = op.session
    if not data.get("listener_id") and not data.get("loadbalancer_id"):
        raise errors.validation("Must provide at least one of: loadbalancer_id, listener_id")
    listener = None
    if data.get("listener_id"):
        listener = get(s, op.ctx, "listener", m.Listener, data["listener_id"])
        if data.get("loadbalancer_id") and data["loadbalancer_id"] != listener.loadbalancer_id:
            raise errors.validation("The listener is not on the load balancer given.")
        lb_id = listener.loadbalancer_id
    else:
        lb_id = data["loadbalancer_id"]
    lb = get(s, op.ctx, "loadbalancer", m.LoadBalancer, lb_id, lock=True)
    if listener is not None:
        if listener.default_pool_id is not None:
            raise errors.Conflict("This listener already has a default pool")
        if not listeners.compatible(listener.protocol, data["protocol"]):
            raise listeners.pool_mismatch(data["protocol"], listener.protocol)
    check_choices(data["protocol"], data["lb_algorithm"])
    check_persistence(data.get("session_persistence"))
    check_quota(op, lb.project_id, "pool")
    row = new_row(m.Pool, lb.project_id, loadbalancer_id=lb.id, name=data.get("name") or "",
                  description=data.get("description") or "",
                  admin_state_up=data.get("admin_state_up", True),
                  tags=data.get("tags") or [], protocol=data["protocol"],
                  lb_algorithm=data["lb_algorithm"],
                  session_persistence=data.get("session_persistence"))
    s.add(row)
    s.flush()
    if listener is not None:
        listener.default_pool_id = row.id
        intent_changed(listener)
    touch_loadbalancer(op, lb)
    s.flush()
    return row, lb


def update(op: Op, row: m.Pool, data: dict) -> m.LoadBalancer:
    lb = parent(op.session, m.LoadBalancer, row.loadbalancer_id)
    check_choices(None, data.get("lb_algorithm"))
    check_persistence(data.get("session_persistence"))
    return apply_update(op, row, lb, data, UPDATABLE,
                        (("name", ""), ("description", ""), ("tags", [])))


def delete_(op: Op, row: m.Pool) -> m.LoadBalancer:
    s = op.session
    lb = parent(s, m.LoadBalancer, row.loadbalancer_id)
    policy = s.scalar(select(m.L7Policy.id).where(m.L7Policy.redirect_pool_id == row.id)
                      .order_by(m.L7Policy.created_at, m.L7Policy.id).limit(1))
    if policy is not None:  # Octavia's answer: the policy must go (or change) first
        raise errors.Conflict(f"Pool {row.id} is in use by L7 policy {policy}")
    # A listener sending to this pool keeps going, without a default pool.
    s.execute(sql_update(m.Listener).where(m.Listener.default_pool_id == row.id)
              .values(default_pool_id=None))
    s.execute(delete(m.HealthMonitor).where(m.HealthMonitor.pool_id == row.id))
    s.execute(delete(m.Member).where(m.Member.pool_id == row.id))
    return remove(op, row, lb)
