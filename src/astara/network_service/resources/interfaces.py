"""Router interfaces: attaching a subnet or a port to a router, and detaching it.

Rules follow Neutron: the subnet needs a gateway IP, one router cannot hold two
overlapping subnets, an IPv6 subnet joins the router's existing IPv6 port on
the same network, and an interface still needed by a floating IP or an extra
route cannot go.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from astara.network_service import errors, validators, views
from astara.network_service import models as m
from astara.network_service.port_policy import INTERFACE
from astara.network_service.resources import ports, router_ports
from astara.network_service.resources.base import (
    Op,
    bump,
    disassociate_floating_ips,
    get_port,
    get_router,
    get_subnet,
    require_owner,
)


def _info(router: m.Router, port: m.Port, subnet_ids: list[str]) -> dict:
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
    }


def _check_overlap(s, router: m.Router, subnets: list[m.Subnet]) -> None:
    for port in router_ports.ports_of(s, router.id, INTERFACE):
        for alloc in port.fixed_ips:
            other = s.get(m.Subnet, alloc.subnet_id)
            for sn in subnets:
                if sn.id == other.id:
                    raise errors.BadRequest(
                        resource="router", msg=f"Router already has a port on subnet {sn.id}")
                if ipaddress.ip_network(sn.cidr).overlaps(ipaddress.ip_network(other.cidr)):
                    raise errors.BadRequest(
                        resource="router",
                        msg=f"Cidr {sn.cidr} of subnet {sn.id} overlaps with cidr "
                        f"{other.cidr} of subnet {other.id}")


def _split_body(body: dict) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        raise errors.bad_attr("Body contains invalid data")
    unknown = sorted(set(body) - {"subnet_id", "port_id"})
    if unknown:
        raise errors.bad_attr(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    for key, value in (("subnet_id", subnet_id), ("port_id", port_id)):
        if value is not None and not isinstance(value, str):
            validators.uuid_str(key, value)  # refuses it: an id is a string
    if subnet_id and port_id:
        raise errors.BadRequest(resource="router", msg="Cannot specify both subnet-id and port-id")
    if not subnet_id and not port_id:
        raise errors.BadRequest(resource="router",
                                msg="Either subnet_id or port_id must be specified")
    return subnet_id, port_id


def add(op: Op, router_id: str, body: dict) -> dict:
    s = op.session
    router = get_router(s, op.ctx, router_id)
    require_owner(op.ctx, router, "add_router_interface")
    subnet_id, port_id = _split_body(body)
    if port_id:
        port = get_port(s, op.ctx, port_id)
        # Neutron's _check_router_port: a port attached to a device is in use; its
        # owner label alone is not (a port made on the gateway address has none).
        if port.device_id or router_ports.role_of(s, port.id):
            raise errors.PortInUse(port_id=port.id, net_id=port.network_id,
                                   device_id=port.device_id)
        if not port.fixed_ips:
            raise errors.BadRequest(resource="router",
                                    msg="Router port must have at least one fixed IP")
        subnets = [s.get(m.Subnet, a.subnet_id) for a in port.fixed_ips]
        if len([x for x in subnets if x.ip_version == 4]) > 1:
            raise errors.BadRequest(resource="router",
                                    msg="Cannot have multiple IPv4 subnets on router port")
        _check_overlap(s, router, subnets)
        _make_interface(port, router)
        router_ports.attach(s, router.id, port, INTERFACE)
        sids = [x.id for x in subnets]
        s.flush()
        op.notifier.emit("port.update.end", {"port": views.port(port, op.ctx)})
    else:
        sn = get_subnet(s, op.ctx, subnet_id)
        require_owner(op.ctx, sn, "add_router_interface")
        if not sn.gateway_ip:
            raise errors.BadRequest(resource="router",
                                    msg="Subnet for router interface must have a gateway IP")
        _check_overlap(s, router, [sn])
        port = _v6_port_to_share(s, router, sn)
        if port is not None:
            ports.replace_fixed_ips(
                op, port, sn.network,
                [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]
                + [{"subnet_id": sn.id, "ip_address": sn.gateway_ip}])
            bump(port)
            sids = [a.subnet_id for a in port.fixed_ips]
        else:
            port = ports.build(op, {
                "project_id": sn.project_id,
                "device_owner": INTERFACE,
                "device_id": router.id,
                "fixed_ips": [{"subnet_id": sn.id, "ip_address": sn.gateway_ip}],
                "port_security_enabled": False,
            }, sn.network, notify=False)
            router_ports.attach(s, router.id, port, INTERFACE)
            sids = [sn.id]
    bump(router)
    s.flush()
    info = _info(router, port, sids)
    op.notifier.emit("router.interface.create", {"router_interface": {
        k: info[k] for k in ("id", "project_id", "port_id", "network_id", "subnet_id",
                             "subnet_ids")}})
    return info


def _make_interface(port: m.Port, router: m.Router) -> None:
    """A port added by ``port_id`` becomes what a ``subnet_id`` add builds: the router
    forwards other hosts' traffic through it, so the host's anti-spoofing must not
    hold it to its own addresses (no port security, so no address pairs either)."""
    port.device_id, port.device_owner = router.id, INTERFACE
    port.port_security_enabled = False
    port.allowed_address_pairs = []
    bump(port)


def _v6_port_to_share(s, router: m.Router, sn: m.Subnet) -> m.Port | None:
    if sn.ip_version != 6:
        return None
    for port in router_ports.ports_of(s, router.id, INTERFACE):
        if port.network_id != sn.network_id:
            continue
        versions = {s.get(m.Subnet, a.subnet_id).ip_version for a in port.fixed_ips}
        if versions == {6}:
            return port
    return None


def remove(op: Op, router_id: str, body: dict) -> dict:
    s = op.session
    router = get_router(s, op.ctx, router_id)
    require_owner(op.ctx, router, "remove_router_interface")
    subnet_id, port_id = _split_body(body)
    if port_id:
        port = s.get(m.Port, port_id) if router_ports.role_of(s, port_id) == (
            router.id, INTERFACE) else None
        if port is None:
            raise errors.RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
        removed = [a.subnet_id for a in port.fixed_ips]
    else:
        get_subnet(s, op.ctx, subnet_id)
        port = next((p for p in router_ports.ports_of(s, router.id, INTERFACE)
                     if any(a.subnet_id == subnet_id for a in p.fixed_ips)), None)
        if port is None:
            raise errors.RouterInterfaceNotFoundForSubnet(router_id=router.id,
                                                          subnet_id=subnet_id)
        removed = [subnet_id]
    for sid in removed:
        _check_unused(s, router, sid)
    info = _info(router, port, [a.subnet_id for a in port.fixed_ips]
                 if port_id else removed)
    remaining = [a for a in port.fixed_ips if a.subnet_id not in removed]
    if remaining:
        # Neutron updates the port to the remaining addresses, so a floating IP's
        # address (of another router's floating IP) refuses it as a port update would.
        ports.keep_floating_ip_address(s, port, [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in remaining])
        for alloc in [a for a in port.fixed_ips if a.subnet_id in removed]:
            port.fixed_ips.remove(alloc)
        bump(port)
    else:
        disassociate_floating_ips(s, port.id)
        s.delete(port)
    bump(router)
    s.flush()
    op.notifier.emit("router.interface.delete", {"router_interface": {
        k: info[k] for k in ("id", "project_id", "port_id", "network_id", "subnet_id",
                             "subnet_ids")}})
    return info


def _check_unused(s, router: m.Router, subnet_id: str) -> None:
    sn = s.get(m.Subnet, subnet_id)
    net = ipaddress.ip_network(sn.cidr)
    fips = s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == router.id))
    for fip in fips:
        if fip.fixed_ip_address and ipaddress.ip_address(fip.fixed_ip_address) in net:
            raise errors.RouterInterfaceInUseByFloatingIP(router_id=router.id,
                                                          subnet_id=subnet_id)
    for route in router.routes:
        if ipaddress.ip_address(route["nexthop"]) in net:
            raise errors.RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=subnet_id)
