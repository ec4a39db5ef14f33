"""Floating IPs: allocation on an external network and association with a port.

The router of an association is found as Neutron finds it: the router with its
gateway on the floating network and an interface on the subnet of the fixed IP,
both from the router-port association.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from astara.network_service import errors, views
from astara.network_service import models as m
from astara.network_service.port_policy import FLOATINGIP, GATEWAY
from astara.network_service.resources import ports, router_ports
from astara.network_service.resources.base import (
    Op,
    bump,
    get_floatingip,
    get_network,
    get_port,
    new_id,
    stamp,
)


def create(op: Op, data: dict) -> m.FloatingIP:
    s = op.session
    if "floating_network_id" not in data:
        raise errors.bad_attr(
            "Failed to parse request. Required attribute 'floating_network_id' not specified")
    network = get_network(s, op.ctx, data["floating_network_id"])
    if not network.external:
        raise errors.BadRequest(
            resource="floatingip",
            msg=f"Network {network.id} is not a valid external network")
    if "floating_ip_address" in data and not op.ctx.is_admin:
        raise errors.PolicyNotAuthorized(action="create_floatingip:floating_ip_address")
    fixed: list[dict] | None = None
    if "floating_ip_address" in data or "subnet_id" in data:
        item = {}
        if "subnet_id" in data:
            item["subnet_id"] = data["subnet_id"]
        if "floating_ip_address" in data:
            item["ip_address"] = data["floating_ip_address"]
        fixed = [item]
    else:
        v4 = [sn for sn in network.subnets if sn.ip_version == 4]
        if not v4:
            raise errors.BadRequest(resource="floatingip",
                                    msg=f"Network {network.id} has no IPv4 subnet")
        fixed = [{"subnet_id": v4[0].id}]
    row = m.FloatingIP(id=data.get("id") or new_id(), project_id=data["project_id"])
    port = ports.build(op, {
        "project_id": "",
        "device_owner": FLOATINGIP,
        "device_id": row.id,
        "fixed_ips": fixed,
        "port_security_enabled": False,
        "status": "N/A",
    }, network, notify=False)
    stamp(
        row,
        description=data["description"],
        floating_network_id=network.id,
        floating_port_id=port.id,
        floating_ip_address=port.fixed_ips[0].ip_address,
        status="DOWN",
        tags=[],
    )
    s.add(row)
    s.flush()
    if data.get("port_id"):
        _associate(op, row, data["port_id"], data.get("fixed_ip_address"))
    s.flush()
    op.notifier.emit("floatingip.create.end", {"floatingip": views.floatingip(row, op.ctx)})
    return row


def update(op: Op, fip_id: str, data: dict) -> m.FloatingIP:
    s = op.session
    row = get_floatingip(s, op.ctx, fip_id)
    if "port_id" in data:
        if data["port_id"]:
            _associate(op, row, data["port_id"], data.get("fixed_ip_address"))
        else:
            row.fixed_port_id = row.fixed_ip_address = row.router_id = None
            row.fixed_port = None
    elif "fixed_ip_address" in data and row.fixed_port_id:
        _associate(op, row, row.fixed_port_id, data["fixed_ip_address"])
    if "description" in data:
        row.description = data["description"]
    bump(row)
    s.flush()
    op.notifier.emit("floatingip.update.end", {"floatingip": views.floatingip(row, op.ctx)})
    return row


def delete_(op: Op, fip_id: str) -> None:
    s = op.session
    row = get_floatingip(s, op.ctx, fip_id)
    view = views.floatingip(row, op.ctx)
    port = s.get(m.Port, row.floating_port_id)
    s.delete(row)
    s.flush()
    if port is not None:
        s.delete(port)
        s.flush()
    op.notifier.emit("floatingip.delete.end", {"floatingip_id": fip_id, "floatingip": view})


def _associate(op: Op, row: m.FloatingIP, port_id: str, fixed_ip: str | None) -> None:
    s = op.session
    port = get_port(s, op.ctx, port_id)
    v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip is not None:
        if ipaddress.ip_address(fixed_ip).version != 4:
            # As Neutron: NAT is IPv4's, and an IPv6 address (SLAAC's follows the MAC,
            # goes with its subnet) could leave the port under the floating IP.
            raise errors.BadRequest(
                resource="floatingip",
                msg=f"Cannot process floating IP association with {fixed_ip}, since that "
                "is not an IPv4 address")
        alloc = next((a for a in port.fixed_ips if a.ip_address == fixed_ip), None)
        if alloc is None:
            raise errors.BadRequest(
                resource="floatingip",
                msg=f"Port {port.id} does not have fixed ip {fixed_ip}")
    elif len(v4) == 1:
        alloc = v4[0]
    elif not v4:
        raise errors.BadRequest(
            resource="floatingip",
            msg=f"Port {port.id} does not have any IPv4 address to associate")
    else:
        raise errors.BadRequest(
            resource="floatingip",
            msg=f"Port {port.id} has multiple fixed IPv4 addresses.  Must provide a specific "
            "IPv4 address when assigning a floating IP")
    taken = s.scalar(select(m.FloatingIP).where(
        m.FloatingIP.fixed_port_id == port.id,
        m.FloatingIP.fixed_ip_address == alloc.ip_address,
        m.FloatingIP.floating_network_id == row.floating_network_id,
        m.FloatingIP.id != row.id))
    if taken is not None:
        raise errors.FloatingIPPortAlreadyAssociated(
            floating_ip_address=taken.floating_ip_address, fip_id=taken.id, port_id=port.id,
            fixed_ip=alloc.ip_address, net_id=row.floating_network_id)
    row.router_id = _find_router(s, row.floating_network_id, alloc.subnet_id, port.id)
    row.fixed_port_id = port.id
    row.fixed_port = port
    row.fixed_ip_address = alloc.ip_address


def _find_router(s, ext_net_id: str, subnet_id: str, port_id: str) -> str:
    interfaces = router_ports.interface_subnet_routers(s, subnet_id)
    q = (select(m.Router.id)
         .join(m.RouterPort, m.RouterPort.router_id == m.Router.id)
         .join(m.Port, m.RouterPort.port_id == m.Port.id)
         .where(m.RouterPort.port_type == GATEWAY, m.Port.network_id == ext_net_id,
                m.Router.id.in_(interfaces))
         .order_by(m.Router.created_at))
    router_id = s.scalar(q)
    if router_id is None:
        raise errors.ExternalGatewayForFloatingIPNotFound(
            external_network_id=ext_net_id, subnet_id=subnet_id, port_id=port_id)
    return router_id
