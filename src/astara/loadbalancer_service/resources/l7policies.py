"""L7 policies: ordered actions of an HTTP listener (redirect, send to a pool, reject).

``settle`` makes a body's action and redirect fields consistent as Octavia does (a
redirect target given sets the action, an action clears the other targets, a URL
redirect defaults to 302); pure. Positions are 1..n per listener, kept dense: a new
or moved policy is inserted at its position (or at the end) and the others renumbered,
all under the load balancer's lock.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
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

TARGETS = {"REDIRECT_TO_POOL": "redirect_pool_id", "REDIRECT_TO_URL": "redirect_url",
           "REDIRECT_PREFIX": "redirect_prefix"}
CODED = ("REDIRECT_TO_URL", "REDIRECT_PREFIX")  # the actions with a redirect_http_code
UPDATABLE = ("name", "description", "admin_state_up", "tags", "action", "redirect_pool_id",
             "redirect_url", "redirect_prefix", "redirect_http_code")
L7_PROTOCOLS = ("HTTP", "TERMINATED_HTTPS")
MAX_POSITION = 2**31 - 1  # Octavia's default position: the end


def bad_args(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"Invalid L7 Policy arguments: {message}")


def _set_action(out: dict, action: str) -> None:
    out["action"] = action
    for key in TARGETS.values():
        if key != TARGETS.get(action):
            out[key] = None
    if action in CODED:
        out["redirect_http_code"] = out.get("redirect_http_code") or 302
    else:
        out["redirect_http_code"] = None


def settle(data: dict, create: bool) -> dict:
    """The body's action and targets made consistent (Octavia's rules), or its 400."""
    out = dict(data)
    action = out.get("action")
    if action is not None:
        target = TARGETS.get(action)
        if target is not None and not out.get(target):
            raise bad_args(f"{target} must not be None")
        _set_action(out, action)
    if out.get("redirect_pool_id") and (out.get("redirect_url") or out.get("redirect_prefix")):
        raise bad_args("Cannot specify redirect_pool_id and redirect_url or redirect_prefix "
                       "at the same time")
    for action, key in TARGETS.items():
        if out.get(key):
            _set_action(out, action)
    if create and out.get("action") is None:
        raise errors.BadRequest("Invalid L7 Policy action specified: None")
    if not out:
        raise bad_args("Invalid update options")
    return out


def check_whole(row: m.L7Policy) -> None:
    """After an update: the action still has its target."""
    target = TARGETS.get(row.action)
    if target is not None and not getattr(row, target):
        raise bad_args(f"{target} must not be None")
    if row.action not in CODED:
        row.redirect_http_code = None
    elif not row.redirect_http_code:
        row.redirect_http_code = 302


def check_listener(listener: m.Listener) -> None:
    if listener.protocol not in L7_PROTOCOLS:
        raise errors.unsupported(f"{listener.protocol} protocol listeners do not support L7 "
                                 "policies")


def _redirect_pool(op: Op, listener: m.Listener, pool_id: str) -> m.Pool:
    """The target pool, from our records: one of the listener's load balancer whose
    protocol the listener may send to."""
    pool = get(op.session, op.ctx, "pool", m.Pool, pool_id)
    if pool.loadbalancer_id != listener.loadbalancer_id:
        raise errors.validation(f"Pool {pool_id} is not on the listener's load balancer.")
    if not listeners.compatible(listener.protocol, pool.protocol):
        raise listeners.pool_mismatch(pool.protocol, listener.protocol)
    return pool


def _count(op: Op, listener_id: str) -> int:
    return op.session.scalar(select(func.count()).select_from(m.L7Policy)
                             .where(m.L7Policy.listener_id == listener_id)) or 0


def _shift(op: Op, listener_id: str, start: int, by: int) -> None:
    """The listener's policies from position ``start`` on moved by ``by`` (in SQL; the
    rows loaded in the session are not refreshed: the caller sets its own row's)."""
    op.session.execute(sql_update(m.L7Policy)
                       .where(m.L7Policy.listener_id == listener_id,
                              m.L7Policy.position >= start)
                       .values(position=m.L7Policy.position + by)
                       .execution_options(synchronize_session=False))


def create(op: Op, data: dict) -> tuple[m.L7Policy, m.LoadBalancer]:
    s = op.session
    listener = get(s, op.ctx, "listener", m.Listener, data["listener_id"])
    lb = get(s, op.ctx, "loadbalancer", m.LoadBalancer, listener.loadbalancer_id, lock=True)
    values = settle(data, create=True)
    if values.get("redirect_pool_id"):
        _redirect_pool(op, listener, values["redirect_pool_id"])
    check_listener(listener)
    check_quota(op, lb.project_id, "l7policy")
    position = min(values.get("position") or MAX_POSITION, _count(op, listener.id) + 1)
    _shift(op, listener.id, position, 1)
    row = new_row(m.L7Policy, lb.project_id, listener_id=listener.id,
                  name=values.get("name") or "", description=values.get("description") or "",
                  admin_state_up=values.get("admin_state_up", True),
                  tags=values.get("tags") or [], action=values["action"], position=position,
                  redirect_pool_id=values.get("redirect_pool_id"),
                  redirect_url=values.get("redirect_url"),
                  redirect_prefix=values.get("redirect_prefix"),
                  redirect_http_code=values.get("redirect_http_code"))
    s.add(row)
    intent_changed(listener)
    touch_loadbalancer(op, lb)
    s.flush()
    return row, lb


def update(op: Op, row: m.L7Policy, data: dict) -> m.LoadBalancer:
    s = op.session
    listener = parent(s, m.Listener, row.listener_id, lock=False)
    lb = parent(s, m.LoadBalancer, listener.loadbalancer_id)
    s.refresh(row)  # its position as of the lock (a concurrent write may have moved it)
    position = data.get("position")
    rest = {k: v for k, v in data.items() if k != "position"}
    values = settle(rest, create=False) if rest or not data else {}
    if values.get("redirect_pool_id"):
        _redirect_pool(op, listener, values["redirect_pool_id"])
    if position is not None:
        new = min(position, _count(op, listener.id))
        if new != row.position:
            _shift(op, listener.id, row.position + 1, -1)  # out of its place
            s.flush()
            _shift(op, listener.id, new, 1)  # into the new one
            row.position = new
    apply_update(op, row, lb, values, UPDATABLE, (("name", ""), ("description", ""),
                                                  ("tags", [])))
    check_whole(row)
    intent_changed(listener)
    s.flush()
    return lb


def remove_rules(op: Op, policy_ids: list[str]) -> None:
    op.session.execute(delete(m.L7Rule).where(m.L7Rule.l7policy_id.in_(policy_ids)))


def delete_(op: Op, row: m.L7Policy) -> m.LoadBalancer:
    s = op.session
    listener = parent(s, m.Listener, row.listener_id, lock=False)
    lb = parent(s, m.LoadBalancer, listener.loadbalancer_id)
    s.refresh(row)
    remove_rules(op, [row.id])
    position = row.position
    remove(op, row, lb)
    _shift(op, listener.id, position + 1, -1)
    intent_changed(listener)
    s.flush()
    return lb

