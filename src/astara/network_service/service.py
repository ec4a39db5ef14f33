"""The network service's unit of work: one transaction per API call.

``NetworkService`` opens the transaction, runs the resource's business rule,
queues the ``.start``/``.end`` notifications with it, commits, then wakes bus
consumers and hands Nova's external events to its notifier. Reads apply
visibility and column filters in SQL and the rest of the list semantics in
``query``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import false, or_, select

from astara.bus.base import Publisher
from astara.bus.notifier import Notifier
from astara.common.settings import NetworkServiceSettings
from astara.db.engine import Database
from astara.network_service import attributes as A
from astara.network_service import errors, query, views
from astara.network_service import models as m
from astara.network_service.context import RequestContext
from astara.network_service.nova_notifier import NovaNotifier
from astara.network_service.resources import (
    base,
    byonfs,
    floatingips,
    interfaces,
    networks,
    ports,
    router_model,
    routers,
    subnets,
)

MODELS = {
    "networks": m.Network,
    "subnets": m.Subnet,
    "ports": m.Port,
    "routers": m.Router,
    "floatingips": m.FloatingIP,
    "byonfs": m.Byonf,
}
HANDLERS = {
    "networks": networks,
    "subnets": subnets,
    "ports": ports,
    "routers": routers,
    "floatingips": floatingips,
    "byonfs": byonfs,
}
GETTERS = {
    "networks": base.get_network,
    "subnets": base.get_subnet,
    "ports": base.get_port,
    "routers": base.get_router,
    "floatingips": base.get_floatingip,
    "byonfs": byonfs.get_byonf,
}


class NetworkService:
    def __init__(self, db: Database, publisher: Publisher, settings: NetworkServiceSettings,
                 nova: NovaNotifier | None = None):
        self.db = db
        self.publisher = publisher
        self.settings = settings
        self.nova = nova  # None: Nova is told nothing

    def _write(self, ctx: RequestContext, work: Callable[[base.Op], Any]) -> Any:
        with self.db.write() as session:
            notifier = Notifier(self.publisher, session, ctx, self.settings.host)
            op = base.Op(session, ctx, notifier, self.settings)
            result = work(op)
            notifier.flush()
        self.publisher.committed()
        if op.nova_events and self.nova is not None:
            self.nova.send(op.nova_events)  # only queued: the caller does not wait for Nova
        return result

    def close(self) -> None:
        if self.nova is not None:
            self.nova.close()

    def create(self, ctx: RequestContext, plural: str, items: list[dict],
               raw: list[dict]) -> list[dict]:
        resource = A.RESOURCES[plural]
        view = views.VIEWS[plural]

        def work(op: base.Op) -> list[dict]:
            out = []
            for data, body in zip(items, raw, strict=True):
                op.notifier.emit(f"{resource.name}.create.start", {resource.name: body})
                row = HANDLERS[plural].create(op, data)
                out.append(view(row, ctx, created=True) if plural == "networks" else view(row, ctx))
            return out

        return self._write(ctx, work)

    def update(self, ctx: RequestContext, plural: str, id_: str, data: dict, raw: dict) -> dict:
        return self._write(ctx, lambda op: _update_one(op, ctx, plural, id_, data, raw))

    def bind_ports(self, ctx: RequestContext, bindings: list[tuple[str, dict, dict]]
                   ) -> list[dict]:
        """Several ports' updates (``(id, data, raw)``, each a parsed ``binding:host_id``
        body) in one transaction: all or none. Each is what ``update`` of that port
        does, its notifications included."""
        return self._write(ctx, lambda op: [_update_one(op, ctx, "ports", id_, data, raw)
                                            for id_, data, raw in bindings])

    def delete(self, ctx: RequestContext, plural: str, id_: str) -> None:
        resource = A.RESOURCES[plural]

        def work(op: base.Op) -> None:
            found = GETTERS[plural](op.session, ctx, id_)  # held, as in update
            op.notifier.emit(f"{resource.name}.delete.start", {f"{resource.name}_id": id_})
            HANDLERS[plural].delete_(op, id_)
            del found

        self._write(ctx, work)

    def router_interface(self, ctx: RequestContext, router_id: str, body: Any,
                         add: bool) -> dict:
        action = interfaces.add if add else interfaces.remove
        return self._write(ctx, lambda op: action(op, router_id, body))

    def router_model(self, ctx: RequestContext, router_id: str) -> dict:
        with self.db.read() as s:
            return router_model.model(s, ctx, router_id)

    def show(self, ctx: RequestContext, plural: str, id_: str) -> dict:
        with self.db.read() as s:
            return views.VIEWS[plural](GETTERS[plural](s, ctx, id_), ctx)

    def list(self, ctx: RequestContext, plural: str, q: query.ListQuery) -> tuple[
        list[dict], bool
    ]:
        resource = A.RESOURCES[plural]
        model = MODELS[plural]
        with self.db.read() as s:
            stmt = select(model)
            cond = _visibility(plural, ctx)
            if cond is not None:
                stmt = stmt.where(cond)
            rest: dict[str, list[str]] = {}
            by_device = plural == "ports" and _names_devices(q.filters.get("device_id"))
            for key, values in q.filters.items():
                attr = resource.attrs.get(key)
                column = getattr(model, attr.filter_key, None) if attr and attr.filter_key \
                    else None
                rest[key] = values  # always re-checked on the view (bools, nulls)
                sql_values = _column_values(column, values)
                if sql_values is None:
                    continue
                if by_device and key != "device_id" and column.type.python_type is str:
                    # A device has a few ports; the management network (say) has one per
                    # router. SQLite, without statistics, would walk that network's index:
                    # the other columns are compared on the rows the device's index finds.
                    stmt = stmt.where(column.concat("").in_(sql_values))
                else:
                    stmt = stmt.where(column.in_(sql_values))
            if "fixed_ips" in q.filters and plural == "ports":
                stmt = stmt.where(_fixed_ip_filter(q.filters["fixed_ips"]))
            view = views.VIEWS[plural]
            items = [view(row, ctx) for row in s.scalars(stmt).unique()]
        items = [it for it in items if query.matches(it, rest)]
        return query.page(items, q)


def _names_devices(values: list[str] | None) -> bool:
    """A filter on devices (not on the ports with none, which are many)."""
    return bool(values) and all(values)


def _column_values(column, values: list[str]) -> list | None:
    """Values to narrow the SQL query with, or None to filter on the views only."""
    if column is None:
        return None
    kind = column.type.python_type
    if kind is str:
        return values
    if kind is int:
        try:
            numbers = [int(v) for v in values]
        except ValueError:
            return []
        # Beyond a 32-bit column nothing matches; the database would refuse to compare.
        return [n for n in numbers if -2**31 <= n < 2**31]
    return None


def _visibility(plural: str, ctx: RequestContext):
    if ctx.is_admin:
        return None
    if plural == "byonfs":
        return false()  # admin only: a member's list is empty, as under Neutron's policy
    if plural == "networks":
        return base.network_visibility(ctx)
    if plural == "subnets":
        visible_nets = select(m.Network.id).where(base.network_visibility(ctx))
        return or_(m.Subnet.project_id == ctx.project_id, m.Subnet.network_id.in_(visible_nets))
    return MODELS[plural].project_id == ctx.project_id


def _fixed_ip_filter(values: list[str]):
    conds = []
    for value in values:
        key, _, wanted = value.partition("=")
        column = {"ip_address": m.IPAllocation.ip_address,
                  "subnet_id": m.IPAllocation.subnet_id}.get(key)
        if column is None:
            raise errors.bad_attr(f"Invalid fixed_ips filter '{errors.shorten(value)}'")
        conds.append(column == wanted)
    sub = select(m.IPAllocation.port_id)
    for cond in conds:
        sub = sub.where(cond)
    return m.Port.id.in_(sub)


def _update_one(op: base.Op, ctx: RequestContext, plural: str, id_: str, data: dict,
                raw: dict) -> dict:
    """One resource's update inside ``op``'s transaction, its notifications included."""
    name = A.RESOURCES[plural].name
    # Held until the handler has read it again: the session keeps rows weakly,
    # so a row let go would be read again from the database (and its IPs).
    found = GETTERS[plural](op.session, ctx, id_)
    op.notifier.emit(f"{name}.update.start", {name: raw, "id": id_})
    row = HANDLERS[plural].update(op, id_, data)
    del found
    return views.VIEWS[plural](row, ctx)
