"""Rows to the dicts Neutron returns, with admin-only attributes hidden from members.

The same view feeds API responses and notification payloads, so both carry the
keys a real Neutron 29 shows for that caller.
"""

from __future__ import annotations

from datetime import datetime

from astara.network_service import attributes as A
from astara.network_service import models as m
from astara.network_service.context import RequestContext


def ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _standard(row, with_name: bool = True) -> dict:
    out = {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "description": row.description,
        "tags": list(row.tags or []),
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "revision_number": row.revision_number,
    }
    if with_name:
        out["name"] = row.name
    return out


def _hide(resource: A.Resource, out: dict, ctx: RequestContext) -> dict:
    if not ctx.is_admin:
        for key, attr in resource.attrs.items():
            if attr.admin_see:
                out.pop(key, None)
    return out


def network(row: m.Network, ctx: RequestContext, created: bool = False) -> dict:
    out = _standard(row)
    out.update({
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "subnets": [s.id for s in row.subnets],
        "shared": row.shared,
        "router:external": row.external,
        "mtu": row.mtu,
        "port_security_enabled": row.port_security_enabled,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "provider:network_type": row.network_type,
        "provider:physical_network": row.physical_network,
        "provider:segmentation_id": row.segmentation_id,
    })
    # Neutron shows is_default on external networks, and on every network it creates.
    if row.external or created:
        out["is_default"] = row.is_default
    return _hide(A.NETWORK, out, ctx)


def subnet(row: m.Subnet, ctx: RequestContext) -> dict:
    out = _standard(row)
    out.update({
        "network_id": row.network_id,
        "ip_version": row.ip_version,
        "cidr": row.cidr,
        "gateway_ip": row.gateway_ip,
        "allocation_pools": list(row.allocation_pools),
        "dns_nameservers": list(row.dns_nameservers),
        "host_routes": list(row.host_routes),
        "enable_dhcp": row.enable_dhcp,
        "ipv6_ra_mode": row.ipv6_ra_mode,
        "ipv6_address_mode": row.ipv6_address_mode,
        "subnetpool_id": None,
        "service_types": [],
        "router:external": row.network.external,
    })
    return out


def fixed_ips(row: m.Port) -> list[dict]:
    return [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in row.fixed_ips]


def port(row: m.Port, ctx: RequestContext) -> dict:
    out = _standard(row)
    bound = bool(row.binding_host_id)
    out.update({
        "network_id": row.network_id,
        "mac_address": row.mac_address,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "device_id": row.device_id,
        "device_owner": row.device_owner,
        "fixed_ips": fixed_ips(row),
        "allowed_address_pairs": [dict(p) for p in row.allowed_address_pairs],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "port_security_enabled": row.port_security_enabled,
        "binding:vnic_type": "normal",
        "binding:host_id": row.binding_host_id,
        "binding:profile": {},
        "binding:vif_type": "bridge" if bound else "unbound",
        "binding:vif_details": {},
    })
    return _hide(A.PORT, out, ctx)


def external_gateway_info(row: m.Router) -> dict | None:
    gw = row.gw_port
    if gw is None:
        return None
    return {
        "network_id": gw.network_id,
        "external_fixed_ips": fixed_ips(gw),
        "enable_snat": row.enable_snat,
    }


def router(row: m.Router, ctx: RequestContext) -> dict:
    out = _standard(row)
    out.update({
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "external_gateway_info": external_gateway_info(row),
        "routes": [dict(r) for r in row.routes],
        "ha": row.ha,
        "distributed": False,
        "flavor_id": None,
        "availability_zone_hints": [],
        "availability_zones": [],
    })
    return _hide(A.ROUTER, out, ctx)


def floatingip(row: m.FloatingIP, ctx: RequestContext) -> dict:
    out = _standard(row, with_name=False)
    p = row.fixed_port
    details = None
    if p is not None:
        details = {
            "name": p.name,
            "network_id": p.network_id,
            "mac_address": p.mac_address,
            "admin_state_up": p.admin_state_up,
            "status": p.status,
            "device_id": p.device_id,
            "device_owner": p.device_owner,
        }
    out.update({
        "floating_ip_address": row.floating_ip_address,
        "floating_network_id": row.floating_network_id,
        "router_id": row.router_id,
        "port_id": row.fixed_port_id,
        "fixed_ip_address": row.fixed_ip_address,
        "status": row.status,
        "port_details": details,
    })
    return out


def byonf(row: m.Byonf, ctx: RequestContext) -> dict:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "function_type": row.function_type,
        "image_uuid": row.image_uuid,
        "flavor_id": row.flavor_id,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
    }


VIEWS = {
    "networks": network,
    "subnets": subnet,
    "ports": port,
    "routers": router,
    "floatingips": floatingip,
    "byonfs": byonf,
}
