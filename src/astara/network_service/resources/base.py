"""Shared helpers of the resource modules: clock, ids, revision bumps, visibility."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from astara.bus.notifier import Notifier
from astara.common.settings import NetworkServiceSettings
from astara.network_service import errors
from astara.network_service import models as m
from astara.network_service.context import RequestContext


@dataclass
class Op:
    """Everything one write operation needs."""

    session: Session
    ctx: RequestContext
    notifier: Notifier
    settings: NetworkServiceSettings
    # Nova external events to send once the write has committed (``vif_events``).
    nova_events: list[dict] = field(default_factory=list)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


def stamp(row, **values) -> None:
    t = now()
    for key, value in values.items():
        setattr(row, key, value)
    if getattr(row, "created_at", None) is None:
        row.created_at = t
        row.revision_number = 0
    row.updated_at = t


def bump(row) -> None:
    row.updated_at = now()
    row.revision_number = (row.revision_number or 0) + 1


def network_visibility(ctx: RequestContext):
    if ctx.is_admin:
        return None
    return or_(
        m.Network.project_id == ctx.project_id, m.Network.shared, m.Network.external
    )


def can_see_network(ctx: RequestContext, row: m.Network) -> bool:
    return ctx.is_admin or row.project_id == ctx.project_id or row.shared or row.external


def get_network(s: Session, ctx: RequestContext, net_id: str) -> m.Network:
    # With its subnets in the same query: every caller reads them.
    row = s.get(m.Network, net_id, options=[joinedload(m.Network.subnets)])
    if row is None or not can_see_network(ctx, row):
        raise errors.NetworkNotFound(net_id=net_id)
    return row


def owns(ctx: RequestContext, row) -> bool:
    return ctx.is_admin or row.project_id == ctx.project_id


def get_subnet(s: Session, ctx: RequestContext, subnet_id: str) -> m.Subnet:
    row = s.get(m.Subnet, subnet_id)
    if row is None or not can_see_network(ctx, row.network):
        raise errors.SubnetNotFound(subnet_id=subnet_id)
    return row


def get_port(s: Session, ctx: RequestContext, port_id: str) -> m.Port:
    row = s.get(m.Port, port_id)
    if row is None or not owns(ctx, row):
        raise errors.PortNotFound(port_id=port_id)
    return row


def get_router(s: Session, ctx: RequestContext, router_id: str) -> m.Router:
    row = s.get(m.Router, router_id)
    if row is None or not owns(ctx, row):
        raise errors.RouterNotFound(router_id=router_id)
    return row


def get_floatingip(s: Session, ctx: RequestContext, fip_id: str) -> m.FloatingIP:
    row = s.get(m.FloatingIP, fip_id)
    if row is None or not owns(ctx, row):
        raise errors.FloatingIPNotFound(floatingip_id=fip_id)
    return row


def require_owner(ctx: RequestContext, row, action: str) -> None:
    """Members may read shared/external networks but only change their own things."""
    if not owns(ctx, row):
        raise errors.PolicyNotAuthorized(action=action)


def disassociate_floating_ips(s: Session, port_id: str) -> None:
    """Before a port goes, the floating IPs on it let go of it (Neutron's
    ``disassociate_floatingips`` on port delete), whichever API deletes the port."""
    for fip in s.scalars(select(m.FloatingIP).where(m.FloatingIP.fixed_port_id == port_id)):
        fip.fixed_port_id = None
        fip.fixed_port = None
        fip.fixed_ip_address = None
        fip.router_id = None
        bump(fip)
