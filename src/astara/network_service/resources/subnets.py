"""Subnets: cidr, pools and gateway checks, IPv6 modes, and the in-use rule on delete."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from astara.common.device_owners import GATEWAY, INTERFACE
from astara.network_service import errors, ipam, views
from astara.network_service import models as m
from astara.network_service.resources import allocation
from astara.network_service.resources.base import (
    Op,
    bump,
    get_network,
    get_subnet,
    new_id,
    require_owner,
    stamp,
)

ROUTER_OWNERS = (INTERFACE, GATEWAY)


def _check_modes(ip_version: int, ra: str | None, addr: str | None, dhcp: bool) -> None:
    if ip_version == 4 and (ra or addr):
        raise errors.InvalidInput(
            error_message="ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4"
        )
    if ra and addr and ra != addr:
        raise errors.InvalidInput(
            error_message=f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' "
            "is not valid. If both attributes are set, they must be the same value"
        )
    if not dhcp and (ra or addr):
        raise errors.InvalidInput(
            error_message="ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is "
            "set to False"
        )


def _check_overlap(op: Op, network: m.Network, net: ipaddress._BaseNetwork) -> None:
    for other in network.subnets:
        if ipaddress.ip_network(other.cidr).overlaps(net):
            raise errors.InvalidInput(
                error_message=f"Requested subnet with cidr: {net} for network: {network.id} "
                "overlaps with another subnet"
            )


def create(op: Op, data: dict) -> m.Subnet:
    s = op.session
    if "cidr" not in data:
        raise errors.bad_attr("Failed to parse request. Required attribute 'cidr' not specified")
    if "ip_version" not in data:
        raise errors.bad_attr(
            "Failed to parse request. Required attribute 'ip_version' not specified"
        )
    if "network_id" not in data:
        raise errors.bad_attr(
            "Failed to parse request. Required attribute 'network_id' not specified"
        )
    # As Neutron: the network is fetched as the caller sees it (one it cannot see is not
    # found, so its existence is not told), then "create_subnet":
    # "rule:admin_or_network_owner" refuses a visible one it does not own (shared, external).
    network = get_network(s, op.ctx, data["network_id"])
    require_owner(op.ctx, network, "create_subnet")
    net = ipaddress.ip_network(data["cidr"])
    if net.version != data["ip_version"]:
        raise errors.InvalidInput(error_message="Cidr and IP version are not compatible")
    if net.version == 6 and net.prefixlen > 126 or net.version == 4 and net.prefixlen > 30:
        raise errors.InvalidInput(error_message=f"Subnet {net} is too small for allocation")
    _check_modes(net.version, data["ipv6_ra_mode"], data["ipv6_address_mode"],
                 data["enable_dhcp"])
    auto = ipam.is_auto_address(net.version, data["ipv6_address_mode"], data["ipv6_ra_mode"])
    if auto and net.prefixlen != 64:
        raise errors.InvalidInput(
            error_message=f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 "
            "address format, which requires the prefix to be /64"
        )
    _check_overlap(op, network, net)
    gateway = data["gateway_ip"] if "gateway_ip" in data else ipam.default_gateway(net)
    if gateway is not None:
        ipam.check_gateway(net, gateway)
    if "allocation_pools" in data:
        pools = ipam.check_pools(net, data["allocation_pools"], gateway)
    else:
        pools = ipam.default_pools(net, gateway)
    row = m.Subnet(id=data.get("id") or new_id(), project_id=data["project_id"])
    stamp(
        row,
        network_id=network.id,
        name=data["name"],
        description=data["description"],
        ip_version=net.version,
        cidr=str(net),
        gateway_ip=gateway,
        enable_dhcp=data["enable_dhcp"],
        ipv6_ra_mode=data["ipv6_ra_mode"],
        ipv6_address_mode=data["ipv6_address_mode"],
        allocation_pools=pools,
        dns_nameservers=data["dns_nameservers"],
        host_routes=data["host_routes"],
        tags=[],
    )
    row.network = network
    s.add(row)
    bump(network)
    s.flush()
    if auto:
        _add_auto_addresses(op, row)
    op.notifier.emit("subnet.create.end", {"subnet": views.subnet(row, op.ctx)})
    return row


def _add_auto_addresses(op: Op, sn: m.Subnet) -> None:
    """As Neutron: the ports already on the network (but routers' interfaces) get their
    EUI-64 address on a new auto-address subnet; each is announced as updated."""
    s = op.session
    changed = list(s.scalars(select(m.Port).where(
        m.Port.network_id == sn.network_id,
        m.Port.device_owner.not_in(ipam.NO_AUTO_ADDRESS_OWNERS)).order_by(m.Port.id)))
    for port in changed:
        allocation.allocate(op, port, [(sn, ipam.eui64(sn.cidr, port.mac_address))],
                            start=len(port.fixed_ips))
        bump(port)
    s.flush()
    for port in changed:
        op.notifier.emit("port.update.end", {"port": views.port(port, op.ctx)})


def _drop_auto_addresses(op: Op, sn: m.Subnet) -> None:
    """As Neutron: deleting an auto-address subnet takes its addresses off the ports
    that got them automatically; a router's interface on it still holds the subnet."""
    s = op.session
    allocs = s.scalars(select(m.IPAllocation).join(m.Port).where(
        m.IPAllocation.subnet_id == sn.id,
        m.Port.device_owner.not_in(ipam.ROUTER_INTERFACE_OWNERS),
        m.Port.id.not_in(select(m.RouterPort.port_id).where(
            m.RouterPort.port_type == INTERFACE))))
    changed = []
    for alloc in list(allocs):
        port = alloc.port
        port.fixed_ips.remove(alloc)
        bump(port)
        changed.append(port)
    s.flush()
    for port in changed:
        op.notifier.emit("port.update.end", {"port": views.port(port, op.ctx)})


def update(op: Op, subnet_id: str, data: dict) -> m.Subnet:
    s = op.session
    row = get_subnet(s, op.ctx, subnet_id)
    require_owner(op.ctx, row, "update_subnet")
    net = ipaddress.ip_network(row.cidr)
    gateway = data.get("gateway_ip", row.gateway_ip)
    if "gateway_ip" in data and gateway != row.gateway_ip:
        if gateway is not None:
            ipam.check_gateway(net, gateway)
        if row.gateway_ip and _router_holds(s, row.id, row.gateway_ip):
            raise errors.InUse(
                message=f"Gateway ip {row.gateway_ip} of subnet {row.id} is in use by a router "
                "interface and cannot be changed", type_="GatewayIpInUse"
            )
    if "allocation_pools" in data or "gateway_ip" in data:
        pools = data.get("allocation_pools", row.allocation_pools)
        data["allocation_pools"] = ipam.check_pools(net, pools, gateway)
    if "enable_dhcp" in data:
        _check_modes(row.ip_version, row.ipv6_ra_mode, row.ipv6_address_mode,
                     data["enable_dhcp"])
    for key, value in data.items():
        setattr(row, key, value)
    bump(row)
    s.flush()
    op.notifier.emit("subnet.update.end", {"subnet": views.subnet(row, op.ctx)})
    return row


def _router_holds(s, subnet_id: str, address: str) -> bool:
    return bool(
        s.scalar(
            select(m.IPAllocation.id)
            .join(m.RouterPort, m.RouterPort.port_id == m.IPAllocation.port_id)
            .where(
                m.IPAllocation.subnet_id == subnet_id,
                m.IPAllocation.ip_address == address,
                m.RouterPort.port_type.in_(ROUTER_OWNERS),
            )
        )
    )


def delete_(op: Op, subnet_id: str) -> None:
    s = op.session
    row = get_subnet(s, op.ctx, subnet_id)
    require_owner(op.ctx, row, "delete_subnet")
    if ipam.is_auto_address(row.ip_version, row.ipv6_address_mode, row.ipv6_ra_mode):
        _drop_auto_addresses(op, row)
    if s.scalar(select(m.IPAllocation.id).where(m.IPAllocation.subnet_id == subnet_id).limit(1)):
        raise errors.SubnetInUse(subnet_id=subnet_id)
    view = views.subnet(row, op.ctx)
    network = row.network
    s.delete(row)
    bump(network)
    s.flush()
    s.expire(network, ["subnets"])
    op.notifier.emit("subnet.delete.end", {"subnet": view, "subnet_id": subnet_id})
