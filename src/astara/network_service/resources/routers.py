"""Routers: create/update/delete, the external gateway and extra routes.

Interfaces live in ``interfaces.py``. A router's ports are the ports the
router-port association gives it (``router_ports``); their ``device_id`` and
``device_owner`` are labels kept for clients. The gateway port belongs to no
project (``project_id ""``), as in Neutron.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from astara.network_service import errors, views
from astara.network_service import models as m
from astara.network_service.port_policy import GATEWAY, INTERFACE
from astara.network_service.resources import ports, router_ports
from astara.network_service.resources.base import (
    Op,
    bump,
    get_network,
    get_router,
    new_id,
    require_owner,
    stamp,
)


def create(op: Op, data: dict) -> m.Router:
    row = m.Router(id=data.get("id") or new_id(), project_id=data["project_id"])
    stamp(
        row,
        name=data["name"],
        description=data["description"],
        admin_state_up=data["admin_state_up"],
        # BUILD until the orchestrator reports its appliance configured (ACTIVE).
        status="BUILD",
        ha=data["ha"],
        routes=[],
        tags=[],
    )
    op.session.add(row)
    op.session.flush()
    if data.get("external_gateway_info"):
        _set_gateway(op, row, data["external_gateway_info"])
    op.session.flush()
    op.notifier.emit("router.create.end", {"router": views.router(row, op.ctx)})
    return row


def update(op: Op, router_id: str, data: dict) -> m.Router:
    s = op.session
    row = get_router(s, op.ctx, router_id)
    if "external_gateway_info" in data:
        info = data.pop("external_gateway_info")
        if info:
            _set_gateway(op, row, info)
        else:
            _clear_gateway(op, row)
    if "routes" in data:
        _check_routes(s, row, data["routes"])
    for key, value in data.items():
        setattr(row, key, value)
    bump(row)
    s.flush()
    op.notifier.emit("router.update.end", {"router": views.router(row, op.ctx)})
    return row


def delete_(op: Op, router_id: str) -> None:
    s = op.session
    row = get_router(s, op.ctx, router_id)
    require_owner(op.ctx, row, "delete_router")
    if router_ports.ports_of(s, router_id, INTERFACE):
        raise errors.RouterInUse(router_id=router_id, reason="still has ports")
    view = views.router(row, op.ctx)
    if row.gw_port is not None:
        gw = row.gw_port
        row.gw_port_id = None
        s.flush()
        s.delete(gw)
    s.flush()
    s.delete(row)
    s.flush()
    op.notifier.emit("router.delete.end", {"router_id": router_id, "router": view})


def _set_gateway(op: Op, row: m.Router, info: dict) -> None:
    s = op.session
    if not op.ctx.is_admin:
        for key in ("external_fixed_ips", "enable_snat"):
            if key in info:
                raise errors.PolicyNotAuthorized(
                    action=f"update_router:external_gateway_info:{key}")
    network = get_network(s, op.ctx, info["network_id"])  # 404 for what the caller cannot see
    if not network.external:
        raise errors.BadRequest(
            resource="router", msg=f"Network {network.id} is not an external network")
    if not network.subnets:
        raise errors.BadRequest(
            resource="router", msg=f"Network {network.id} has no subnet for the gateway")
    current = row.gw_port
    if current is not None and current.network_id != network.id:
        _clear_gateway(op, row)
        current = None
    if current is None:
        port = ports.build(op, {
            "project_id": "",
            "device_owner": GATEWAY,
            "device_id": row.id,
            "fixed_ips": info.get("external_fixed_ips") or None,
            "port_security_enabled": False,
        }, network, notify=False)
        row.gw_port_id = port.id
        row.gw_port = port
        router_ports.attach(s, row.id, port, GATEWAY)
    elif info.get("external_fixed_ips"):
        ports.replace_fixed_ips(op, current, network, info["external_fixed_ips"])
    row.enable_snat = info.get("enable_snat", True)


def _clear_gateway(op: Op, row: m.Router) -> None:
    s = op.session
    gw = row.gw_port
    if gw is None:
        return
    in_use = s.scalar(select(m.FloatingIP.id).where(
        m.FloatingIP.router_id == row.id, m.FloatingIP.floating_network_id == gw.network_id))
    if in_use:
        raise errors.RouterExternalGatewayInUseByFloatingIp(router_id=row.id,
                                                            net_id=gw.network_id)
    row.gw_port_id = None
    row.gw_port = None
    s.flush()
    s.delete(gw)
    s.flush()


def connected_cidrs(s, router_id: str) -> list[ipaddress._BaseNetwork]:
    nets = []
    for port in router_ports.ports_of(s, router_id, INTERFACE, GATEWAY):
        for alloc in port.fixed_ips:
            sn = s.get(m.Subnet, alloc.subnet_id)
            nets.append(ipaddress.ip_network(sn.cidr))
    return nets


def _check_routes(s, row: m.Router, routes: list[dict]) -> None:
    """Neutron's extraroute rule: each nexthop is on a subnet connected to the router
    and is not one of the router's own addresses (an IPv6 nexthop for an IPv4
    destination is refused too: no kernel would install it)."""
    nets = connected_cidrs(s, row.id)
    own = {ipaddress.ip_address(a.ip_address)
           for p in router_ports.ports_of(s, row.id, INTERFACE, GATEWAY) for a in p.fixed_ips}
    for route in routes:
        hop = ipaddress.ip_address(route["nexthop"])
        dest = ipaddress.ip_network(route["destination"])
        if dest.version != hop.version or not any(hop in n for n in nets):
            raise errors.InvalidRoutes(routes=routes,
                                       reason="the nexthop is not connected with router")
        if hop in own:
            raise errors.InvalidRoutes(routes=routes, reason="the nexthop is used by router")
