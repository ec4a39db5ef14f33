"""Fixed IP allocation for ports: the database side of IPAM.

Turns a port's requested ``fixed_ips`` (or nothing) into allocation rows. Each
insert runs in a savepoint; a unique-key violation means another writer took the
address first: a requested address is then ``IpAddressInUse``, an automatic one
is retried with the next free address.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from astara.network_service import errors, ipam
from astara.network_service import models as m
from astara.network_service.resources.base import Op

ROUTER_OWNERS = ("network:router_interface", "network:router_gateway")
_RETRIES = 20


def _taken(s, subnet_id: str) -> list[str]:
    return list(
        s.scalars(select(m.IPAllocation.ip_address).where(m.IPAllocation.subnet_id == subnet_id))
    )


def plan_requests(network: m.Network, requested: list[dict] | None, owner: str,
                  mac: str) -> list[tuple[m.Subnet, str | None]]:
    """Which subnet each address comes from; ``None`` address means 'pick one'."""
    subnets = {sn.id: sn for sn in network.subnets}
    is_router = owner in ROUTER_OWNERS
    out: list[tuple[m.Subnet, str | None]] = []
    if requested is None:
        v4 = [sn for sn in network.subnets if sn.ip_version == 4]
        v6 = [sn for sn in network.subnets if sn.ip_version == 6]
        if v4:
            out.append((v4[0], None))
        for sn in v6:
            if ipam.is_auto_address(6, sn.ipv6_address_mode) and not is_router:
                out.append((sn, ipam.eui64(sn.cidr, mac)))
        stateful = [sn for sn in v6 if not ipam.is_auto_address(6, sn.ipv6_address_mode)]
        if stateful:
            out.append((stateful[0], None))
        return out
    for item in requested:
        address = item.get("ip_address")
        if "subnet_id" in item:
            sn = subnets.get(item["subnet_id"])
            if sn is None:
                raise errors.BadRequest(
                    resource="port",
                    msg=f"Invalid input for operation: Failed to create port on network "
                    f"{network.id}, because fixed_ips included invalid subnet "
                    f"{item['subnet_id']}",
                )
            if address is not None and ipaddress.ip_address(address) not in ipaddress.ip_network(
                sn.cidr
            ):
                raise errors.InvalidIpForSubnet(ip_address=address)
        elif address is not None:
            sn = next(
                (x for x in network.subnets
                 if ipaddress.ip_address(address) in ipaddress.ip_network(x.cidr)),
                None,
            )
            if sn is None:
                raise errors.InvalidIpForNetwork(ip_address=address)
        else:
            raise errors.bad_attr("Invalid input for fixed_ips. Reason: no subnet_id or "
                                  "ip_address given")
        auto = ipam.is_auto_address(sn.ip_version, sn.ipv6_address_mode)
        if auto and not is_router:
            if address is not None and address != ipam.eui64(sn.cidr, mac):
                raise errors.AllocationOnAutoAddressSubnet(ip=address, subnet_id=sn.id)
            address = ipam.eui64(sn.cidr, mac)
        out.append((sn, address))
    return out


def _check_requested(sn: m.Subnet, address: str, owner: str, net_id: str) -> None:
    net = ipaddress.ip_network(sn.cidr)
    addr = ipaddress.ip_address(address)
    reserved = addr == net.network_address or (
        net.version == 4 and addr == net.broadcast_address
    )
    if reserved:
        raise errors.InvalidIpForSubnet(ip_address=address)
    if address == sn.gateway_ip and owner not in ROUTER_OWNERS:
        raise errors.IpAddressInUse(net_id=net_id, ip_address=address)


def allocate(op: Op, port: m.Port, plan: list[tuple[m.Subnet, str | None]], start: int = 0):
    s = op.session
    for position, (sn, address) in enumerate(plan, start=start):
        if address is not None:
            _check_requested(sn, address, port.device_owner, port.network_id)
            _insert(s, port, sn, address, position, requested=True)
            continue
        for attempt in range(_RETRIES):
            choice = ipam.next_free(sn.allocation_pools, _taken(s, sn.id), skip=attempt)
            if choice is None:
                raise errors.IpAddressGenerationFailure(net_id=port.network_id)
            if _insert(s, port, sn, choice, position, requested=False):
                break
        else:
            raise errors.IpAddressGenerationFailure(net_id=port.network_id)
    s.expire(port, ["fixed_ips"])  # reloaded with the new rows on next access


def _insert(s, port: m.Port, sn: m.Subnet, address: str, position: int, requested: bool) -> bool:
    alloc = m.IPAllocation(
        port_id=port.id, subnet_id=sn.id, network_id=port.network_id,
        ip_address=address, position=position,
    )
    try:
        with s.begin_nested():
            s.add(alloc)
            s.flush()
    except IntegrityError:
        if requested:
            raise errors.IpAddressInUse(net_id=port.network_id, ip_address=address) from None
        return False
    return True
