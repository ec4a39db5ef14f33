"""Plan the netlink changes: `diff(config, observed) -> [Op]`.

Pure. Called by `converge` with the parsed document and a fresh `NetState`; its
ops go to `apply.netlink`. Interfaces are found by MAC address (the names are the
host's business). Floating IPs are no addresses: nftables answers ARP for them
(see `render.nft`), so they never appear here. Only global addresses and
"static" routes are managed; link-local addresses and connected routes belong to
the kernel (and /32s left by an agent that did add floating IP addresses go).
The ports of an internal network the document knows (its DHCP allocations: MAC and
fixed IPs) get PERMANENT neighbour entries on that network's interface, as
Neutron's L3/DVR agents pin them: the host's neighbour table is global to every
namespace and its dynamic entries are limited (``gc_thresh3``); PERMANENT ones are
not counted and need no resolution. Only entries on internal interfaces are
managed (the management link's pin is the compute agent's). On an HA member the
addresses of the external and internal interfaces and the document's routes are
keepalived's (`virtual_addresses`): the plan leaves them alone.
"""

from __future__ import annotations

import ipaddress

from astara.appliance.observe.state import Address, Neighbour, NetState, Route
from astara.appliance.plan.ops import (
    AddAddress,
    AddNeighbour,
    AddRoute,
    DelAddress,
    DelNeighbour,
    DelRoute,
    Op,
    SetLink,
)
from astara.appliance.render import keepalived as render_keepalived
from astara.wire.appliance_config import ApplianceConfig


class PlanError(ValueError):
    """The document cannot be applied to what exists (e.g. a MAC is missing)."""


def interface_names(config: ApplianceConfig, observed: NetState) -> dict[str, str]:
    """network_id → ifname, resolved by MAC address."""
    names = {}
    for net in config.networks:
        link = observed.link_by_mac(net.interface.mac_address)
        if link is None:
            raise PlanError(
                f"no interface with MAC {net.interface.mac_address} "
                f"for network {net.network_id}"
            )
        names[net.network_id] = link.ifname
    return names


def desired_addresses(config: ApplianceConfig, names: dict[str, str]) -> frozenset[Address]:
    virtual = virtual_addresses(config, names)
    return frozenset(
        Address(names[net.network_id], str(addr))
        for net in config.networks
        for addr in net.interface.addresses
    ) - virtual


def virtual_addresses(config: ApplianceConfig, names: dict[str, str]) -> frozenset[Address]:
    """The addresses keepalived holds on an HA member (`render.keepalived`): those of
    the external and internal interfaces, and the floating IPs (/32s on the external
    interface). The plan neither adds nor removes them, whether this member holds
    them now (master) or not. None without HA."""
    if not config.ha.enabled:
        return frozenset()
    return frozenset(Address(names[nid], str(addr))
                     for nid, addr in render_keepalived.virtual_addresses(config))


def desired_routes(config: ApplianceConfig) -> frozenset[Route]:
    """The static routes; none on an HA member, whose routes are keepalived's (they
    go through its virtual addresses, and its own protocol keeps them out of
    `observe`)."""
    if config.ha.enabled:
        return frozenset()
    routes = {Route(str(r.destination), str(r.nexthop)) for r in config.routes}
    if config.default_v4_gateway:
        routes.add(Route("0.0.0.0/0", str(config.default_v4_gateway)))
    if config.default_v6_gateway:
        routes.add(Route("::/0", str(config.default_v6_gateway)))
    return frozenset(routes)


def desired_neighbours(config: ApplianceConfig, names: dict[str, str]) -> frozenset[Neighbour]:
    """IP -> MAC of every allocation on an internal network, on its interface."""
    own = {str(a.ip) for net in config.networks for a in net.interface.addresses}
    return frozenset(
        Neighbour(names[net.network_id], str(ip), alloc.mac_address)
        for net in config.network("internal")
        for alloc in net.allocations
        for ip in alloc.ip_addresses
        if str(ip) not in own
    )


def _managed(address: Address, ifnames: set[str]) -> bool:
    return address.ifname in ifnames and not address.cidr.lower().startswith(("fe80:", "169.254."))


def diff(config: ApplianceConfig, observed: NetState) -> list[Op]:
    names = interface_names(config, observed)
    ops: list[Op] = []
    for net in config.networks:
        link = observed.link(names[net.network_id])
        assert link is not None
        if link.mtu != net.interface.mtu or not link.up:
            ops.append(SetLink(link.ifname, net.interface.mtu, True, link.mtu, link.up))
    ifnames = set(names.values())
    want = desired_addresses(config, names)
    have = frozenset(a for a in observed.addresses
                     if _managed(a, ifnames)) - virtual_addresses(config, names)
    ops += [DelAddress(a.ifname, a.cidr) for a in sorted(have - want, key=_addr_key)]
    ops += [AddAddress(a.ifname, a.cidr) for a in sorted(want - have, key=_addr_key)]
    want_routes = desired_routes(config)
    have_routes = frozenset(_unbound(r) for r in observed.routes)
    ops += [DelRoute(r.destination, r.gateway) for r in sorted(have_routes - want_routes,
                                                               key=_route_key)]
    ops += [AddRoute(r.destination, r.gateway) for r in sorted(want_routes - have_routes,
                                                               key=_route_key)]
    internal = {names[net.network_id] for net in config.network("internal")}
    want_pins = desired_neighbours(config, names)
    have_pins = frozenset(n for n in observed.neighbours if n.ifname in internal)
    ops += [DelNeighbour(n.ifname, n.ip, n.mac) for n in sorted(have_pins - want_pins,
                                                                key=_pin_key)]
    ops += [AddNeighbour(n.ifname, n.ip, n.mac) for n in sorted(want_pins - have_pins,
                                                                key=_pin_key)]
    return ops


def is_pin(op: Op) -> bool:
    return isinstance(op, AddNeighbour | DelNeighbour)


def missing_pins(config: ApplianceConfig, observed: NetState) -> list[Op]:
    """The pins `config` wants that the kernel lost (it flushes the PERMANENT entries
    of a link set down, e.g. by a compute agent's stop/start); nothing else."""
    return [op for op in diff(config, observed) if isinstance(op, AddNeighbour)]


def _pin_key(n: Neighbour) -> tuple:
    ip = ipaddress.ip_address(n.ip)
    return (n.ifname, ip.version, int(ip), n.mac)


def _unbound(route: Route) -> Route:
    return Route(route.destination, route.gateway)


def _addr_key(a: Address) -> tuple:
    iface = ipaddress.ip_interface(a.cidr)
    return (a.ifname, iface.version, int(iface.ip), iface.network.prefixlen)


def _route_key(r: Route) -> tuple:
    return (r.destination, r.gateway or "")
