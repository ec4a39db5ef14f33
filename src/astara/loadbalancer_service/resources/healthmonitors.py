"""Health monitors: one per pool, how its members are checked."""

from __future__ import annotations

from sqlalchemy import select

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
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

SUPPORTED = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO")
HTTP_ONLY = ("http_method", "url_path", "expected_codes", "http_version", "domain_name")
HTTP_DEFAULTS = {"http_method": "GET", "url_path": "/", "expected_codes": "200"}
UPDATABLE = ("name", "admin_state_up", "tags", "delay", "timeout", "max_retries",
             "max_retries_down", *HTTP_ONLY)


def check_options(type_: str, data: dict, current_version: str | None = None,
                  current_domain: str | None = None) -> None:
    if type_ not in ("HTTP", "HTTPS"):
        for key in HTTP_ONLY:
            if data.get(key) is not None:
                raise errors.BadRequest(f"{key} is not a valid option for health monitors "
                                        f"of type {type_}")
    version = data.get("http_version", current_version)
    domain = data.get("domain_name", current_domain)
    if domain and version != "1.1":
        raise errors.validation('"http_version" must be 1.1 when "domain_name" is given.')


def create(op: Op, data: dict) -> tuple[m.HealthMonitor, m.LoadBalancer]:
    s = op.session
    pool = get(s, op.ctx, "pool", m.Pool, data["pool_id"])
    lb = get(s, op.ctx, "loadbalancer", m.LoadBalancer, pool.loadbalancer_id, lock=True)
    if data["type"] not in SUPPORTED:
        raise errors.unsupported(f"health monitor type {data['type']} (not yet)")
    if s.scalar(select(m.HealthMonitor.id).where(m.HealthMonitor.pool_id == pool.id)):
        raise errors.Conflict("This pool already has a health monitor")
    check_options(data["type"], data)
    check_quota(op, lb.project_id, "healthmonitor")
    http = data["type"] in ("HTTP", "HTTPS")
    values = {k: (data.get(k) if data.get(k) is not None else HTTP_DEFAULTS.get(k)) if http
              else None for k in HTTP_ONLY}
    row = new_row(m.HealthMonitor, lb.project_id, pool_id=pool.id,
                  name=data.get("name") or "", admin_state_up=data.get("admin_state_up", True),
                  tags=data.get("tags") or [], type=data["type"], delay=data["delay"],
                  timeout=data["timeout"], max_retries=data["max_retries"],
                  max_retries_down=data.get("max_retries_down") or 3, **values)
    s.add(row)
    intent_changed(pool)
    touch_loadbalancer(op, lb)
    s.flush()
    return row, lb


def update(op: Op, row: m.HealthMonitor, data: dict) -> m.LoadBalancer:
    check_options(row.type, data, row.http_version, row.domain_name)
    pool = parent(op.session, m.Pool, row.pool_id, lock=False)
    lb = parent(op.session, m.LoadBalancer, pool.loadbalancer_id)
    return apply_update(op, row, lb, data, UPDATABLE,
                        (("name", ""), ("tags", []), ("max_retries_down", 3),
                         *HTTP_DEFAULTS.items()))


def delete_(op: Op, row: m.HealthMonitor) -> m.LoadBalancer:
    pool = parent(op.session, m.Pool, row.pool_id, lock=False)
    lb = parent(op.session, m.LoadBalancer, pool.loadbalancer_id)
    intent_changed(pool)
    return remove(op, row, lb)
