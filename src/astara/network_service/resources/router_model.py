"""A router's whole network model in one read, for the orchestrator (admin only).

Its ports are the router's by the router-port association, shown with the role
the association records.

``GET /v2.0/routers/{id}/astara_model`` answers with the router, its interface,
gateway and management ports, the subnets and networks they use, the floating IPs it
serves and the tenant ports on its internal networks (for DHCP leases): what a
real Neutron needs five or six calls for, so a config push costs one read.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.network_service import errors, views
from astara.network_service import models as m
from astara.network_service.context import RequestContext
from astara.network_service.port_policy import GATEWAY, INTERFACE, MGMT
from astara.network_service.resources import router_ports
from astara.network_service.resources.base import get_router


def _port(port: m.Port, router_id: str, role: str, ctx: RequestContext) -> dict:
    # The role comes from the association; the port's own labels are its owner's to write.
    return {**views.port(port, ctx), "device_id": router_id, "device_owner": role}


def model(s: Session, ctx: RequestContext, router_id: str) -> dict:
    if not ctx.is_admin:
        raise errors.PolicyNotAuthorized(action="get_router:astara_model")
    router = get_router(s, ctx, router_id)
    roles = dict(s.execute(select(m.RouterPort.port_id, m.RouterPort.port_type).where(
        m.RouterPort.router_id == router_id)).all())
    ports = router_ports.ports_of(s, router_id, INTERFACE, GATEWAY)
    mgmt = router_ports.ports_of(s, router_id, MGMT)
    # The management port's subnets too: its prefix length sizes the appliance's address.
    subnet_ids = {a.subnet_id for p in [*ports, *mgmt] for a in p.fixed_ips}
    network_ids = {p.network_id for p in ports}
    internal = {p.network_id for p in ports if roles[p.id] == INTERFACE}
    subnets = s.scalars(select(m.Subnet).where(m.Subnet.id.in_(subnet_ids))).all()
    networks = s.scalars(select(m.Network).where(m.Network.id.in_(network_ids))).all()
    fips = s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == router_id)).all()
    tenant_ports = s.scalars(select(m.Port).where(
        m.Port.network_id.in_(internal), m.Port.device_owner.like("compute:%"))).all()
    return {
        "router": views.router(router, ctx),
        "ports": [_port(p, router_id, roles[p.id], ctx) for p in [*ports, *mgmt]],
        "subnets": [views.subnet(x, ctx) for x in subnets],
        "networks": [views.network(x, ctx) for x in networks],
        "floatingips": [views.floatingip(x, ctx) for x in fips],
        "tenant_ports": [views.port(p, ctx) for p in tenant_ports],
    }
