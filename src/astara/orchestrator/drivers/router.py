"""The router driver: a router's Neutron model -> its appliance config document.

Pure. Input is the Neutron API's own JSON (router, its ports, their subnets and
networks, floating IPs, the tenant ports to lease addresses to) plus the
appliance's management port; output is a validated ``ApplianceConfig``. Ports of
one network are merged onto one interface (Neutron gives a dual-stack network an
IPv4 port and an IPv6 port).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from astara.common.device_owners import GATEWAY, INTERFACE
from astara.wire.appliance_config import ApplianceConfig


@dataclass(frozen=True)
class RouterModel:
    router: dict
    ports: list[dict]  # the router's interface and gateway ports
    subnets: dict[str, dict]  # by id: every subnet those ports use
    networks: dict[str, dict]  # by id
    floating_ips: list[dict] = field(default_factory=list)
    tenant_ports: list[dict] = field(default_factory=list)  # VM ports on internal networks
    # Equal fingerprints mean equal models (a hash of the API's answer), so the document
    # built from the last one can be kept; None: unknown, build it again.
    fingerprint: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Management:
    mac_address: str
    addresses: tuple[str, ...]  # with prefix, e.g. "fdca::5/64"
    orchestrator_address: str
    metadata_port: int  # of the orchestrator's metadata proxy


def hostname(router_id: str) -> str:
    return f"ak-{router_id}"[:63]


def _addresses(ports: list[dict], subnets: dict[str, dict]) -> list[str]:
    out = []
    for port in ports:
        for fixed in port.get("fixed_ips", []):
            sn = subnets.get(fixed["subnet_id"])
            if sn is not None:
                out.append(f"{fixed['ip_address']}/{ipaddress.ip_network(sn['cidr']).prefixlen}")
    return out


def _subnet(sn: dict) -> dict:
    return {
        "cidr": sn["cidr"],
        "gateway_ip": sn.get("gateway_ip"),
        "dhcp_enabled": bool(sn.get("enable_dhcp", True)),
        "dns_nameservers": list(sn.get("dns_nameservers") or []),
        "host_routes": list(sn.get("host_routes") or []),
        "ipv6_ra_mode": sn.get("ipv6_ra_mode"),
        "ipv6_address_mode": sn.get("ipv6_address_mode"),
    }


def internal_subnets(model: RouterModel) -> dict[str, set[str]]:
    """Internal network id -> the subnets the router has an interface address on: a
    tenant port there with an address on one of them gets an allocation (a lease)."""
    out: dict[str, set[str]] = {}
    for port in model.ports:
        if port.get("device_owner") == INTERFACE:
            out.setdefault(port["network_id"], set()).update(
                f["subnet_id"] for f in port.get("fixed_ips", [])
                if f["subnet_id"] in model.subnets)
    return out


def served_addresses(port: dict, subnet_ids: set[str]) -> list[str]:
    """The port's addresses the router leases (those on ``subnet_ids``)."""
    return [f["ip_address"] for f in port.get("fixed_ips", []) if f["subnet_id"] in subnet_ids]


def _allocations(network_id: str, model: RouterModel, subnet_ids: set[str]) -> list[dict]:
    out = []
    for port in sorted(model.tenant_ports, key=lambda p: p["id"]):
        if port.get("network_id") != network_id:
            continue
        ips = served_addresses(port, subnet_ids)
        if not ips:
            continue
        first = ips[0].replace(".", "-").replace(":", "-")
        out.append({"mac_address": port["mac_address"], "ip_addresses": ips,
                    "hostname": f"host-{first}"})
    return out


def _network(kind: str, network_id: str, ports: list[dict], model: RouterModel) -> dict:
    ports = sorted(ports, key=lambda p: p["id"])
    subnet_ids = sorted({f["subnet_id"] for p in ports for f in p.get("fixed_ips", [])
                         if f["subnet_id"] in model.subnets})
    net = model.networks.get(network_id, {})
    doc = {
        "network_id": network_id,
        "network_type": kind,
        "interface": {"mac_address": ports[0]["mac_address"],
                      "addresses": _addresses(ports, model.subnets),
                      "mtu": int(net.get("mtu") or 1500)},
        "subnets": [_subnet(model.subnets[s]) for s in subnet_ids],
    }
    if kind == "internal":
        doc["allocations"] = _allocations(network_id, model, set(subnet_ids))
    return doc


def build(model: RouterModel, mgmt: Management) -> ApplianceConfig:
    router = model.router
    by_network: dict[str, list[dict]] = {}
    gateway_ports = []
    for port in model.ports:
        if port.get("device_owner") == GATEWAY:
            gateway_ports.append(port)
        elif port.get("device_owner") == INTERFACE:
            by_network.setdefault(port["network_id"], []).append(port)
    networks = [{
        "network_id": "management",
        "network_type": "management",
        "interface": {"mac_address": mgmt.mac_address, "addresses": list(mgmt.addresses)},
    }]
    v4_gw = v6_gw = None
    if gateway_ports:
        ext = _network("external", gateway_ports[0]["network_id"], gateway_ports, model)
        networks.append(ext)
        for sn in ext["subnets"]:
            gw = sn.get("gateway_ip")
            if gw and ipaddress.ip_address(gw).version == 4:
                v4_gw = v4_gw or gw
            elif gw:
                v6_gw = v6_gw or gw
    for network_id in sorted(by_network):
        networks.append(_network("internal", network_id, by_network[network_id], model))
    fips = []
    if gateway_ports:
        for fip in sorted(model.floating_ips, key=lambda f: f["floating_ip_address"]):
            if fip.get("router_id") == router["id"] and fip.get("fixed_ip_address"):
                fips.append({"floating_ip": fip["floating_ip_address"],
                             "fixed_ip": fip["fixed_ip_address"]})
    return ApplianceConfig.model_validate({
        "version": "1",
        "hostname": hostname(router["id"]),
        "tenant_id": router.get("project_id") or router.get("tenant_id") or "none",
        "networks": networks,
        "default_v4_gateway": v4_gw,
        "default_v6_gateway": v6_gw,
        "routes": [dict(r) for r in router.get("routes") or []],
        "floating_ips": fips,
        "enable_snat": (router.get("external_gateway_info") or {}).get("enable_snat", True),
        "orchestrator": {"address": mgmt.orchestrator_address,
                         "metadata_port": mgmt.metadata_port},
    })
