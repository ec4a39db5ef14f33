"""Checks that the network service's tables hold no orphan or impossible rows.

Used after the fuzz suite (and usable after any test): every allocation inside
its subnet, on its port's network, unique per network once normalised; every
port on an existing network; every router gateway on an external network; every
floating IP's ports and router present and its address its port's. Returns the
problems found, so a failure lists all of them.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from sqlalchemy import select

from astara.network_service import models as m


def _address(value: str | None):
    try:
        if value is None or "%" in value:
            return None
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _network(value: str | None):
    try:
        return ipaddress.ip_network(value or "") if "%" not in (value or "") else None
    except ValueError:
        return None


def problems(session) -> list[str]:
    out: list[str] = []
    networks = {n.id: n for n in session.scalars(select(m.Network))}
    subnets = {s.id: s for s in session.scalars(select(m.Subnet))}
    ports = {p.id: p for p in session.scalars(select(m.Port))}
    allocations = list(session.scalars(select(m.IPAllocation)))
    routers = {r.id: r for r in session.scalars(select(m.Router))}
    fips = list(session.scalars(select(m.FloatingIP)))

    for sn in subnets.values():
        net = _network(sn.cidr)
        if sn.network_id not in networks:
            out.append(f"subnet {sn.id} on missing network {sn.network_id}")
        if net is None or str(net) != sn.cidr or net.version != sn.ip_version:
            out.append(f"subnet {sn.id} has a bad cidr {sn.cidr!r} (v{sn.ip_version})")
            continue
        gw = _address(sn.gateway_ip) if sn.gateway_ip is not None else net.network_address
        if gw is None or gw not in net:
            out.append(f"subnet {sn.id} gateway {sn.gateway_ip!r} outside {sn.cidr}")
        for pool in sn.allocation_pools:
            start, end = _address(pool.get("start")), _address(pool.get("end"))
            if start is None or end is None or start not in net or end not in net:
                out.append(f"subnet {sn.id} pool {pool} outside {sn.cidr}")
        for server in sn.dns_nameservers:
            if _address(server) is None:
                out.append(f"subnet {sn.id} dns server {server!r} is not an address")

    for port in ports.values():
        if port.network_id not in networks:
            out.append(f"port {port.id} on missing network {port.network_id}")
        for pair in port.allowed_address_pairs:
            ip = pair.get("ip_address", "")
            if _address(ip) is None and _network(ip) is None:
                out.append(f"port {port.id} address pair {ip!r} is not an address")

    seen: Counter = Counter()
    for alloc in allocations:
        port, sn = ports.get(alloc.port_id), subnets.get(alloc.subnet_id)
        addr = _address(alloc.ip_address)
        where = f"allocation {alloc.ip_address!r} of port {alloc.port_id}"
        if port is None:
            out.append(f"{where}: port is gone")
        if sn is None:
            out.append(f"{where}: subnet {alloc.subnet_id} is gone")
        if addr is None or str(addr) != alloc.ip_address:
            out.append(f"{where}: not a normalised address")
        if port is not None and port.network_id != alloc.network_id:
            out.append(f"{where}: recorded on network {alloc.network_id}, port is on "
                       f"{port.network_id}")
        if sn is not None:
            if sn.network_id != alloc.network_id:
                out.append(f"{where}: subnet {sn.id} belongs to another network")
            net = _network(sn.cidr)
            if addr is not None and net is not None and addr not in net:
                out.append(f"{where}: outside its subnet {sn.cidr}")
        if addr is not None:
            seen[(alloc.network_id, addr)] += 1
    for (net_id, addr), count in seen.items():
        if count > 1:
            out.append(f"address {addr} held {count} times on network {net_id}")

    for router in routers.values():
        if router.gw_port_id is None:
            continue
        gw = ports.get(router.gw_port_id)
        if gw is None:
            out.append(f"router {router.id} gateway port {router.gw_port_id} is gone")
        elif gw.network_id not in networks or not networks[gw.network_id].external:
            out.append(f"router {router.id} gateway port {gw.id} is not on an external network")
        elif gw.device_owner != "network:router_gateway" or gw.device_id != router.id:
            out.append(f"router {router.id} gateway port {gw.id} is owned by "
                       f"{gw.device_owner!r}/{gw.device_id!r}")

    for fip in fips:
        port = ports.get(fip.floating_port_id)
        if port is None:
            out.append(f"floating IP {fip.id}: its port {fip.floating_port_id} is gone")
        else:
            if port.network_id != fip.floating_network_id:
                out.append(f"floating IP {fip.id}: its port is on another network")
            if fip.floating_ip_address not in {a.ip_address for a in port.fixed_ips}:
                out.append(f"floating IP {fip.id}: address {fip.floating_ip_address} is not "
                           "its port's")
        net = networks.get(fip.floating_network_id)
        if net is None or not net.external:
            out.append(f"floating IP {fip.id} on a missing or internal network")
        if fip.fixed_port_id is not None:
            fixed = ports.get(fip.fixed_port_id)
            if fixed is None:
                out.append(f"floating IP {fip.id}: associated port {fip.fixed_port_id} is gone")
            elif fip.fixed_ip_address not in {a.ip_address for a in fixed.fixed_ips}:
                out.append(f"floating IP {fip.id}: fixed address {fip.fixed_ip_address} is not "
                           f"on port {fixed.id}")
        elif fip.fixed_ip_address is not None or fip.router_id is not None:
            out.append(f"floating IP {fip.id}: unassociated but has a fixed address or router")
        if fip.router_id is not None and fip.router_id not in routers:
            out.append(f"floating IP {fip.id}: router {fip.router_id} is gone")
    return out
