"""IP address management as pure functions: pools, gateways and the next free address.

The caller reads the addresses already taken from the database and passes them
in; uniqueness under concurrency is the database's job (a unique key on
network + address), so a lost race surfaces as a retry, never a duplicate.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable

from astara.common.device_owners import GATEWAY, HA_INTERFACE, INTERFACE
from astara.network_service import errors

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Addr = ipaddress.IPv4Address | ipaddress.IPv6Address

AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
# Neutron's ROUTER_INTERFACE_OWNERS_SNAT: the ports that get no automatic (EUI-64)
# address and may be given any address on an auto-address subnet.
ROUTER_INTERFACE_OWNERS = (
    INTERFACE,
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:router_centralized_snat",
)
# Ports given no automatic (EUI-64) address: routers' interfaces, and an HA router's
# member ports (no address at all: the master holds the router's; docs/ha.md).
NO_AUTO_ADDRESS_OWNERS = (*ROUTER_INTERFACE_OWNERS, HA_INTERFACE)
# Neutron's ROUTER_PORT_OWNERS: they may hold an IPv6 subnet's first address (its
# Subnet-Router anycast address, the default gateway).
ROUTER_PORT_OWNERS = (*ROUTER_INTERFACE_OWNERS, GATEWAY)
# Neutron's check_subnet_ip also lets a port without a device owner hold it (one made
# to be added to a router by port_id); any other owner (compute:*, network:dhcp) may not.
FIRST_ADDRESS_OWNERS = (*ROUTER_PORT_OWNERS, "")


def is_auto_address(ip_version: int, address_mode: str | None,
                    ra_mode: str | None = None) -> bool:
    """Neutron's is_auto_address_subnet: either mode asks hosts to form their address."""
    return ip_version == 6 and (address_mode in AUTO_ADDRESS_MODES
                                or ra_mode in AUTO_ADDRESS_MODES)


def default_gateway(net: Net) -> str | None:
    """IPv4: the first host address; IPv6: the subnet's first address (its Subnet-Router
    anycast address), as Neutron picks them when no ``gateway_ip`` is given."""
    if net.version == 6:
        return str(net.network_address)
    if net.num_addresses < 4:
        return None
    return str(net.network_address + 1)


def valid_on_subnet(net: Net, address: str, owner: str) -> bool:
    """Neutron's check_subnet_ip: inside the cidr, not IPv4's network or broadcast
    address; IPv6's first address only for a router's port or a port with no owner."""
    addr = ipaddress.ip_address(address)
    if addr.version != net.version or addr not in net:
        return False
    if net.version == 6:
        return addr != net.network_address or owner in FIRST_ADDRESS_OWNERS
    return net.num_addresses <= 2 or addr not in (net.network_address, net.broadcast_address)


def default_pools(net: Net, gateway: str | None) -> list[dict]:
    """The whole range minus network (and broadcast for IPv4) minus the gateway."""
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    if net.version == 4 and net.num_addresses <= 2:
        return []
    ranges = [(first, last)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        ranges = [r for a, b in ranges for r in _split(a, b, gw)]
    cls = type(net.network_address)
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in ranges if a <= b]


def _split(a: int, b: int, hole: int) -> list[tuple[int, int]]:
    if hole < a or hole > b:
        return [(a, b)]
    return [(a, hole - 1), (hole + 1, b)]


def check_pools(net: Net, pools: list[dict], gateway: str | None) -> list[dict]:
    """Validate user pools: inside the cidr, well-formed, no overlaps, gateway not inside."""
    spans = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        shown = f"{pool['start']}-{pool['end']}"
        if start.version != net.version or end.version != net.version or start > end:
            raise errors.InvalidAllocationPool(pool=shown)
        if start not in net or end not in net:
            raise errors.OutOfBoundsAllocationPool(pool=shown, subnet_cidr=str(net))
        if net.version == 4 and net.num_addresses > 2 and (
            start == net.network_address or end == net.broadcast_address
        ):
            raise errors.InvalidAllocationPool(pool=shown)
        spans.append((int(start), int(end), shown))
    spans.sort()
    for (_a1, b1, s1), (a2, _b2, s2) in zip(spans, spans[1:], strict=False):
        if a2 <= b1:
            raise errors.OverlappingAllocationPools(pool_1=s1, pool_2=s2, subnet_cidr=str(net))
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        for a, b, shown in spans:
            if a <= gw <= b:
                raise errors.GatewayConflictWithAllocationPools(ip_address=gateway, pool=shown)
    return [{"start": p["start"], "end": p["end"]} for p in pools]


def check_gateway(net: Net, gateway: str) -> None:
    addr = ipaddress.ip_address(gateway)
    bad = addr.version != net.version or addr not in net
    # IPv6's first address is the Subnet-Router anycast address, Neutron's default gateway.
    if net.version == 4 and (addr == net.network_address or (
            net.num_addresses > 2 and addr == net.broadcast_address)):
        bad = True
    if bad:
        raise errors.InvalidInput(error_message="Gateway is not valid on subnet")


def in_pools(address: str, pools: list[dict]) -> bool:
    a = int(ipaddress.ip_address(address))
    return any(
        int(ipaddress.ip_address(p["start"])) <= a <= int(ipaddress.ip_address(p["end"]))
        for p in pools
    )


def next_free(pools: list[dict], taken: Iterable[str], skip: int = 0) -> str | None:
    """First free address of the pools (the ``skip``-th one after a lost race)."""
    used = _to_ints(taken)
    for pool in pools:
        start = ipaddress.ip_address(pool["start"])
        end = int(ipaddress.ip_address(pool["end"]))
        n = int(start)
        while n <= end:
            if n not in used:
                if skip == 0:
                    return str(type(start)(n))
                skip -= 1
            n += 1
    return None


def _to_int(address: str) -> int:
    # inet_pton is ~10x faster than ipaddress for the many addresses already taken.
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, address))


_PTON = [functools.partial(socket.inet_pton, family)
         for family in (socket.AF_INET, socket.AF_INET6)]


def _to_ints(addresses: Iterable[str]) -> set[int]:
    """The addresses as integers. Every address taken on a network is converted for each
    new one: addresses of one family (the usual case) go through C calls only, about
    10x faster than one Python call per address; a mixed list is converted one by one."""
    addresses = list(addresses)
    for pton in _PTON:
        try:
            return set(map(int.from_bytes, map(pton, addresses)))
        except OSError:
            continue  # another family, or both
    return {_to_int(a) for a in addresses}


def eui64(cidr: str, mac: str) -> str:
    """The SLAAC address a host with ``mac`` forms on the /64 ``cidr``."""
    net = ipaddress.ip_network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(bytes(iid))))
