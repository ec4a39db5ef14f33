"""The load-balancer service's unit of work: one transaction per API call.

``LoadBalancerService`` checks the caller's role, runs what needs the network API
before the transaction (a new VIP port, a member's subnet), then opens the write
transaction, runs the resource's rule, queues the notifications with it and
commits. A VIP port made for a load balancer whose row could not be written is
deleted again; one of a deleted load balancer is kept (``models.VipRelease``) until the
orchestrator, having seen its appliance gone, asks for it to be deleted
(``release_vip_ports``). Reads apply project scoping in SQL and the list semantics in ``query``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from astara.bus.base import Publisher
from astara.db.engine import Database
from astara.loadbalancer_service import errors, paging, query, reads, statuses, views
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.network import Network
from astara.loadbalancer_service.notifier import LoadBalancerNotifier
from astara.loadbalancer_service.reads import view
from astara.loadbalancer_service.resources import (
    base,
    failover,
    healthmonitors,
    l7policies,
    l7rules,
    listeners,
    loadbalancers,
    members,
    pools,
    stats,
    status_report,
)
from astara.loadbalancer_service.settings import LoadBalancerSettings
from astara.loadbalancer_service.vip import allocate

LOG = logging.getLogger(__name__)
PROVIDERS = {"astara": "The Astara driver: one haproxy appliance per load balancer "
                       "(orchestrator driver: not yet)."}
KIND = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool",
        "members": "member", "healthmonitors": "healthmonitor", "l7policies": "l7policy",
        "rules": "l7rule"}
HANDLERS = {"listeners": listeners, "pools": pools, "healthmonitors": healthmonitors,
            "l7policies": l7policies}


class LoadBalancerService:
    def __init__(self, db: Database, publisher: Publisher, network: Network,
                 settings: LoadBalancerSettings):
        self.db = db
        self.publisher = publisher
        self.network = network
        self.settings = settings

    def _write(self, ctx: RequestContext, work: Callable[[base.Op], Any]) -> Any:
        result = self._commit(ctx, work)
        self.publisher.committed()
        return result

    def _commit(self, ctx: RequestContext, work: Callable[[base.Op], Any]) -> Any:
        with self.db.write() as session:
            notifier = LoadBalancerNotifier(self.publisher, session, ctx, self.settings.host)
            result = work(base.Op(session, ctx, notifier, self.settings))
            notifier.flush()
        return result

    # -- load balancers -------------------------------------------------------------
    def create_loadbalancer(self, ctx: RequestContext, data: dict) -> dict:
        project_id = _project(ctx, data)
        provider = data.get("provider") or "astara"
        if provider not in PROVIDERS:
            raise errors.BadRequest(f"Provider '{errors.shorten(provider, 64)}' is not "
                                    "enabled.")
        if data.get("flavor_id"):
            raise errors.validation("Invalid flavor_id.")
        if not any(data.get(k) for k in ("vip_port_id", "vip_network_id", "vip_subnet_id")):
            raise errors.validation("VIP must contain one of: vip_port_id, vip_network_id, "
                                    "vip_subnet_id.")
        lb_id = base.new_id()
        with self.db.read() as s:  # refused early, before a port is made
            self._quota_early(s, project_id)
        # The port is looked up as the caller first: another project's port is "not
        # found" to it, never "already a VIP" (which would say that it exists).
        vip = allocate(self.network, ctx, data, lb_id, project_id)

        def work(op: base.Op) -> dict:
            if not vip.owned and op.session.scalar(select(m.LoadBalancer.id).where(
                    m.LoadBalancer.vip_port_id == vip.port_id)):
                raise errors.Conflict(f"Port {vip.port_id} is already the VIP of a load "
                                      "balancer.")  # and the unique index, for a race
            row = loadbalancers.create(op, lb_id, project_id, data, vip, provider)
            out = view(op.session, "loadbalancers", row)
            op.notifier.changed("loadbalancer", "create", out, row.id, row.id)
            return out

        try:
            out = self._commit(ctx, work)
        except BaseException:  # never committed: the port we made goes again
            if vip.owned:
                self._release_port(ctx, vip.port_id)
            raise
        self.publisher.committed()
        return out

    def _quota_early(self, s: Session, project_id: str) -> None:
        limit = base.quota_limit(s, self.settings, project_id, "loadbalancer")
        if limit >= 0 and len(s.scalars(select(m.LoadBalancer.id).where(
                m.LoadBalancer.project_id == project_id).limit(limit + 1)).all()) >= limit:
            raise errors.quota_met("loadbalancer")

    def _release_port(self, ctx: RequestContext, port_id: str) -> None:
        try:
            self.network.delete_port(ctx, port_id)
        except Exception as exc:  # the answer is the write's; a leaked port is logged
            LOG.warning("VIP port %s could not be deleted: %s", port_id, exc)

    def delete_loadbalancer(self, ctx: RequestContext, lb_id: str, cascade: bool) -> None:
        def work(op: base.Op) -> None:
            row = base.get(op.session, ctx, "loadbalancer", m.LoadBalancer, lb_id, lock=True)
            if row.vip_port_owned:  # its appliance may still answer on the address
                op.session.add(m.VipRelease(port_id=row.vip_port_id, loadbalancer_id=lb_id,
                                            project_id=row.project_id, created_at=base.now()))
            loadbalancers.delete_(op, row, cascade)
            op.notifier.changed("loadbalancer", "delete", None, lb_id, lb_id)

        self._write(ctx, work)

    # -- VIP ports of deleted load balancers (the orchestrator's, admin only) ----------
    def vip_ports(self, ctx: RequestContext) -> list[dict]:
        """The VIP ports still to be deleted, oldest first."""
        if not ctx.is_admin:
            raise errors.Forbidden()
        with self.db.read() as s:
            rows = s.scalars(select(m.VipRelease).order_by(m.VipRelease.created_at,
                                                           m.VipRelease.port_id))
            return [{"port_id": r.port_id, "loadbalancer_id": r.loadbalancer_id,
                     "project_id": r.project_id} for r in rows]

    def release_vip_ports(self, ctx: RequestContext, lb_id: str) -> None:
        """Delete the VIP ports of the deleted load balancer ``lb_id`` (none: done). The
        orchestrator calls it once the appliance is gone; a port whose deletion fails
        stays recorded and the call answers 409, to be retried."""
        if not ctx.is_admin:
            raise errors.Forbidden()
        with self.db.read() as s:
            if s.get(m.LoadBalancer, lb_id) is not None:
                raise errors.Conflict(f"Load Balancer {lb_id} still exists: its VIP port "
                                      "is in use.")
            ports = list(s.scalars(select(m.VipRelease.port_id).where(
                m.VipRelease.loadbalancer_id == lb_id)))
        for port_id in ports:
            with self.db.read() as s:
                reused = s.scalar(select(m.LoadBalancer.id).where(
                    m.LoadBalancer.vip_port_id == port_id))
            if reused is not None:
                # Given again as another load balancer's VIP (``vip_port_id``): that
                # one holds it now; only the record goes.
                LOG.info("VIP port %s of deleted load balancer %s is now the VIP of %s: "
                         "kept", port_id, lb_id, reused)
                with self.db.write() as s:
                    s.execute(delete(m.VipRelease).where(m.VipRelease.port_id == port_id))
                continue
            try:
                self.network.delete_port(ctx, port_id)  # one already gone is fine
            except errors.Unavailable:
                raise
            except Exception as exc:
                LOG.warning("VIP port %s could not be deleted yet: %s", port_id, exc)
                raise errors.Conflict(f"VIP port {port_id} could not be deleted yet; "
                                      "retry it.") from None
            with self.db.write() as s:
                s.execute(delete(m.VipRelease).where(m.VipRelease.port_id == port_id))

    # -- every resource ---------------------------------------------------------------
    def create(self, ctx: RequestContext, plural: str, data: dict) -> dict:
        _project(ctx, data)
        kind = KIND[plural]

        def work(op: base.Op) -> dict:
            row, lb = HANDLERS[plural].create(op, data)
            out = view(op.session, plural, row)
            op.notifier.changed(kind, "create", out, row.id, lb.id)
            return out

        return self._write(ctx, work)

    def update(self, ctx: RequestContext, plural: str, id_: str, data: dict) -> dict:
        kind = KIND[plural]

        def work(op: base.Op) -> dict:
            # A load balancer is locked as its children lock it: a status report
            # between the read and the write would be overwritten from a stale row.
            row = base.get(op.session, ctx, kind, views.MODELS[plural], id_,
                           lock=plural == "loadbalancers")
            if plural == "loadbalancers":
                loadbalancers.update(op, row, data)
                lb_id = row.id
            else:
                lb_id = HANDLERS[plural].update(op, row, data).id
            out = view(op.session, plural, row)
            op.notifier.changed(kind, "update", out, row.id, lb_id)
            return out

        return self._write(ctx, work)

    def delete(self, ctx: RequestContext, plural: str, id_: str) -> None:
        kind = KIND[plural]

        def work(op: base.Op) -> None:
            row = base.get(op.session, ctx, kind, views.MODELS[plural], id_)
            lb = HANDLERS[plural].delete_(op, row)
            op.notifier.changed(kind, "delete", None, id_, lb.id)

        self._write(ctx, work)

    def show(self, ctx: RequestContext, plural: str, id_: str) -> dict:
        with self.db.read() as s:
            return view(s, plural, base.get(s, ctx, KIND[plural], views.MODELS[plural], id_))

    def list(self, ctx: RequestContext, plural: str, q: query.ListQuery,
             pool_id: str | None = None, l7policy_id: str | None = None) -> list[dict]:
        model = views.MODELS[plural]
        for wanted in q.filters.get("project_id", []) + q.filters.get("tenant_id", []):
            ctx.require_owner(wanted)
        with self.db.read() as s:
            stmt = select(model)
            if pool_id is not None:
                base.get(s, ctx, "pool", m.Pool, pool_id)
                stmt = stmt.where(model.pool_id == pool_id)
            if l7policy_id is not None:
                base.get(s, ctx, "l7policy", m.L7Policy, l7policy_id)
                stmt = stmt.where(model.l7policy_id == l7policy_id)
            if not ctx.is_admin:
                stmt = stmt.where(model.project_id == ctx.project_id)
            if paging.sql_able(model, q):  # only the page's rows are read
                return reads.views_of(s, plural, paging.page(s, stmt, model, q))
            for key in ("loadbalancer_id", "pool_id", "listener_id", "l7policy_id", "id",
                        "name", "protocol", "provisioning_status"):
                values = q.filters.get(key)
                column = getattr(model, key, None)
                if values and column is not None:
                    stmt = stmt.where(column.in_(values))
            items = reads.views_of(s, plural, list(s.scalars(stmt)))
        sql_only = views.SQL_ONLY[plural]
        rest = replace(q, filters={k: v for k, v in q.filters.items() if k not in sql_only})
        return query.apply(items, rest)

    # -- the orchestrator's endpoints (admin only) and the status tree ---------------
    def model(self, ctx: RequestContext, lb_id: str) -> dict:
        """The load balancer and everything under it, in one consistent snapshot."""
        if not ctx.is_admin:
            raise errors.Forbidden()
        with self.db.read() as s:
            if not self.db.is_sqlite:  # one snapshot for every query (SQLite's read is)
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            lb = base.get(s, ctx, "loadbalancer", m.LoadBalancer, lb_id)
            return reads.model(s, lb)

    def snapshot(self, ctx: RequestContext, lb_id: str) -> dict:
        """``model`` for whoever may read the load balancer (the Neutron LBaaS v2
        status tree is built from it)."""
        with self.db.read() as s:
            if not self.db.is_sqlite:
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return reads.model(s, base.get(s, ctx, "loadbalancer", m.LoadBalancer, lb_id))

    def report_statuses(self, ctx: RequestContext, lb_id: str,
                        report: statuses.StatusReport) -> None:
        if not ctx.is_admin:
            raise errors.Forbidden()
        with self.db.write() as s:
            lb = base.get(s, ctx, "loadbalancer", m.LoadBalancer, lb_id, lock=True)
            status_report.apply(s, lb, report)
            stats.record(s, lb, report)

    def stats(self, ctx: RequestContext, plural: str, id_: str) -> dict:
        """Octavia's ``GET .../{loadbalancers,listeners}/{id}/stats`` (scoped as reads)."""
        with self.db.read() as s:
            row = base.get(s, ctx, KIND[plural], views.MODELS[plural], id_)
            if plural == "listeners":
                return stats.listener(s, row.id)
            return stats.loadbalancer(s, row.id)

    def failover(self, ctx: RequestContext, lb_id: str) -> None:
        """Admin only; as Octavia, an unknown load balancer is 404 to anyone."""
        def work(op: base.Op) -> None:
            row = base.get(op.session, ctx, "loadbalancer", m.LoadBalancer, lb_id, lock=True)
            if not ctx.is_admin:
                raise errors.Forbidden()
            failover.failover(op, row)
            op.notifier.changed("loadbalancer", "update", view(op.session, "loadbalancers",
                                                               row), row.id, row.id)

        self._write(ctx, work)

    def status_tree(self, ctx: RequestContext, lb_id: str) -> dict:
        with self.db.read() as s:
            lb = base.get(s, ctx, "loadbalancer", m.LoadBalancer, lb_id)
            return reads.status_tree(s, lb)

    # -- members of a pool ----------------------------------------------------------
    def _pool(self, s: Session, ctx: RequestContext, pool_id: str) -> tuple[m.Pool,
                                                                              m.LoadBalancer]:
        pool = base.get(s, ctx, "pool", m.Pool, pool_id)
        lb = base.get(s, ctx, "loadbalancer", m.LoadBalancer, pool.loadbalancer_id, lock=True)
        return pool, lb

    def _check_subnets(self, ctx: RequestContext, items: list[dict]) -> None:
        """A member's subnet must be one the caller sees (asked before the transaction)."""
        for subnet_id in sorted({i["subnet_id"] for i in items if i.get("subnet_id")}):
            if self.network.get(ctx, "subnet", subnet_id) is None:
                raise errors.BadRequest(f"Subnet {subnet_id} not found.")

    def create_member(self, ctx: RequestContext, pool_id: str, data: dict) -> dict:
        _project(ctx, data)
        with self.db.read() as s:
            owner = s.scalar(select(m.Pool.project_id).where(m.Pool.id == pool_id))
        if owner is None:
            # Octavia answers this one in pecan's format, titled "Bad Request".
            raise errors.FrameworkError(404, f"Pool {errors.shorten(pool_id, 64)} not "
                                        "found.", title="Bad Request")
        ctx.require_owner(owner, "pool", pool_id)  # 403, before any subnet lookup
        self._check_subnets(ctx, [data])

        def work(op: base.Op) -> dict:
            pool, lb = self._pool(op.session, ctx, pool_id)
            row = members.create(op, pool, lb, data)
            out = view(op.session, "members", row)
            op.notifier.changed("member", "create", out, row.id, lb.id)
            return out

        return self._write(ctx, work)

    def _member(self, s: Session, ctx: RequestContext, pool_id: str, member_id: str):
        pool, lb = self._pool(s, ctx, pool_id)
        row = s.get(m.Member, member_id)
        if row is None or row.pool_id != pool.id:
            raise errors.not_found("member", member_id)
        return row, lb

    def show_member(self, ctx: RequestContext, pool_id: str, member_id: str) -> dict:
        with self.db.read() as s:
            pool = base.get(s, ctx, "pool", m.Pool, pool_id)
            row = s.get(m.Member, member_id)
            if row is None or row.pool_id != pool.id:
                raise errors.not_found("member", member_id)
            return view(s, "members", row)

    def update_member(self, ctx: RequestContext, pool_id: str, member_id: str,
                      data: dict) -> dict:
        def work(op: base.Op) -> dict:
            row, lb = self._member(op.session, ctx, pool_id, member_id)
            members.update(op, row, lb, data)
            out = view(op.session, "members", row)
            op.notifier.changed("member", "update", out, row.id, lb.id)
            return out

        return self._write(ctx, work)

    def delete_member(self, ctx: RequestContext, pool_id: str, member_id: str) -> None:
        def work(op: base.Op) -> None:
            row, lb = self._member(op.session, ctx, pool_id, member_id)
            members.delete_(op, row, lb)
            op.notifier.changed("member", "delete", None, member_id, lb.id)

        self._write(ctx, work)

    def batch_members(self, ctx: RequestContext, pool_id: str, items: list[dict],
                      additive_only: bool) -> None:
        for item in items:
            _project(ctx, item)
        with self.db.read() as s:  # another project's pool: 403 before any network call
            base.get(s, ctx, "pool", m.Pool, pool_id)
        self._check_subnets(ctx, items)

        def work(op: base.Op) -> None:
            s = op.session
            pool, lb = self._pool(s, ctx, pool_id)
            existing = list(s.execute(select(m.Member.id, m.Member.address,
                                             m.Member.protocol_port)
                                      .where(m.Member.pool_id == pool.id)))
            plan = members.plan_batch([tuple(r) for r in existing], items, additive_only)
            for action, row in members.batch(op, pool, lb, plan):
                if action == "delete":
                    op.notifier.changed("member", "delete", None, row, lb.id)
                else:
                    op.notifier.changed("member", action, view(s, "members", row), row.id, lb.id)

        self._write(ctx, work)

    # -- rules of an L7 policy -------------------------------------------------------
    def create_rule(self, ctx: RequestContext, policy_id: str, data: dict) -> dict:
        _project(ctx, data)
        with self.db.read() as s:
            owner = s.scalar(select(m.L7Policy.project_id).where(m.L7Policy.id == policy_id))
        if owner is None:
            # Octavia answers this one in pecan's format, titled "Bad Request".
            raise errors.FrameworkError(404, f"L7Policy {errors.shorten(policy_id, 64)} not "
                                        "found.", title="Bad Request")
        ctx.require_owner(owner)

        def work(op: base.Op) -> dict:
            policy, lb = self._policy(op, ctx, policy_id)
            row = l7rules.create(op, policy, lb, data)
            out = view(op.session, "rules", row)
            op.notifier.changed("l7rule", "create", out, row.id, lb.id)
            return out

        return self._write(ctx, work)

    def _policy(self, op: base.Op, ctx: RequestContext, policy_id: str):
        base.get(op.session, ctx, "l7policy", m.L7Policy, policy_id)
        return l7rules.under(op, policy_id)

    def _rule(self, op: base.Op, ctx: RequestContext, policy_id: str, rule_id: str):
        policy, lb = self._policy(op, ctx, policy_id)
        row = op.session.get(m.L7Rule, rule_id)
        if row is None or row.l7policy_id != policy.id:
            raise errors.not_found("l7rule", rule_id)
        return row, policy, lb

    def show_rule(self, ctx: RequestContext, policy_id: str, rule_id: str) -> dict:
        with self.db.read() as s:
            policy = base.get(s, ctx, "l7policy", m.L7Policy, policy_id)
            row = s.get(m.L7Rule, rule_id)
            if row is None or row.l7policy_id != policy.id:
                raise errors.not_found("l7rule", rule_id)
            return view(s, "rules", row)

    def update_rule(self, ctx: RequestContext, policy_id: str, rule_id: str,
                    data: dict) -> dict:
        def work(op: base.Op) -> dict:
            row, policy, lb = self._rule(op, ctx, policy_id, rule_id)
            l7rules.update(op, row, policy, lb, data)
            out = view(op.session, "rules", row)
            op.notifier.changed("l7rule", "update", out, row.id, lb.id)
            return out

        return self._write(ctx, work)

    def delete_rule(self, ctx: RequestContext, policy_id: str, rule_id: str) -> None:
        def work(op: base.Op) -> None:
            row, policy, lb = self._rule(op, ctx, policy_id, rule_id)
            l7rules.delete_(op, row, policy, lb)
            op.notifier.changed("l7rule", "delete", None, rule_id, lb.id)

        self._write(ctx, work)

    # -- quotas -----------------------------------------------------------------------
    def quota(self, ctx: RequestContext, project_id: str) -> dict:
        ctx.require_owner(project_id)
        with self.db.read() as s:
            row = s.get(m.Quota, project_id)
            return self._quota_view(project_id, row)

    def _quota_view(self, project_id: str, row: m.Quota | None) -> dict:
        values = {k: (getattr(row, k) if row is not None and getattr(row, k) is not None
                      else self.settings.quota(k)) for k in base.QUOTA_COLUMNS.keys()
                  | {"l7policy", "l7rule"}}
        return {"project_id": project_id, "loadbalancer": values["loadbalancer"],
                "load_balancer": values["loadbalancer"], "listener": values["listener"],
                "member": values["member"], "pool": values["pool"],
                "healthmonitor": values["healthmonitor"],
                "health_monitor": values["healthmonitor"], "l7policy": values["l7policy"],
                "l7rule": values["l7rule"], "tenant_id": project_id}

    def quota_defaults(self) -> dict:
        out = self._quota_view("", None)
        for key in ("project_id", "tenant_id"):
            out.pop(key)
        return out

    def list_quotas(self, ctx: RequestContext) -> list[dict]:
        with self.db.read() as s:
            stmt = select(m.Quota).order_by(m.Quota.project_id)
            if not ctx.is_admin:
                stmt = stmt.where(m.Quota.project_id == ctx.project_id)
            return [self._quota_view(r.project_id, r) for r in s.scalars(stmt)]

    def set_quota(self, ctx: RequestContext, project_id: str, values: dict | None) -> dict:
        def work(op: base.Op) -> dict:
            row = op.session.get(m.Quota, project_id)
            if row is None:
                row = m.Quota(project_id=project_id)
                op.session.add(row)
            for key in ("loadbalancer", "listener", "pool", "member", "healthmonitor",
                        "l7policy", "l7rule"):
                setattr(row, key, None if values is None else values.get(key,
                                                                          getattr(row, key)))
            op.session.flush()
            return self._quota_view(project_id, row)

        return self._write(ctx, work)


def _project(ctx: RequestContext, data: dict) -> str:
    """The project an object is made for: the caller's, or any an admin names."""
    wanted = data.get("project_id")
    if wanted and wanted != ctx.project_id and not ctx.is_admin:
        raise errors.Forbidden()
    return wanted or ctx.project_id
