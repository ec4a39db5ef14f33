"""Fixed IP allocation for ports: the database side of IPAM.

Turns a port's requested ``fixed_ips`` (or nothing) into allocation rows. Each
insert runs in a savepoint; a unique-key violation means another writer took the
address first: a requested address is then ``IpAddressAlreadyAllocated``, an
automatic one is retried with the next free address. A subnet's gateway address
is free until a port (a router's, or any other) takes it.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from astara.network_service import errors, ipam
from astara.network_service import models as m
from astara.network_service.resources.base import Op, get_subnet

_RETRIES = 20


_ALLOCATIONS = m.IPAllocation.__table__


def _taken(s, sn: m.Subnet) -> list[str]:
    """The addresses taken on ``sn``'s network, of its IP version: a superset of the
    subnet's (its pools hold none of the others), read from the covering unique index
    (network, address) as plain strings on the session's connection (no ORM layer):
    all of them are read for every new address."""
    column = _ALLOCATIONS.c.ip_address
    version = column.like("%:%") if sn.ip_version == 6 else column.not_like("%:%")
    return s.connection().execute(select(column).where(
        _ALLOCATIONS.c.network_id == sn.network_id, version)).scalars().all()


def _auto(sn: m.Subnet) -> bool:
    return ipam.is_auto_address(sn.ip_version, sn.ipv6_address_mode, sn.ipv6_ra_mode)


def plan_requests(network: m.Network, requested: list[dict] | None, owner: str,
                  mac: str) -> list[tuple[m.Subnet, str | None]]:
    """Which subnet each address comes from; ``None`` address means 'pick one'.

    As Neutron: every port but a router's interface also gets its EUI-64 address on
    each auto-address (SLAAC, DHCPv6-stateless) subnet of its network, whatever
    ``fixed_ips`` asks for; a router's interface gets only what it asks for.
    """
    is_router = owner in ipam.NO_AUTO_ADDRESS_OWNERS
    out: list[tuple[m.Subnet, str | None]] = []
    if requested and not network.subnets:
        raise errors.InvalidInput(error_message="IP allocation requires subnets for network")
    if requested is None:
        v4 = [sn for sn in network.subnets if sn.ip_version == 4]
        stateful = [sn for sn in network.subnets if sn.ip_version == 6 and not _auto(sn)]
        out += [(sn, None) for sn in (v4[:1] + stateful[:1])]
    else:
        out += [_requested(network, item, owner, mac) for item in requested]
    if not is_router:
        planned = {sn.id for sn, _ in out}
        out += [(sn, ipam.eui64(sn.cidr, mac)) for sn in network.subnets
                if _auto(sn) and sn.id not in planned]
    return out


def check_foreign_subnets(op: Op, network: m.Network, requested: list[dict] | None) -> None:
    """A fixed IP naming a subnet of another network: Neutron's ``InvalidInput``, whose
    message names the subnet's own network (a subnet the caller cannot see: 404)."""
    ours = {sn.id for sn in network.subnets}
    for item in requested or []:
        if "subnet_id" in item and item["subnet_id"] not in ours:
            sn = get_subnet(op.session, op.ctx, item["subnet_id"])
            raise errors.InvalidInput(
                error_message=f"Failed to create port on network {sn.network_id}, because "
                f"fixed_ips included invalid subnet {sn.id}")


def _requested(network: m.Network, item: dict, owner: str,
               mac: str) -> tuple[m.Subnet, str | None]:
    subnets = {sn.id: sn for sn in network.subnets}
    address = item.get("ip_address")
    if "subnet_id" in item:
        sn = subnets.get(item["subnet_id"])
        if sn is None:  # check_foreign_subnets answered a subnet it can name
            raise errors.SubnetNotFound(subnet_id=item["subnet_id"])
        if address is not None and not ipam.valid_on_subnet(
                ipaddress.ip_network(sn.cidr), address, owner):
            raise errors.InvalidIpForSubnet(ip_address=address)
    elif address is not None:
        sn = next((x for x in network.subnets
                   if ipam.valid_on_subnet(ipaddress.ip_network(x.cidr), address, owner)),
                  None)
        if sn is None:
            raise errors.InvalidIpForNetwork(ip_address=address)
    else:
        raise errors.InvalidInput(error_message="IP allocation requires subnet_id or ip_address")
    if _auto(sn) and owner not in ipam.NO_AUTO_ADDRESS_OWNERS:
        # Re-sending the port's own EUI-64 address (a GET, edited, PUT back) is no request.
        if address is not None and address != ipam.eui64(sn.cidr, mac):
            raise errors.AllocationOnAutoAddressSubnet(ip=address, subnet_id=sn.id)
        address = ipam.eui64(sn.cidr, mac)
    return sn, address


def picks_alone(s, plan: list[tuple[m.Subnet, str | None]]) -> bool:
    """Whether ``allocate`` picks every planned address without writing: SQLite's single
    writer, and no address asked for (a requested or EUI-64 one may be taken: its
    insert runs in a savepoint). ``persist.insert_new`` needs INSERT .. RETURNING in
    parameter order (SQLite 3.35+): an older SQLite takes the ORM's path."""
    dialect = s.get_bind().dialect
    return dialect.name == "sqlite" and all(a is None for _, a in plan) \
        and bool(getattr(dialect, "insert_executemany_returning_sort_by_parameter_order",
                         False))


def allocate(op: Op, port: m.Port, plan: list[tuple[m.Subnet, str | None]], start: int = 0):
    """Give ``port`` the planned addresses; its ``fixed_ips`` holds them afterwards."""
    s = op.session
    serialised = s.get_bind().dialect.name == "sqlite"
    if not serialised or any(address is not None for _, address in plan):
        s.flush()  # the port is in before any savepoint: a conflict there is an address's
    for position, (sn, address) in enumerate(plan, start=start):
        if address is not None:
            _insert(s, port, sn, address, position, requested=True)
            continue
        if serialised:
            # SQLite has one writer at a time (BEGIN IMMEDIATE): the addresses this
            # transaction reads as taken, and those the port is about to get, are all
            # there are, so its pick cannot lose a race and needs no savepoint (the
            # unique key still stands behind it). Nothing is flushed before the end.
            with s.no_autoflush:
                taken = _taken(s, sn)
            taken += [a.ip_address for a in port.fixed_ips if a.subnet_id == sn.id]
            choice = ipam.next_free(sn.allocation_pools, taken)
            if choice is None:
                raise errors.IpAddressGenerationFailure(net_id=port.network_id)
            port.fixed_ips.append(_row(port, sn, choice, position))
            continue
        for attempt in range(_RETRIES):
            choice = ipam.next_free(sn.allocation_pools, _taken(s, sn), skip=attempt)
            if choice is None:
                raise errors.IpAddressGenerationFailure(net_id=port.network_id)
            if _insert(s, port, sn, choice, position, requested=False):
                break
        else:
            raise errors.IpAddressGenerationFailure(net_id=port.network_id)


def follow_mac(op: Op, port: m.Port, old_mac: str) -> None:
    """As Neutron: a port's EUI-64 addresses follow its new MAC."""
    s = op.session
    for alloc in port.fixed_ips:
        sn = s.get(m.Subnet, alloc.subnet_id)
        if _auto(sn) and alloc.ip_address == ipam.eui64(sn.cidr, old_mac):
            address = ipam.eui64(sn.cidr, port.mac_address)
            if s.scalar(select(m.IPAllocation.id).where(
                    m.IPAllocation.network_id == port.network_id,
                    m.IPAllocation.ip_address == address)):
                raise errors.IpAddressAlreadyAllocated(ip=address, subnet_id=sn.id)
            alloc.ip_address = address
    s.flush()


def _row(port: m.Port, sn: m.Subnet, address: str, position: int) -> m.IPAllocation:
    return m.IPAllocation(port_id=port.id, subnet_id=sn.id, network_id=port.network_id,
                          ip_address=address, position=position)


def _insert(s, port: m.Port, sn: m.Subnet, address: str, position: int, requested: bool) -> bool:
    try:
        with s.begin_nested():
            # A lost race rolls the savepoint back and expires the port: its
            # fixed_ips are then read again, without this row.
            port.fixed_ips.append(_row(port, sn, address, position))
            s.flush()
    except IntegrityError:
        if requested:
            raise errors.IpAddressAlreadyAllocated(ip=address, subnet_id=sn.id) from None
        return False
    return True
