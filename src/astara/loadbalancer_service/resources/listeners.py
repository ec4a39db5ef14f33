"""Listeners: one protocol port on a load balancer, its default pool and limits."""

from __future__ import annotations

import ipaddress

from sqlalchemy import delete, select

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources import listener_tls
from astara.loadbalancer_service.resources.base import (
    Op,
    apply_update,
    check_quota,
    get,
    new_row,
    parent,
    remove,
    touch_loadbalancer,
)

SUPPORTED = ("HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS")
# Which pool protocols a listener of each protocol may send to (Octavia's map).
POOL_PROTOCOLS = {
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TCP": ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
}
HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")
DEFAULT_TIMEOUTS = {"timeout_client_data": 50000, "timeout_member_connect": 5000,
                    "timeout_member_data": 50000, "timeout_tcp_inspect": 0}
UPDATABLE = ("name", "description", "admin_state_up", "tags", "connection_limit",
             "insert_headers", "allowed_cidrs", *DEFAULT_TIMEOUTS)


def check_protocol(protocol: str, data: dict) -> None:
    if protocol == "TERMINATED_HTTPS" and not (data.get("default_tls_container_ref")
                                               or data.get("sni_container_refs")):
        raise errors.validation(listener_tls.NEEDS_REF)
    if protocol not in SUPPORTED:
        raise errors.unsupported(f"listener protocol {protocol} (not yet)")


def compatible(listener_protocol: str, pool_protocol: str) -> bool:
    return pool_protocol in POOL_PROTOCOLS.get(listener_protocol, ())


def pool_mismatch(pool_protocol: str, listener_protocol: str) -> errors.BadRequest:
    return errors.validation(f"The pool protocol '{pool_protocol}' is invalid while the "
                             f"listener protocol is '{listener_protocol}'.")


def check_headers(protocol: str, headers: dict) -> None:
    if headers and protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise errors.validation(f"The following headers may not be inserted with the "
                                f"{protocol} protocol: {', '.join(sorted(headers))}")
    for key, value in headers.items():
        if key not in HEADERS:
            raise errors.unsupported(f"insert_headers {errors.shorten(key, 64)} (not yet)")
        if value.lower() not in ("true", "false"):
            raise errors.invalid_input("insert_headers", value, "Value should be 'true' or "
                                       "'false'")


def check_cidrs(cidrs: list[str] | None, vip_address: str) -> None:
    version = ipaddress.ip_address(vip_address).version
    for cidr in cidrs or ():
        if ipaddress.ip_network(cidr).version != version:
            raise errors.validation(f"CIDR {cidr} IP version incompatible with VIP "
                                    f"{vip_address} IP version.")


def _default_pool(op: Op, listener_protocol: str, lb_id: str, pool_id: str) -> m.Pool:
    pool = get(op.session, op.ctx, "pool", m.Pool, pool_id)
    if pool.loadbalancer_id != lb_id:
        raise errors.validation(f"Pool {pool_id} is not on the listener's load balancer.")
    if not compatible(listener_protocol, pool.protocol):
        raise pool_mismatch(pool.protocol, listener_protocol)
    return pool


def _duplicate(op: Op, lb_id: str, port: int) -> m.Listener | None:
    return op.session.scalar(select(m.Listener).where(
        m.Listener.loadbalancer_id == lb_id, m.Listener.protocol_port == port))


def create(op: Op, data: dict) -> tuple[m.Listener, m.LoadBalancer]:
    lb = get(op.session, op.ctx, "loadbalancer", m.LoadBalancer, data["loadbalancer_id"],
             lock=True)
    check_protocol(data["protocol"], data)
    listener_tls.check_refs_allowed(data["protocol"], data)
    listener_tls.check_options(data["protocol"], data)
    taken = _duplicate(op, lb.id, data["protocol_port"])
    if taken is not None:
        raise errors.Conflict(f"Another Listener on this Load Balancer is already using "
                              f"protocol {taken.protocol} and protocol_port "
                              f"{data['protocol_port']}")
    check_headers(data["protocol"], data.get("insert_headers") or {})
    check_cidrs(data.get("allowed_cidrs"), lb.vip_address)
    if data.get("default_pool_id"):
        _default_pool(op, data["protocol"], lb.id, data["default_pool_id"])
    check_quota(op, lb.project_id, "listener")
    timeouts = {k: data[k] if data.get(k) is not None else v
                for k, v in DEFAULT_TIMEOUTS.items()}
    row = new_row(m.Listener, lb.project_id, loadbalancer_id=lb.id,
                  name=data.get("name") or "", description=data.get("description") or "",
                  admin_state_up=data.get("admin_state_up", True),
                  tags=data.get("tags") or [], protocol=data["protocol"],
                  protocol_port=data["protocol_port"],
                  connection_limit=data.get("connection_limit")
                  if data.get("connection_limit") is not None else -1,
                  default_pool_id=data.get("default_pool_id"),
                  insert_headers=data.get("insert_headers") or {},
                  allowed_cidrs=sorted(set(data["allowed_cidrs"]))
                  if data.get("allowed_cidrs") else None, **timeouts)
    op.session.add(row)
    op.session.flush()
    listener_tls.store(op, row, lb.project_id, data)
    touch_loadbalancer(op, lb)
    op.session.flush()
    return row, lb


def update(op: Op, row: m.Listener, data: dict) -> m.LoadBalancer:
    lb = parent(op.session, m.LoadBalancer, row.loadbalancer_id)
    listener_tls.check_refs_allowed(row.protocol, data)
    listener_tls.check_options(row.protocol, data)
    listener_tls.store(op, row, lb.project_id, data)
    if "insert_headers" in data:
        check_headers(row.protocol, data["insert_headers"] or {})
    if "allowed_cidrs" in data:
        check_cidrs(data["allowed_cidrs"], lb.vip_address)
        data["allowed_cidrs"] = sorted(set(data["allowed_cidrs"])) if data["allowed_cidrs"] \
            else None
    if data.get("default_pool_id"):
        _default_pool(op, row.protocol, lb.id, data["default_pool_id"])
    if "default_pool_id" in data:
        row.default_pool_id = data["default_pool_id"]
    return apply_update(op, row, lb, data, UPDATABLE,
                        (("name", ""), ("description", ""), ("tags", []),
                         ("insert_headers", {}), ("connection_limit", -1),
                         *DEFAULT_TIMEOUTS.items()))


def delete_(op: Op, row: m.Listener) -> m.LoadBalancer:
    # Its L7 policies and their rules go with it (Octavia's cascade).
    policies = select(m.L7Policy.id).where(m.L7Policy.listener_id == row.id)
    op.session.execute(delete(m.L7Rule).where(m.L7Rule.l7policy_id.in_(policies)))
    op.session.execute(delete(m.L7Policy).where(m.L7Policy.listener_id == row.id))
    return remove(op, row, parent(op.session, m.LoadBalancer, row.loadbalancer_id))
