"""A load balancer's VIP: which network, subnet, address and port, through the network API.

``plan`` (pure) reads what the request asked and what the network API showed the
caller and decides the port to make (or the user's port to use); ``allocate`` does
the calls, with the caller's identity, before the write transaction (the network
service may share our database: its write must not wait on ours). Which port is the
VIP, and whether we made it, is then our own record, never a port's labels.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from astara.loadbalancer_service import errors
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.network import VIP_OWNER, Network, NetworkError


@dataclass(frozen=True)
class Vip:
    address: str
    port_id: str
    subnet_id: str
    network_id: str
    owned: bool  # made by us: deleted with the load balancer


def _in(address: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def choose_subnet(subnets: list[dict], address: str | None) -> dict | None:
    """Of a network's subnets: the one holding ``address``, else the first IPv4 one,
    else the first (Octavia's choice)."""
    if address is not None:
        return next((s for s in subnets if _in(address, s.get("cidr", ""))), None)
    v4 = [s for s in subnets if s.get("ip_version") == 4]
    return (v4 or subnets or [None])[0]


def from_port(port: dict, data: dict, ctx: RequestContext) -> Vip:
    """The VIP on a port the user gave (pure)."""
    if not ctx.is_admin and port.get("project_id") != ctx.project_id:
        raise errors.BadRequest(f"Port {port['id']} not found.")
    if port.get("device_id"):
        raise errors.validation(f"Port {port['id']} is in use by device "
                                f"{errors.shorten(port['device_id'], 64)}.")
    if data.get("vip_network_id") and data["vip_network_id"] != port["network_id"]:
        raise errors.validation("vip_port_id is not on vip_network_id.")
    fixed = port.get("fixed_ips") or []
    if data.get("vip_subnet_id"):
        fixed = [f for f in fixed if f["subnet_id"] == data["vip_subnet_id"]]
    if data.get("vip_address"):
        fixed = [f for f in fixed if f["ip_address"] == data["vip_address"]]
    if not fixed:
        raise errors.validation(f"Port {port['id']} has no fixed IP matching the request.")
    return Vip(fixed[0]["ip_address"], port["id"], fixed[0]["subnet_id"], port["network_id"],
               owned=False)


def _network_error(exc: NetworkError) -> errors.ApiError:
    if exc.status == 409:
        return errors.Conflict(str(exc))
    if exc.status == 403:
        return errors.Forbidden(str(exc))
    if exc.status < 500:
        return errors.BadRequest(str(exc))
    return errors.Unavailable(f"Network service error: {exc}")


def allocate(net: Network, ctx: RequestContext, data: dict, lb_id: str,
             project_id: str) -> Vip:
    """The VIP for a new load balancer: the user's port, or a new one made as the caller."""
    try:
        return _allocate(net, ctx, data, lb_id, project_id)
    except NetworkError as exc:
        raise _network_error(exc) from None


def _allocate(net: Network, ctx: RequestContext, data: dict, lb_id: str,
              project_id: str) -> Vip:
    if data.get("vip_port_id"):
        port = net.get(ctx, "port", data["vip_port_id"])
        if port is None:
            raise errors.BadRequest(f"Port {data['vip_port_id']} not found.")
        return from_port(port, data, ctx)
    address = data.get("vip_address")
    if data.get("vip_subnet_id"):
        subnet = net.get(ctx, "subnet", data["vip_subnet_id"])
        if subnet is None:
            raise errors.BadRequest(f"Subnet {data['vip_subnet_id']} not found.")
        if data.get("vip_network_id") and data["vip_network_id"] != subnet["network_id"]:
            raise errors.validation("vip_subnet_id is not on vip_network_id.")
        if address is not None and not _in(address, subnet.get("cidr", "")):
            raise errors.validation(f"vip_address {address} is not in subnet {subnet['id']}.")
    else:
        network = net.get(ctx, "network", data["vip_network_id"])
        if network is None:
            raise errors.BadRequest(f"Network {data['vip_network_id']} not found.")
        subnets = [s for s in (net.get(ctx, "subnet", sid) for sid in
                               (network.get("subnets") or [])[:64]) if s is not None]
        subnet = choose_subnet(subnets, address)
        if subnet is None:
            raise errors.validation("Supplied network does not contain a subnet"
                                    + (f" for vip_address {address}." if address else "."))
    fields: dict[str, Any] = {
        "network_id": subnet["network_id"],
        "name": f"octavia-lb-{lb_id}",
        "device_owner": VIP_OWNER,
        "device_id": f"lb-{lb_id}",
        "fixed_ips": [{"subnet_id": subnet["id"], **({"ip_address": address}
                                                     if address else {})}],
    }
    if project_id != ctx.project_id:
        fields["project_id"] = project_id  # an admin making one for a project
    port = net.create_port(ctx, fields)
    fixed = next(f for f in port["fixed_ips"] if f["subnet_id"] == subnet["id"])
    return Vip(fixed["ip_address"], port["id"], subnet["id"], subnet["network_id"], owned=True)
