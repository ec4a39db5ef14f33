"""Reading load balancers for answers: relation ids for views, the orchestrator's model
of one load balancer, and Octavia's status tree.

Views are built from rows plus the ids of their relations (``views.Related``), read
here in a few queries for a whole page of rows, so a view does no query of its own.
``model`` and ``status_tree`` read one load balancer and every object under it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.loadbalancer_service import models as m
from astara.loadbalancer_service import views


def related(s: Session, plural: str, rows: list) -> views.Related:
    """The relation ids the views of ``rows`` show, in a few queries for all of them."""
    rel = views.Related()
    ids = [r.id for r in rows]
    if not ids:
        return rel
    if plural == "loadbalancers":
        for lb_id, id_ in s.execute(select(m.Listener.loadbalancer_id, m.Listener.id)
                                    .where(m.Listener.loadbalancer_id.in_(ids))
                                    .order_by(m.Listener.created_at, m.Listener.id)):
            rel.listeners.setdefault(lb_id, []).append(id_)
        for lb_id, id_ in s.execute(select(m.Pool.loadbalancer_id, m.Pool.id)
                                    .where(m.Pool.loadbalancer_id.in_(ids))
                                    .order_by(m.Pool.created_at, m.Pool.id)):
            rel.pools.setdefault(lb_id, []).append(id_)
    elif plural == "listeners":
        for listener_id, id_ in s.execute(select(m.L7Policy.listener_id, m.L7Policy.id)
                                          .where(m.L7Policy.listener_id.in_(ids))
                                          .order_by(m.L7Policy.position, m.L7Policy.id)):
            rel.l7policies.setdefault(listener_id, []).append(id_)
    elif plural == "l7policies":
        for policy_id, id_ in s.execute(select(m.L7Rule.l7policy_id, m.L7Rule.id)
                                        .where(m.L7Rule.l7policy_id.in_(ids))
                                        .order_by(m.L7Rule.created_at, m.L7Rule.id)):
            rel.rules.setdefault(policy_id, []).append(id_)
    elif plural == "pools":
        for pool_id, id_ in s.execute(select(m.Listener.default_pool_id, m.Listener.id)
                                      .where(m.Listener.default_pool_id.in_(ids))):
            rel.pool_listeners.setdefault(pool_id, []).append(id_)
        for pool_id, id_ in s.execute(select(m.Member.pool_id, m.Member.id)
                                      .where(m.Member.pool_id.in_(ids))
                                      .order_by(m.Member.created_at, m.Member.id)):
            rel.members.setdefault(pool_id, []).append(id_)
        for pool_id, id_ in s.execute(select(m.HealthMonitor.pool_id, m.HealthMonitor.id)
                                      .where(m.HealthMonitor.pool_id.in_(ids))):
            rel.monitor[pool_id] = id_
    return rel


def view(s: Session, plural: str, row) -> dict:
    return views.VIEWS[plural](row, related(s, plural, [row]))


def views_of(s: Session, plural: str, rows: list) -> list[dict]:
    rel = related(s, plural, rows)
    return [views.VIEWS[plural](row, rel) for row in rows]


def children(s: Session, lb_id: str) -> dict[str, list]:
    """Every row under a load balancer, by plural, in Octavia's order (creation, id)."""
    pool_ids = select(m.Pool.id).where(m.Pool.loadbalancer_id == lb_id)
    listener_ids = select(m.Listener.id).where(m.Listener.loadbalancer_id == lb_id)
    policy_ids = select(m.L7Policy.id).where(m.L7Policy.listener_id.in_(listener_ids))
    under = {m.Listener: m.Listener.loadbalancer_id == lb_id,
             m.Pool: m.Pool.loadbalancer_id == lb_id,
             m.Member: m.Member.pool_id.in_(pool_ids),
             m.HealthMonitor: m.HealthMonitor.pool_id.in_(pool_ids),
             m.L7Policy: m.L7Policy.listener_id.in_(listener_ids),
             m.L7Rule: m.L7Rule.l7policy_id.in_(policy_ids)}
    plurals = {m.Listener: "listeners", m.Pool: "pools", m.Member: "members",
               m.HealthMonitor: "healthmonitors", m.L7Policy: "l7policies",
               m.L7Rule: "l7rules"}
    return {plurals[model]: list(s.scalars(select(model).where(where)
                                           .order_by(model.created_at, model.id)))
            for model, where in under.items()}


def model(s: Session, lb: m.LoadBalancer) -> dict:
    """What the orchestrator builds an appliance from: the revision and every view."""
    out: dict = {"revision": lb.revision, "failover_count": lb.failover_count,
                 "loadbalancer": view(s, "loadbalancers", lb)}
    for plural, rows in children(s, lb.id).items():
        if plural == "l7rules":  # a rule's public view does not name its policy
            out[plural] = [{**v, "l7policy_id": r.l7policy_id}
                           for r, v in zip(rows, views_of(s, "rules", rows), strict=True)]
        else:
            out[plural] = views_of(s, plural, rows)
    # The bundles the listeners' references name: in no public view, only here (admin
    # only), for the appliance's haproxy.
    listener_ids = [x["id"] for x in out["listeners"]]
    found = s.scalars(select(m.ListenerCertificate).where(
        m.ListenerCertificate.listener_id.in_(listener_ids))) if listener_ids else []
    out["certificates"] = [{"ref": ref, "pem": pem} for ref, pem in
                           sorted({c.ref: c.pem for c in found}.items())]
    return out


def _statuses(row) -> dict:
    return {"id": row.id, "name": row.name, "operating_status": row.operating_status,
            "provisioning_status": row.provisioning_status}


def status_tree(s: Session, lb: m.LoadBalancer) -> dict:
    """Octavia's ``GET /loadbalancers/{id}/status``: listeners, the pools they send to
    (the default pool, then those of its L7 policies), their monitor and members."""
    rows = children(s, lb.id)
    members: dict[str, list[dict]] = {}
    for member in rows["members"]:
        members.setdefault(member.pool_id, []).append(
            {**_statuses(member), "address": member.address,
             "protocol_port": member.protocol_port})
    monitors = {hm.pool_id: {**_statuses(hm), "type": hm.type}
                for hm in rows["healthmonitors"]}
    pools = {}
    for pool in rows["pools"]:
        out = _statuses(pool)
        if pool.id in monitors:  # Octavia leaves the key out for a pool without one
            out["health_monitor"] = monitors[pool.id]
        out["members"] = members.get(pool.id, [])
        pools[pool.id] = out
    targets: dict[str, list[str]] = {}
    for policy in sorted(rows["l7policies"], key=lambda p: p.position):
        if policy.redirect_pool_id:
            targets.setdefault(policy.listener_id, []).append(policy.redirect_pool_id)
    listeners = []
    for listener in rows["listeners"]:
        used = list(dict.fromkeys([listener.default_pool_id,
                                   *targets.get(listener.id, [])]))
        listeners.append({**_statuses(listener),
                          "pools": [pools[p] for p in used if p in pools]})
    return {"statuses": {"loadbalancer": {**_statuses(lb), "listeners": listeners}}}
