"""Members: the backends of a pool, one per address and port; and the batch update.

``batch`` is Octavia's ``PUT /pools/{id}/members``: the list given becomes the pool's
members (matched by address and port: kept ones are updated, new ones created, the
rest deleted unless ``additive_only``). ``plan_batch`` is its pure decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from astara.loadbalancer_service import errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources.base import (
    Op,
    apply_update,
    check_quota,
    intent_changed,
    new_row,
    remove,
    set_values,
    touch_loadbalancer,
    with_defaults,
)

UPDATABLE = ("name", "admin_state_up", "tags", "weight", "backup", "monitor_address",
             "monitor_port")


def _status(op: Op, pool: m.Pool) -> str:
    has_monitor = op.session.scalar(select(m.HealthMonitor.id)
                                    .where(m.HealthMonitor.pool_id == pool.id))
    return "OFFLINE" if has_monitor else "NO_MONITOR"


def duplicate(address: str, port: int) -> errors.Conflict:
    return errors.Conflict(f"Another member on this pool is already using ip {address} on "
                           f"protocol_port {port}")


def _build(op: Op, pool: m.Pool, data: dict, status: str) -> m.Member:
    return new_row(m.Member, pool.project_id, operating_status=status, pool_id=pool.id,
                   name=data.get("name") or "", admin_state_up=data.get("admin_state_up", True),
                   tags=data.get("tags") or [], address=data["address"],
                   protocol_port=data["protocol_port"],
                   weight=data["weight"] if data.get("weight") is not None else 1,
                   backup=bool(data.get("backup")), subnet_id=data.get("subnet_id"),
                   monitor_address=data.get("monitor_address"),
                   monitor_port=data.get("monitor_port"))


def create(op: Op, pool: m.Pool, lb: m.LoadBalancer, data: dict) -> m.Member:
    s = op.session
    if s.scalar(select(m.Member.id).where(m.Member.pool_id == pool.id,
                                          m.Member.address == data["address"],
                                          m.Member.protocol_port == data["protocol_port"])):
        raise duplicate(data["address"], data["protocol_port"])
    check_quota(op, pool.project_id, "member")
    row = _build(op, pool, data, _status(op, pool))
    s.add(row)
    touch_loadbalancer(op, lb)
    s.flush()
    return row


def _clean(data: dict) -> dict:
    clean = with_defaults(data, (("name", ""), ("tags", []), ("weight", 1),
                                 ("backup", False)))
    if clean.get("admin_state_up") is None:
        clean.pop("admin_state_up", None)
    return clean


def update(op: Op, row: m.Member, lb: m.LoadBalancer, data: dict) -> None:
    apply_update(op, row, lb, _clean(data), UPDATABLE)


def delete_(op: Op, row: m.Member, lb: m.LoadBalancer) -> None:
    remove(op, row, lb)


@dataclass
class BatchPlan:
    create: list[dict]
    update: list[tuple[str, dict]]  # (member id, values)
    delete: list[str]


def plan_batch(existing: list[tuple[str, str, int]], wanted: list[dict],
               additive_only: bool) -> BatchPlan:
    """``existing``: (id, address, port) of the pool's members; ``wanted``: parsed items."""
    by_key = {(addr, port): id_ for id_, addr, port in existing}
    seen: set[tuple[str, int]] = set()
    plan = BatchPlan([], [], [])
    for item in wanted:
        key = (item["address"], item["protocol_port"])
        if key in seen:
            raise errors.validation(f"Member {key[0]}:{key[1]} is given more than once.")
        seen.add(key)
        if key in by_key:
            plan.update.append((by_key[key], item))
        else:
            plan.create.append(item)
    if not additive_only:
        plan.delete = [id_ for key, id_ in by_key.items() if key not in seen]
    return plan


def batch(op: Op, pool: m.Pool, lb: m.LoadBalancer,
          plan: BatchPlan) -> list[tuple[str, m.Member | str]]:
    """Apply ``plan``; (action, row or deleted id) for each change, in order."""
    s = op.session
    check_quota(op, pool.project_id, "member", len(plan.create) - len(plan.delete))
    done: list[tuple[str, m.Member | str]] = []
    for id_ in plan.delete:
        s.delete(s.get(m.Member, id_))
        done.append(("delete", id_))
    s.flush()
    for id_, item in plan.update:
        row = s.get(m.Member, id_)
        set_values(row, _clean(item), UPDATABLE)
        intent_changed(row)
        done.append(("update", row))
    status = _status(op, pool)
    for item in plan.create:
        row = _build(op, pool, item, status)
        s.add(row)
        done.append(("create", row))
    touch_loadbalancer(op, lb)
    s.flush()
    return done
