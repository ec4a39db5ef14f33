"""A router's ports, read and written through the router-port association only.

``net_router_ports`` says which ports are a router's and in which role (interface,
gateway, management). The router API writes it; every question "which ports does
this router have", "is this port a router's" is answered from it, never from a
port's ``device_id``/``device_owner``, which the port's owner can write.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from astara.network_service import models as m
from astara.network_service.port_policy import FLOATINGIP, INTERFACE, ROUTER_HELD


def ports_of(s: Session, router_id: str, *port_types: str) -> list[m.Port]:
    q = select(m.Port).join(m.RouterPort, m.RouterPort.port_id == m.Port.id).where(
        m.RouterPort.router_id == router_id)
    if port_types:
        q = q.where(m.RouterPort.port_type.in_(port_types))
    return list(s.scalars(q.order_by(m.Port.created_at, m.Port.id)))


def role_of(s: Session, port_id: str) -> tuple[str, str] | None:
    """(router id, port type) of a router's port, or None."""
    row = s.execute(select(m.RouterPort.router_id, m.RouterPort.port_type).where(
        m.RouterPort.port_id == port_id)).first()
    return (row[0], row[1]) if row else None


def attach(s: Session, router_id: str, port: m.Port, port_type: str) -> None:
    s.add(m.RouterPort(router_id=router_id, port_id=port.id, port_type=port_type))
    s.flush()


def detach(s: Session, port_id: str) -> None:
    s.execute(delete(m.RouterPort).where(m.RouterPort.port_id == port_id))


def held_by(s: Session, port_id: str) -> str | None:
    """The role that keeps this port from a plain port delete, from our records:
    a router's interface or gateway, or a floating IP's own port."""
    role = role_of(s, port_id)
    if role is not None and role[1] in ROUTER_HELD:
        return role[1]
    if s.scalar(select(m.FloatingIP.id).where(m.FloatingIP.floating_port_id == port_id)):
        return FLOATINGIP
    return None


def interface_subnet_routers(s: Session, subnet_id: str):
    """Select of the ids of routers with an interface on the subnet (for a subquery)."""
    return (select(m.RouterPort.router_id)
            .join(m.IPAllocation, m.IPAllocation.port_id == m.RouterPort.port_id)
            .where(m.RouterPort.port_type == INTERFACE,
                   m.IPAllocation.subnet_id == subnet_id))
